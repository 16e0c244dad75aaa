"""Sequences → the model's token ids, the way the model's own tokenizer gives them.

The conventions handled (found from the vocabulary, then checked against the tokenizer):
- `kmer` (DNABERT): every letters-only token is an ACGT k-mer of one length k; the model
  reads overlapping k-mers as space-separated words. Ids come from seqray's k-mer kernel
  mapped through the vocabulary (a k-mer holding another letter is the unknown token);
  a tokenizer that disagrees with its own vocabulary (upper-case k-mers lower-cased by
  `do_lower_case`, say) is refused rather than fed garbage.
- `chars` (ESM-2, HyenaDNA-style) and `spaced-chars` (ProtBERT: residues separated by
  spaces): every letters-only token is one letter; each byte maps through a 256-entry
  table (a letter outside the vocabulary is one unknown token, where a tokenizer might
  merge a run of them into one).
- `text` (Nucleotide Transformer's 6-mers, BPE models): the sequence as a string through
  the tokenizer itself (a batch call).
The special tokens the tokenizer wraps a sequence in (e.g. [CLS] … [SEP], <cls> … <eos>)
are found by tokenizing a probe with and without them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import ConfigError, InputError

PROBE = "ACGTTGCAACGTNACGGTCCATGA"
# model types whose positions start after the padding id (RoBERTa's convention)
PADDED_POSITIONS = ("esm", "roberta", "xlm-roberta", "camembert")


@dataclass
class Tokens:
    """Content tokens (no specials) of n sequences: flat ids with offsets."""

    ids: np.ndarray  # int64
    offsets: np.ndarray  # int64[n + 1]


class SequenceEncoder:
    """Turns upper-case sequences into content token ids; knows the special tokens around
    them and the padding id."""

    def __init__(self, tokenizer: Any, path: str = ""):
        self.tokenizer = tokenizer
        self.path = path
        # a fast tokenizer resets its padding/truncation state on every call: calls from
        # the pipeline's threads must not overlap ("Already borrowed")
        self._lock = threading.Lock()
        vocab: dict[str, int] = tokenizer.get_vocab()
        self.vocab = vocab
        specials = set(tokenizer.all_special_tokens)
        words = [t for t in vocab if t not in specials and t.isalpha()]
        self.unk_id = tokenizer.unk_token_id
        self.pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
        self.k = 0
        self._lut: np.ndarray | None = None
        lengths = {len(w) for w in words}
        if words and len(lengths) == 1 and set("".join(words)) <= set("ACGT"):
            self.k = lengths.pop()
        if self.k > 1:
            from ...tokenize.schemes import KmerTokenizer

            self.convention = "kmer"
            self._lut = self._kmer_table()
            self._kmers = KmerTokenizer(k=self.k, add_special_tokens=False)
            probe = PROBE
            if self._fast([probe]) != self._hf([probe]):
                raise InputError(
                    f"{path}: the tokenizer does not give its own vocabulary's ids for "
                    "space-separated k-mers (is do_lower_case set for an upper-case k-mer "
                    "vocabulary?)"
                )
        elif words and lengths == {1}:
            self._lut = self._char_table(words)
            probe = "".join(sorted(words))
            self.convention = "chars"
            if self._fast([probe]) != self._hf([probe]):
                self.convention = "spaced-chars"
                if self._fast([probe]) != self._hf([probe]):
                    self.convention, self._lut = "text", None
        else:
            self.convention = "text"
            probe = PROBE
        self.prefix, self.suffix = self._specials(probe)

    # -- the text the tokenizer itself is given, for each convention ----------------------
    def text(self, seq: str) -> str:
        if self.convention == "kmer":
            k = self.k
            return " ".join(seq[i : i + k] for i in range(len(seq) - k + 1))
        if self.convention == "spaced-chars":
            return " ".join(seq)
        return seq

    def _hf(self, seqs: list[str], special: bool = False) -> list[list[int]]:
        texts = [self.text(s) for s in seqs]
        with self._lock:
            out = self.tokenizer(texts, add_special_tokens=special, verbose=False)["input_ids"]
        return [list(map(int, ids)) for ids in out]

    def _fast(self, seqs: list[str]) -> list[list[int]]:
        data = [s.encode() for s in seqs]
        values = np.frombuffer(b"".join(data), np.uint8)
        offsets = np.zeros(len(data) + 1, np.int64)
        np.cumsum([len(d) for d in data], out=offsets[1:])
        t = self.encode(values, offsets)
        return [t.ids[a:b].tolist() for a, b in zip(t.offsets[:-1], t.offsets[1:])]

    def _kmer_table(self) -> np.ndarray:
        """seqray's DNABERT ids (5 + k-mer index, [UNK] = 1) → the model's ids."""
        from ...tokenize.vocab import kmers

        if self.k > 8:
            raise ConfigError(f"{self.path}: k-mer vocabularies beyond k = 8 are not supported")
        unk = self.unk_id if self.unk_id is not None else 0
        table = np.full(5 + 4**self.k, unk, np.int64)
        table[5:] = [self.vocab.get(w, unk) for w in kmers(self.k)]
        return table

    def _char_table(self, words: list[str]) -> np.ndarray:
        unk = self.unk_id if self.unk_id is not None else 0
        table = np.full(256, unk, np.int64)
        for w in words:
            if ord(w) < 256:
                table[ord(w)] = self.vocab[w]
        return table

    def _specials(self, probe: str) -> tuple[np.ndarray, np.ndarray]:
        """The ids the tokenizer puts before and after a sequence's own."""
        bare = self._hf([probe])[0]
        full = self._hf([probe], special=True)[0]
        for i in range(len(full) - len(bare) + 1):
            if full[i : i + len(bare)] == bare:
                return np.array(full[:i], np.int64), np.array(full[i + len(bare) :], np.int64)
        raise InputError(f"{self.path}: cannot tell which special tokens the tokenizer adds")

    def encode(self, values: np.ndarray, offsets: np.ndarray) -> Tokens:
        """Content token ids of the sequences in (values, offsets) (bytes + offsets)."""
        if self.convention == "kmer":
            enc = self._kmers.tokenize(values, offsets)
            assert self._lut is not None
            return Tokens(self._lut[enc.ids], np.asarray(enc.offsets, np.int64))
        if self._lut is not None:
            return Tokens(self._lut[values], np.asarray(offsets, np.int64))
        data = values.tobytes()
        seqs = [data[a:b].decode("latin-1") for a, b in zip(offsets[:-1], offsets[1:])]
        lists = self._hf(seqs) if seqs else []
        lengths = np.fromiter((len(x) for x in lists), np.int64, len(lists))
        out = np.zeros(len(lists) + 1, np.int64)
        np.cumsum(lengths, out=out[1:])
        ids = np.fromiter((i for x in lists for i in x), np.int64, int(out[-1]))
        return Tokens(ids, out)

    def limit(self, config: Any) -> int:
        """The most tokens (specials included) the model takes in one window: its position
        table (less the padding offset of RoBERTa-style models), and the tokenizer's
        model_max_length where that is a real limit."""
        limits = []
        mpe = getattr(config, "max_position_embeddings", None)
        if mpe:
            if getattr(config, "model_type", "") in PADDED_POSITIONS:
                mpe -= self.pad_id + 1
            limits.append(int(mpe))
        tml = getattr(self.tokenizer, "model_max_length", None)
        if tml and tml < 10**7:
            limits.append(int(tml))
        return min(limits) if limits else 512
