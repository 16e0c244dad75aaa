"""The base of every tokenizer scheme: a column of reads in, rows of token ids out.

Every tokenizer works on whole Arrow columns (zero-copy NumPy views, Numba kernels), so it
can be used as-is inside `ray.data.Dataset.map_batches(tok, batch_format="pyarrow")`:
`tok(batch)` returns a table with the read identity (`source`, `record` where the batch has
them, else `read`, the row index), `window`, `offset` (base offset of the row's first
token in its read), `input_ids` (`list<int32>`) and, when padding, `attention_mask`
(`list<int8>`). Paired batches (`seq2`) add `mate` (1 or 2).

A scheme subclasses `Tokenizer` (its token ids: `tokenize`; its config keys and their
checks; its Hugging Face export) and registers itself (seqray.tokenize.registry).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pyarrow as pa

from ..errors import ConfigError
from ..io.buffers import values_offsets
from ..io.schema import RECORD, SEQ, SEQ2, SOURCE, numeric_array
from . import hf_export
from .vocab import Vocab
from .windows import Rows, check_window_options, make_rows

if TYPE_CHECKING:
    from tokenizers import Tokenizer as HFTokenizer

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
    """Base of the schemes: the shared rows/windows/table logic, and what a scheme declares.

    The row options, which every scheme takes:
    add_special_tokens: wrap each row in the scheme's [CLS]/[SEP] (those the model uses);
    max_length: at most this many ids a row, specials included; longer reads become windows
    overlapping by `overlap` tokens, or with `truncate` keep their first window only;
    padding: pad rows to max_length with [PAD] and add an attention mask."""

    scheme: ClassVar[str]  # its name in the registry, configs and the CLI
    # the `tokenize` stage config keys its constructor takes (an unset key: its default)
    options: ClassVar[tuple[str, ...]] = ()
    # learns its vocabulary from the reads: the `tokenize` stage trains it (`train`, with
    # the config keys `train_options`) on a sample of them in a prepare pass, unless the
    # config names a trained one (`tokenizer`). Its constructor then takes the model as
    # `tokenizer` (what `train` returned) or `path` (a saved directory or tokenizer.json).
    trains: ClassVar[bool] = False
    train_options: ClassVar[tuple[str, ...]] = ()
    read_alphabet: ClassVar[str] = "dna"  # what its reads are (the `read` stage's alphabet)

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

    # -- what a scheme defines --------------------------------------------------------------
    @classmethod
    def check_option(cls, key: str, value: Any) -> str | None:
        """What is wrong with the value of one of its `options` (None: nothing), checked
        alone so that the error names the key; the constructor checks the combination."""
        return None

    @classmethod
    def check_options(cls, **values: Any) -> None:
        """Raises the ConfigError of the first bad value (naming its key), for constructors."""
        for key, value in values.items():
            msg = cls.check_option(key, value)
            if msg:
                raise ConfigError(f"tokenize: {msg}", [(key, msg)])

    @classmethod
    def train(cls, seqs: list[str], **options: Any) -> str:
        """A model learnt from `seqs` (for a scheme that `trains`), serialised."""
        raise ConfigError(f"tokenize: {cls.scheme} learns nothing from the reads")

    def settings(self) -> dict:
        """The scheme's own settings (the report's, and the export's by default)."""
        return {}

    def tokenize(self, values: np.ndarray, offsets: np.ndarray) -> Encoded:
        raise NotImplementedError

    def hf_text(self, seq: str) -> str:
        """The text a Hugging Face tokenizer exported from this one takes for `seq`."""
        return seq

    def hf_tokenizer(self) -> HFTokenizer:
        """The `tokenizers.Tokenizer` the export starts from: the model, normaliser and
        pre-tokenizer that give seqray's ids for `hf_text(seq)`; the export adds the
        special tokens and the template that wraps a row in them."""
        raise NotImplementedError(f"{self.scheme} has no Hugging Face export")

    def hf_json(self) -> dict:
        """tokenizer.json's content (the `tokenizers` serialisation, as JSON data)."""
        return hf_export.finish(self.hf_tokenizer(), self.vocab, self.cls_id, self.sep_id)

    def export_settings(self) -> dict:
        """seqray_tokenizer.json: what `from_export` rebuilds this tokenizer from."""
        return {
            "scheme": self.scheme,
            **self.settings(),
            "add_special_tokens": self.add_special_tokens,
        }

    @classmethod
    def from_export(cls, directory: str, **options: Any) -> Tokenizer:
        """The tokenizer an export directory holds (`options`: its export settings and any
        row options)."""
        return cls(**options)

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
        """Writes a Hugging Face tokenizer directory (local or s3://; see
        seqray.tokenize.hf_export), each file atomically, once all are built."""
        tokenizer_json = json.dumps(self.hf_json(), ensure_ascii=False)
        files = hf_export.export_files(
            tokenizer_json, self.vocab, self.max_length, self.export_settings()
        )
        return hf_export.write_files(directory, files)

    def __repr__(self) -> str:
        opts = {**self.settings(), "add_special_tokens": self.add_special_tokens}
        if self.max_length is not None:
            opts.update(max_length=self.max_length, overlap=self.overlap)
            opts.update(truncate=self.truncate, padding=self.padding)
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in opts.items())})"
