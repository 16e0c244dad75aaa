"""Tokenizer objects: one per scheme, each turning a column of reads into rows of token ids.

Every tokenizer works on whole Arrow columns (zero-copy NumPy views, Numba kernels), so it
can be used as-is inside `ray.data.Dataset.map_batches(tok, batch_format="pyarrow")`:
`tok(batch)` returns a table with the read identity (`source`, `record` where the batch has
them, else `read`, the row index), `window`, `offset` (base offset of the row's first
token in its read), `input_ids` (`list<int32>`) and, when padding, `attention_mask`
(`list<int8>`). Paired batches (`seq2`) add `mate` (1 or 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pyarrow as pa

from ..errors import ConfigError
from ..io.buffers import values_offsets
from ..io.schema import RECORD, SEQ, SEQ2, SOURCE, numeric_array
from . import kernels
from .vocab import (
    DNABERT_ORDER,
    Vocab,
    byte_table,
    digit_table,
    dnabert_vocab,
    hyena_vocab,
    nt_vocab,
    protein_groups,
    protein_vocab,
    specials_vocab,
)
from .windows import Rows, check_window_options, make_rows

if TYPE_CHECKING:
    from ..io.writers import WrittenFile


@dataclass
class Encoded:
    """The tokens of a batch of reads, before windows: flat ids with per-read offsets.
    `starts` holds each token's base offset in its read; None means token j of a read starts
    at j * step bases."""

    ids: np.ndarray  # int32
    offsets: np.ndarray  # int64[n_reads + 1]
    starts: np.ndarray | None = None
    step: int = 1

    def first_bases(self, rows: Rows) -> np.ndarray:
        """Base offset of each row's first token (0 for a row with no tokens)."""
        if self.starts is None:
            return rows.first_token * self.step
        idx = self.offsets[rows.read] + rows.first_token
        has = idx < self.offsets[rows.read + 1]
        out = np.zeros(len(idx), dtype=np.int64)
        out[has] = self.starts[idx[has]]
        return out


def list_array(offsets: np.ndarray, values: np.ndarray, value_type: pa.DataType) -> pa.Array:
    """list<value_type> over NumPy offsets (int64, checked to fit list's int32) and values."""
    if len(offsets) and offsets[-1] > np.iinfo(np.int32).max:
        raise ConfigError("a batch holds more than 2^31 token ids; lower run.block_bases")
    child = numeric_array(values)
    buf = pa.py_buffer(np.ascontiguousarray(offsets, dtype=np.int32))
    return pa.Array.from_buffers(
        pa.list_(value_type), len(offsets) - 1, [None, buf], children=[child]
    )


def _column(data: Any, name: str = SEQ) -> pa.Array | pa.ChunkedArray:
    if isinstance(data, pa.Table | pa.RecordBatch):
        return data.column(name)
    if isinstance(data, pa.Array | pa.ChunkedArray):
        return data
    return pa.array([s.encode() if isinstance(s, str) else s for s in data], pa.large_binary())


class Tokenizer:
    """Base of the schemes: the shared rows/windows/table logic.

    add_special_tokens: wrap each row in the scheme's [CLS]/[SEP] (those the model uses);
    max_length: at most this many ids a row, specials included; longer reads become windows
    overlapping by `overlap` tokens, or with `truncate` keep their first window only;
    padding: pad rows to max_length with [PAD] and add an attention mask."""

    scheme: ClassVar[str]
    vocab: Vocab  # each scheme sets it before Tokenizer.__init__, which reads special ids
    step: int = 1

    def __init__(
        self,
        *,
        add_special_tokens: bool = True,
        max_length: int | None = None,
        overlap: int = 0,
        truncate: bool = False,
        padding: bool = False,
    ):
        self.add_special_tokens = add_special_tokens
        self.max_length, self.overlap = max_length, overlap
        self.truncate, self.padding = truncate, padding
        nspec = (self.cls_id >= 0) + (self.sep_id >= 0)
        msg = check_window_options(max_length, overlap, truncate, padding, nspec)
        if msg:
            raise ConfigError(f"tokenize: {msg}")

    # -- ids of the roles; -1 where the scheme has none or specials are off ----------------
    @property
    def pad_id(self) -> int:
        return self.vocab.id(self.vocab.pad)

    @property
    def unk_id(self) -> int:
        return self.vocab.id(self.vocab.unk)

    @property
    def cls_id(self) -> int:
        return self.vocab.id(self.vocab.cls) if self.add_special_tokens else -1

    @property
    def sep_id(self) -> int:
        return self.vocab.id(self.vocab.sep) if self.add_special_tokens else -1

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def special_ids(self) -> list[int]:
        return [self.vocab.id(t) for t in self.vocab.specials]

    def settings(self) -> dict:
        """The scheme's own options (what `make_tokenizer` takes besides the row options)."""
        return {}

    def tokenize(self, values: np.ndarray, offsets: np.ndarray) -> Encoded:
        raise NotImplementedError

    def hf_text(self, seq: str) -> str:
        """The text a Hugging Face tokenizer exported from this one takes for `seq`."""
        return seq

    # -- the public API ---------------------------------------------------------------------
    def encode(self, seq: str | bytes) -> list[int]:
        """Ids of one whole sequence (specials as set, no windows): for checks and REPL use."""
        enc = self.tokenize(*values_offsets(_column([seq])))
        rows = make_rows(
            enc.ids,
            enc.offsets,
            max_length=None,
            overlap=0,
            truncate=False,
            padding=False,
            cls=self.cls_id,
            sep=self.sep_id,
            pad=self.pad_id,
        )
        return rows.ids.tolist()

    def rows(self, enc: Encoded) -> Rows:
        return make_rows(
            enc.ids,
            enc.offsets,
            max_length=self.max_length,
            overlap=self.overlap,
            truncate=self.truncate,
            padding=self.padding,
            cls=self.cls_id,
            sep=self.sep_id,
            pad=self.pad_id,
        )

    def output_fields(self, identity: list[pa.Field], paired: bool) -> list[pa.Field]:
        fields = list(identity)
        if paired:
            fields.append(pa.field("mate", pa.int8(), nullable=False))
        fields += [
            pa.field("window", pa.int32(), nullable=False),
            pa.field("offset", pa.int64(), nullable=False),
            pa.field("input_ids", pa.list_(pa.int32()), nullable=False),
        ]
        if self.padding and self.max_length is not None:
            fields.append(pa.field("attention_mask", pa.list_(pa.int8()), nullable=False))
        return fields

    def encode_batch(self, data: Any, stats: Any = None) -> pa.Table:
        """Rows of token ids for a table (its `seq`, and `seq2` for pairs), a binary/string
        column, or a list of str; `stats` (a TokenStats) is updated when given."""
        table = data if isinstance(data, pa.Table | pa.RecordBatch) else None
        mates = [SEQ, SEQ2] if table is not None and SEQ2 in table.column_names else [SEQ]
        parts = []
        for m, name in enumerate(mates):
            enc = self.tokenize(*values_offsets(_column(data, name)))
            rows = self.rows(enc)
            if stats is not None:
                stats.add(enc, rows, self)
            parts.append((m + 1, enc, rows))
        if table is not None and SOURCE in table.column_names and RECORD in table.column_names:
            identity = [table.schema.field(SOURCE), table.schema.field(RECORD)]
        else:
            identity = [pa.field("read", pa.int64(), nullable=False)]
        schema = pa.schema(self.output_fields(identity, len(mates) > 1))
        if len(parts) == 1:
            return self._table(schema, table, *parts[0], paired=False)
        # pairs: rows ordered by (read, mate, window)
        t = pa.concat_tables([self._table(schema, table, *p, paired=True) for p in parts])
        reads = np.concatenate([p[2].read for p in parts])
        key = reads * 2 + np.repeat([0, 1], [len(parts[0][2].read), len(parts[1][2].read)])
        return t.take(numeric_array(np.argsort(key, kind="stable")))

    def _table(self, schema, table, mate: int, enc: Encoded, rows: Rows, paired: bool):
        idx = numeric_array(rows.read)
        cols: list[pa.Array] = []
        if schema.names[0] == SOURCE:
            cols += [table.column(SOURCE).take(idx), table.column(RECORD).take(idx)]
        else:
            cols.append(idx)
        if paired:
            cols.append(numeric_array(np.full(len(rows.read), mate, dtype=np.int8)))
        cols += [
            numeric_array(rows.window),
            numeric_array(enc.first_bases(rows)),
            list_array(rows.offsets, rows.ids, pa.int32()),
        ]
        if rows.mask is not None:
            cols.append(list_array(rows.offsets, rows.mask, pa.int8()))
        return pa.Table.from_arrays(cols, schema=schema)

    def __call__(self, batch: pa.Table) -> pa.Table:
        return self.encode_batch(batch)

    def export(self, directory: str) -> list[WrittenFile]:
        """Writes a Hugging Face tokenizer directory (see seqray.tokenize.hf_export)."""
        from .hf_export import export_tokenizer

        return export_tokenizer(self, directory)

    def __repr__(self) -> str:
        opts = {**self.settings(), "add_special_tokens": self.add_special_tokens}
        if self.max_length is not None:
            opts.update(max_length=self.max_length, overlap=self.overlap)
            opts.update(truncate=self.truncate, padding=self.padding)
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in opts.items())})"


def _window_codes(values, offsets, k: int, canonical: bool, table: np.ndarray | None):
    from ..kmers.encode import ACGT, window_codes

    return window_codes(
        values, offsets, k, canonical=canonical, table=ACGT if table is None else table
    )


class KmerTokenizer(Tokenizer):
    """DNABERT: overlapping k-mers every `stride` bases; a k-mer holding N is [UNK]."""

    scheme = "kmer"

    def __init__(self, k: int = 6, stride: int = 1, **rows: Any):
        if not 1 <= k <= 8:
            raise ConfigError("tokenize: kmer needs 1 <= k <= 8 (use scheme hashed beyond)")
        if stride < 1:
            raise ConfigError("tokenize: stride must be at least 1")
        self.k, self.stride, self.step = k, stride, stride
        self.vocab = dnabert_vocab(k)
        self._digits = digit_table(DNABERT_ORDER)
        super().__init__(**rows)

    def settings(self) -> dict:
        return {"k": self.k, "stride": self.stride}

    def tokenize(self, values, offsets) -> Encoded:
        codes, valid, woff = _window_codes(values, offsets, self.k, False, self._digits)
        ids, toff = kernels.kmer_ids(codes, valid, woff, self.stride, 5, self.unk_id, 0)
        return Encoded(ids, toff, None, self.stride)

    def hf_text(self, seq: str) -> str:
        k, s = self.k, self.stride
        return " ".join(seq[i : i + k] for i in range(0, len(seq) - k + 1, s))


class HashedTokenizer(Tokenizer):
    """k-mers (k ≤ 32) whose id is 5 + the (canonical) 2-bit code, or, with `buckets`,
    5 + a 64-bit mix of the code mod `buckets`: vocabularies too large to enumerate."""

    scheme = "hashed"

    def __init__(
        self,
        k: int = 21,
        stride: int = 1,
        canonical: bool = True,
        buckets: int | None = None,
        **rows: Any,
    ):
        if not 1 <= k <= 32:
            raise ConfigError("tokenize: hashed needs 1 <= k <= 32")
        if stride < 1:
            raise ConfigError("tokenize: stride must be at least 1")
        if buckets is None and k > 15:
            raise ConfigError(
                f"tokenize: k = {k} codes do not fit int32 ids; set buckets (e.g. 2^24)"
            )
        if buckets is not None and not 1 <= buckets <= 2**31 - 6:
            raise ConfigError("tokenize: buckets must be between 1 and 2^31 - 6")
        self.k, self.stride, self.step = k, stride, stride
        self.canonical, self.buckets = canonical, buckets
        self.vocab = specials_vocab()  # k-mer ids are computed, not listed
        super().__init__(**rows)

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


class NT6Tokenizer(Tokenizer):
    """Nucleotide Transformer: non-overlapping 6-mers left to right, the sequence split at
    N; leftovers shorter than 6 and each N are one-base tokens. Only <cls> is added."""

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


class _ByteTokenizer(Tokenizer):
    """One token per byte through a 256-entry table."""

    _lut: np.ndarray

    def tokenize(self, values, offsets) -> Encoded:
        return Encoded(self._lut[values], offsets)


class CharTokenizer(_ByteTokenizer):
    """HyenaDNA: one token per base (A C G T N); HyenaDNA appends [SEP], adds no [CLS]."""

    scheme = "char"

    def __init__(self, **rows: Any):
        self.vocab = hyena_vocab()
        self._lut = byte_table(self.vocab, {c: c for c in "ACGTN"}, self.vocab.id("[UNK]"))
        super().__init__(**rows)

    @property
    def cls_id(self) -> int:
        return -1


class ProteinTokenizer(_ByteTokenizer):
    """ProtBERT: one token per residue (20 amino acids and X/U/B/Z/O); a reduced alphabet
    (murphy10, murphy15) maps each residue to its group's letter. Others are [UNK]."""

    scheme = "protein"

    def __init__(self, alphabet: str = "full", **rows: Any):
        if alphabet not in ("full", "murphy10", "murphy15"):
            raise ConfigError("tokenize: protein alphabet must be full, murphy10 or murphy15")
        self.alphabet = alphabet
        self.vocab = protein_vocab(alphabet)
        self.groups = protein_groups(alphabet)
        self._lut = byte_table(self.vocab, self.groups, self.vocab.id("[UNK]"))
        super().__init__(**rows)

    def settings(self) -> dict:
        return {"alphabet": self.alphabet}

    def hf_text(self, seq: str) -> str:
        return " ".join(seq)


SCHEMES: dict[str, type[Tokenizer]] = {
    "kmer": KmerTokenizer,
    "hashed": HashedTokenizer,
    "nt6": NT6Tokenizer,
    "char": CharTokenizer,
    "protein": ProteinTokenizer,
}


def make_tokenizer(scheme: str, **options: Any) -> Tokenizer:
    """A tokenizer by scheme name; `bpe` needs `tokenizer` (a trained tokenizers.Tokenizer,
    its JSON, or a directory saved by seqray) — see seqray.tokenize.bpe."""
    if scheme == "bpe":
        from .bpe import BPETokenizer

        return BPETokenizer.load(**options)
    if scheme not in SCHEMES:
        raise ConfigError(
            f"tokenize: unknown scheme {scheme!r}; one of {sorted([*SCHEMES, 'bpe'])}"
        )
    return SCHEMES[scheme](**options)
