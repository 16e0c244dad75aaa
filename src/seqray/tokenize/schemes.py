"""The built-in schemes: DNABERT k-mers, hashed k-mers, Nucleotide-Transformer 6-mers,
HyenaDNA characters and ProtBERT residues (BPE: seqray.tokenize.bpe). Each declares its
config keys and checks them, and builds its own Hugging Face export (`hf_tokenizer`) for
the input its model's users give (`hf_text`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from . import kernels
from .base import Encoded, Tokenizer
from .hf_export import word_level
from .registry import make_tokenizer, register
from .vocab import (
    DNABERT_ORDER,
    PROTEIN_ALPHABETS,
    byte_table,
    digit_table,
    dnabert_vocab,
    hyena_vocab,
    kmers,
    nt_vocab,
    protein_groups,
    protein_vocab,
    specials_vocab,
)

if TYPE_CHECKING:
    from tokenizers import Tokenizer as HFTokenizer

# `make_tokenizer` and `Encoded` are found here too (their home before the registry)
__all__ = [
    "CharTokenizer",
    "Encoded",
    "HashedTokenizer",
    "KmerTokenizer",
    "NT6Tokenizer",
    "ProteinTokenizer",
    "make_tokenizer",
]

MAX_HASHED_KMERS = 2**20  # the most k-mers a hashed export lists (k <= 10)


def _window_codes(values, offsets, k: int, canonical: bool, table: np.ndarray | None):
    from ..kmers.encode import ACGT, window_codes

    return window_codes(
        values, offsets, k, canonical=canonical, table=ACGT if table is None else table
    )


@register
class KmerTokenizer(Tokenizer):
    """DNABERT: overlapping k-mers every `stride` bases; a k-mer holding N is [UNK].
    Exported for space-separated k-mers, as DNABERT's users feed it ("ATGCAT TGCATG ...")."""

    scheme = "kmer"
    options = ("k", "stride")

    def __init__(self, k: int = 6, stride: int = 1, **rows: Any):
        self.check_options(k=k, stride=stride)
        self.k, self.stride, self.step = k, stride, stride
        self.vocab = dnabert_vocab(k)
        self._digits = digit_table(DNABERT_ORDER)
        super().__init__(**rows)

    @classmethod
    def check_option(cls, key: str, value: Any) -> str | None:
        if key == "k" and not 1 <= value <= 8:
            return "kmer needs 1 <= k <= 8 (use scheme hashed beyond)"
        return _check_stride(key, value)

    def settings(self) -> dict:
        return {"k": self.k, "stride": self.stride}

    def tokenize(self, values, offsets) -> Encoded:
        codes, valid, woff = _window_codes(values, offsets, self.k, False, self._digits)
        ids, toff = kernels.kmer_ids(codes, valid, woff, self.stride, 5, self.unk_id, 0)
        return Encoded(ids, toff, None, self.stride)

    def hf_text(self, seq: str) -> str:
        k, s = self.k, self.stride
        return " ".join(seq[i : i + k] for i in range(0, len(seq) - k + 1, s))

    def hf_tokenizer(self) -> HFTokenizer:
        from tokenizers import pre_tokenizers

        return word_level(self.vocab, pre_tokenizers.WhitespaceSplit())


def _check_stride(key: str, value: Any) -> str | None:
    return "stride must be at least 1" if key == "stride" and value < 1 else None


@register
class HashedTokenizer(Tokenizer):
    """k-mers (k ≤ 32) whose id is 5 + the (canonical) 2-bit code, or, with `buckets`,
    5 + a 64-bit mix of the code mod `buckets`: vocabularies too large to enumerate.
    Exported like kmer, only where its k-mers can be listed (4^k ≤ 2^20): Hugging Face
    tokenizers cannot compute the hash."""

    scheme = "hashed"
    options = ("k", "stride", "canonical", "buckets")

    def __init__(
        self,
        k: int = 21,
        stride: int = 1,
        canonical: bool = True,
        buckets: int | None = None,
        **rows: Any,
    ):
        self.check_options(k=k, stride=stride)
        if buckets is None and k > 15:
            raise ConfigError(
                f"tokenize: k = {k} codes do not fit int32 ids; set buckets (e.g. 2^24)"
            )
        self.check_options(buckets=buckets)
        self.k, self.stride, self.step = k, stride, stride
        self.canonical, self.buckets = canonical, buckets
        self.vocab = specials_vocab()  # k-mer ids are computed, not listed
        super().__init__(**rows)

    @classmethod
    def check_option(cls, key: str, value: Any) -> str | None:
        if key == "k" and not 1 <= value <= 32:
            return "hashed needs 1 <= k <= 32"
        if key == "buckets" and value is not None and not 1 <= value <= 2**31 - 6:
            return "buckets must be between 1 and 2^31 - 6"
        return _check_stride(key, value)

    @property
    def vocab_size(self) -> int:
        return 5 + (self.buckets if self.buckets is not None else 4**self.k)

    def settings(self) -> dict:
        return {
            "k": self.k,
            "stride": self.stride,
            "canonical": self.canonical,
            "buckets": self.buckets,
        }

    def tokenize(self, values, offsets) -> Encoded:
        codes, valid, woff = _window_codes(values, offsets, self.k, self.canonical, None)
        ids, toff = kernels.kmer_ids(
            codes, valid, woff, self.stride, 5, self.unk_id, self.buckets or 0
        )
        return Encoded(ids, toff, None, self.stride)

    hf_text = KmerTokenizer.hf_text
    hf_tokenizer = KmerTokenizer.hf_tokenizer

    def hf_json(self) -> dict:
        # several k-mers share an id (reverse complements, buckets): the tokenizers
        # serialiser keeps one k-mer per id, so the word → id map is written here
        if 4**self.k > MAX_HASHED_KMERS:
            raise ConfigError(
                f"hashed k = {self.k}: 4^k k-mers are too many to list in a Hugging Face "
                f"vocabulary (at most k = 10); Hugging Face tokenizers cannot compute the hash"
            )
        data = super().hf_json()
        words = kmers(self.k, DNABERT_ORDER)
        enc = self.tokenize(
            np.frombuffer("".join(words).encode(), np.uint8),
            np.arange(len(words) + 1, dtype=np.int64) * self.k,
        )
        v = self.vocab
        listed = dict(zip(words, enc.ids.tolist()))
        data["model"]["vocab"] = {**{t: v.id(t) for t in v.tokens}, **listed}
        return data


@register
class NT6Tokenizer(Tokenizer):
    """Nucleotide Transformer: non-overlapping 6-mers left to right, the sequence split at
    N; leftovers shorter than 6 and each N are one-base tokens. Only <cls> is added.
    Exported for the raw sequence (a regex pre-tokenizer reproduces the splitting)."""

    scheme = "nt6"

    def __init__(self, **rows: Any):
        self.vocab = nt_vocab()
        self._digits = digit_table(DNABERT_ORDER)
        self._singles = byte_table(self.vocab, {c: c for c in "ATCGN"}, self.vocab.id("<unk>"))
        super().__init__(**rows)

    def tokenize(self, values, offsets) -> Encoded:
        ids, toff, starts = kernels.nt6_encode(
            values, offsets, self._digits, self._singles, self.vocab.id("AAAAAA")
        )
        return Encoded(ids, toff, starts)

    def hf_tokenizer(self) -> HFTokenizer:
        from tokenizers import Regex, pre_tokenizers

        split = pre_tokenizers.Split(Regex("[ACGT]{6}|."), behavior="isolated")
        return word_level(self.vocab, split)


class _ByteTokenizer(Tokenizer):
    """One token per byte through a 256-entry table."""

    _lut: np.ndarray

    def tokenize(self, values, offsets) -> Encoded:
        return Encoded(self._lut[values], offsets)


@register
class CharTokenizer(_ByteTokenizer):
    """HyenaDNA: one token per base (A C G T N); HyenaDNA appends [SEP], adds no [CLS].
    Exported for the raw sequence."""

    scheme = "char"

    def __init__(self, **rows: Any):
        self.vocab = hyena_vocab()
        self._lut = byte_table(self.vocab, {c: c for c in "ACGTN"}, self.vocab.id("[UNK]"))
        super().__init__(**rows)

    @property
    def cls_id(self) -> int:
        return -1

    def hf_tokenizer(self) -> HFTokenizer:
        from tokenizers import Regex, pre_tokenizers

        return word_level(self.vocab, pre_tokenizers.Split(Regex("."), behavior="isolated"))


@register
class ProteinTokenizer(_ByteTokenizer):
    """ProtBERT: one token per residue (20 amino acids and X/U/B/Z/O); a reduced alphabet
    (murphy10, murphy15) maps each residue to its group's letter. Others are [UNK].
    Exported for residues separated by spaces, as ProtBERT's users feed it ("M K T ..."); a
    reduced alphabet maps residues with a normaliser."""

    scheme = "protein"
    options = ("alphabet",)
    read_alphabet = "protein"

    def __init__(self, alphabet: str = "full", **rows: Any):
        self.check_options(alphabet=alphabet)
        self.alphabet = alphabet
        self.vocab = protein_vocab(alphabet)
        self.groups = protein_groups(alphabet)
        self._lut = byte_table(self.vocab, self.groups, self.vocab.id("[UNK]"))
        super().__init__(**rows)

    @classmethod
    def check_option(cls, key: str, value: Any) -> str | None:
        if key == "alphabet" and value not in PROTEIN_ALPHABETS:
            return "protein alphabet must be full, murphy10 or murphy15"
        return None

    def settings(self) -> dict:
        return {"alphabet": self.alphabet}

    def hf_text(self, seq: str) -> str:
        return " ".join(seq)

    def hf_tokenizer(self) -> HFTokenizer:
        from tokenizers import normalizers, pre_tokenizers

        hf = word_level(self.vocab, pre_tokenizers.WhitespaceSplit())
        if self.alphabet != "full":
            hf.normalizer = normalizers.Sequence(
                [normalizers.Replace(a, b) for a, b in sorted(self.groups.items()) if a != b]
            )
        return hf
