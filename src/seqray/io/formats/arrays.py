"""Arrow batches as named NumPy arrays: the one layout every array format (HDF5, NetCDF-4,
Zarr) writes, and `seqray.load_embeddings` reads back.

Each column of a batch becomes one or two arrays, by its Arrow type:

- a fixed-size list of numbers (`vector`: fixed_size_list<float32>[D]) → `X` [rows, D];
- a number or boolean → `X` [rows];
- a string → `X` [rows], variable-length UTF-8;
- a dictionary of strings (`source`, the input file) → `X` [rows] int32 codes into
  `X_names` [k], the shard's own table of the names (each name stored once);
- a list (ragged: `token_values` large_list<fixed_size_list<float>[D]>, `top_labels`) →
  `X` [total, D] or [total] (every row's values, end to end) and `X_offsets` [rows + 1]
  int64: row i is `X[offsets[i]:offsets[i + 1]]` (Arrow's and CSR's layout; continuous
  across the batches of a shard, starting at 0).

Read batches (bytes of sequences and qualities) are not arrays: the array formats take the
other kinds, which the pipeline checks when it is built (`OutputFormat.kinds`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import ConfigError, OutputError
from .base import WrittenShard

# the batch kinds array formats write (pipeline/kinds.py): everything a read turns into
ARRAY_KINDS = ("tokens", "vectors", "token_arrays", "predictions")
ROWS = "read"  # the dimension of one entry per row (a read, a read pair)
OFFSETS_DIM = "read_offset"  # rows + 1: every offsets array's dimension
CHUNK_BYTES = 1 << 20  # an array chunk holds about this much

# what the identity and embedding columns mean, for the files' own attributes
_DESCRIPTIONS = {
    "vector": "embedding vector of the read",
    "token_values": "embedding vector of each token of the read",
    "record": "0-based ordinal of the read in its source file",
    "name": "read name",
    "source": "index into source_names: the input file the read comes from",
    "label": "predicted label",
    "score": "score of the predicted label",
    "top_labels": "best labels, best first",
    "top_scores": "scores of the best labels",
    "input_ids": "token ids",
    "attention_mask": "attention mask (1: a real token)",
}


@dataclass(frozen=True)
class ArraySpec:
    """One array a shard holds: its name, element type (object: UTF-8 strings), trailing
    shape, dimension names and attributes."""

    name: str
    dtype: np.dtype
    inner: tuple[int, ...]  # the shape after the first (growing) dimension
    dims: tuple[str, ...]
    long_name: str
    role: str  # "rows" | "offsets" | "values" (ragged) | "names" (a dictionary's table)

    @property
    def is_string(self) -> bool:
        return self.dtype == np.dtype(object)

    def chunk_rows(self) -> int:
        """Rows per chunk: about CHUNK_BYTES of values (strings counted as 64 bytes)."""
        item = 64 if self.is_string else self.dtype.itemsize
        per_row = item * int(np.prod(self.inner, dtype=np.int64)) if self.inner else item
        return max(1, CHUNK_BYTES // max(per_row, 1))


@dataclass(frozen=True)
class _Column:
    name: str
    layout: str  # "fixed" | "number" | "string" | "codes" | "ragged"
    specs: tuple[ArraySpec, ...]


def _number_dtype(t: pa.DataType, where: str) -> np.dtype:
    if pa.types.is_boolean(t):
        return np.dtype(bool)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return np.dtype(t.to_pandas_dtype())
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return np.dtype(object)
    raise ConfigError(
        f"{where}: an array format cannot hold {t} values (numbers, strings, lists of them "
        "and fixed-size lists of numbers only); write Parquet"
    )


def _dim_name(column: str) -> str:
    return "dim" if column in ("vector", "token_values") else f"{column}_dim"


def _plan_column(field: pa.Field, title: str) -> _Column:
    name, t = field.name, field.type
    where = f"{title} output, column {name!r}"
    desc = _DESCRIPTIONS.get(name, name)
    if pa.types.is_dictionary(t):
        if not (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)):
            raise ConfigError(f"{where}: only dictionaries of strings are written")
        names_dim = f"{name}_name"
        return _Column(
            name,
            "codes",
            (
                ArraySpec(name, np.dtype(np.int32), (), (ROWS,), desc, "rows"),
                ArraySpec(
                    f"{name}_names", np.dtype(object), (), (names_dim,), f"{name} names", "names"
                ),
            ),
        )
    if pa.types.is_fixed_size_list(t):
        dtype = _number_dtype(t.value_type, where)
        if dtype == np.dtype(object):
            raise ConfigError(f"{where}: fixed-size lists of strings are not written")
        spec = ArraySpec(name, dtype, (t.list_size,), (ROWS, _dim_name(name)), desc, "rows")
        return _Column(name, "fixed", (spec,))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        inner_t = t.value_type
        values_dim = "token" if name == "token_values" else f"{name}_value"
        if pa.types.is_fixed_size_list(inner_t):
            dtype = _number_dtype(inner_t.value_type, where)
            inner: tuple[int, ...] = (inner_t.list_size,)
            dims: tuple[str, ...] = (values_dim, _dim_name(name))
        else:
            dtype = _number_dtype(inner_t, where)
            inner, dims = (), (values_dim,)
        return _Column(
            name,
            "ragged",
            (
                ArraySpec(name, dtype, inner, dims, desc, "values"),
                ArraySpec(
                    f"{name}_offsets",
                    np.dtype(np.int64),
                    (),
                    (OFFSETS_DIM,),
                    f"start of each read's entries in {name} (read i: "
                    f"{name}[offsets[i]:offsets[i + 1]])",
                    "offsets",
                ),
            ),
        )
    dtype = _number_dtype(t, where)
    layout = "string" if dtype == np.dtype(object) else "number"
    return _Column(name, layout, (ArraySpec(name, dtype, (), (ROWS,), desc, "rows"),))


def _strings(arr: pa.Array) -> np.ndarray:
    """An object array of str (a null as "")."""
    if arr.null_count:
        arr = pc.fill_null(arr, "")
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)


def _numbers(arr: pa.Array, dtype: np.dtype, where: str) -> np.ndarray:
    if arr.null_count:
        raise OutputError(f"{where}: null values cannot be written to an array format")
    if dtype == np.dtype(object):
        return _strings(arr)
    out = arr.to_numpy(zero_copy_only=False)
    return np.asarray(out, dtype=dtype)


class BatchArrays:
    """Turns a shard's batches, one after another, into the arrays to append: offsets
    continue from the batch before, and dictionary codes index the shard's own name
    table (`names()`, written when the shard is complete)."""

    def __init__(self, schema: pa.Schema, title: str):
        self.title = title
        for c in ("seq", "qual", "seq2", "qual2"):
            if c in schema.names:
                raise ConfigError(
                    f"{title} output holds arrays, not reads (the batches have {c!r}); "
                    "write reads as FASTQ, FASTA, BAM or Parquet"
                )
        self.columns = [_plan_column(f, title) for f in schema]
        self.specs = [s for c in self.columns for s in c.specs]
        self._ends = {c.name: 0 for c in self.columns if c.layout == "ragged"}
        self._codes: dict[str, dict[str, int]] = {
            c.name: {} for c in self.columns if c.layout == "codes"
        }

    def start(self) -> dict[str, np.ndarray]:
        """What a shard holds before any batch: each offsets array's leading 0."""
        return {f"{n}_offsets": np.zeros(1, np.int64) for n in self._ends}

    def convert(self, table: pa.Table) -> dict[str, np.ndarray]:
        """The batch's arrays, to append to the shard's."""
        out: dict[str, np.ndarray] = {}
        for c in self.columns:
            col = table.column(c.name)
            arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
            where = f"{self.title} output, column {c.name!r}"
            spec = c.specs[0]
            if c.layout == "codes":
                out[c.name] = self._encode(c.name, arr)
            elif c.layout == "fixed":
                if arr.null_count:
                    raise OutputError(f"{where}: null rows cannot be written")
                flat = _numbers(arr.flatten(), spec.dtype, where)
                out[c.name] = flat.reshape(len(arr), *spec.inner)
            elif c.layout == "ragged":
                offsets = np.asarray(arr.offsets.to_numpy(), dtype=np.int64)
                values = arr.flatten()  # the slice's values, nulls' left out
                if spec.inner:
                    values = values.flatten()
                flat = _numbers(values, spec.dtype, where)
                lengths = np.diff(offsets)
                if arr.null_count:
                    lengths = np.where(arr.is_null().to_numpy(zero_copy_only=False), 0, lengths)
                out[c.name] = flat.reshape(-1, *spec.inner)
                ends = self._ends[c.name] + np.cumsum(lengths, dtype=np.int64)
                out[f"{c.name}_offsets"] = ends
                self._ends[c.name] = int(ends[-1]) if len(ends) else self._ends[c.name]
            else:
                out[c.name] = _numbers(arr, spec.dtype, where)
        return out

    def _encode(self, column: str, arr: pa.Array) -> np.ndarray:
        codes = self._codes[column]
        if not pa.types.is_dictionary(arr.type):
            arr = pc.dictionary_encode(arr)
        if arr.null_count:
            raise OutputError(f"{self.title} output, column {column!r}: null values")
        names = _strings(arr.dictionary)
        idx = np.asarray(arr.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        # the names the rows use, in the order they first appear (a sliced batch's
        # dictionary may hold names none of its rows has)
        used, first = np.unique(idx, return_index=True)
        remap = np.zeros(len(names), np.int32)
        for i in used[np.argsort(first)]:
            remap[i] = codes.setdefault(names[i], len(codes))
        return remap[idx]

    def names(self) -> dict[str, np.ndarray]:
        """Each dictionary column's table of names, in code order."""
        return {
            f"{c}_names": np.array(list(names), dtype=object) for c, names in self._codes.items()
        }


def array_meta(shape: tuple[int, ...], dtype: np.dtype, chunks: tuple[int, ...]) -> dict:
    """An array's entry in the manifest: shape, dtype ("string": variable-length UTF-8),
    chunk shape."""
    return {
        "shape": [int(x) for x in shape],
        "dtype": "string" if dtype == np.dtype(object) else str(dtype),
        "chunks": [int(x) for x in chunks],
    }


class ArrayShardWriter:
    """What the array formats share: batches → arrays (`BatchArrays`), appended to the
    format's growing arrays; the row count; the manifest's `arrays` entry. A format
    implements `_create`, `_append`, `_finish` (close, commit) and `_abort`."""

    title = "array"

    def __init__(
        self,
        uri: str,
        schema: pa.Schema,
        compression: str,
        level: int | None,
        provenance: dict[str, str] | None,
    ):
        self.uri = uri
        self.batches = BatchArrays(schema, self.title)
        self.specs = {s.name: s for s in self.batches.specs}
        self.provenance = dict(provenance or {})
        self.rows = 0
        self.lengths = {s.name: 0 for s in self.batches.specs}

    @classmethod
    def open(
        cls,
        uri: str,
        *,
        schema: pa.Schema,
        paired: bool,
        mate: int,
        compression: str,
        level: int | None,
        provenance: dict[str, str] | None = None,
    ) -> ArrayShardWriter:
        """The format's `Opener`: a writer of `cls` (array shards hold pairs as rows)."""
        return cls(uri, schema, compression, level, provenance)

    def _start(self) -> None:
        """Creates every array but the name tables (their length is known at commit)."""
        for spec in self.batches.specs:
            if spec.role != "names":
                self._create(spec, None)
        for name, arr in self.batches.start().items():
            self._add(name, arr)

    def _add(self, name: str, arr: np.ndarray) -> None:
        self._append(self.specs[name], arr, self.lengths[name])
        self.lengths[name] += len(arr)

    def write(self, table: pa.Table) -> None:
        if not len(table):
            return
        for name, arr in self.batches.convert(table).items():
            self._add(name, arr)
        self.rows += len(table)

    def _names(self) -> None:
        for name, arr in self.batches.names().items():
            self._create(self.specs[name], len(arr))
            self._add(name, arr)

    def attributes(self) -> dict[str, str]:
        """The shard's own metadata: who wrote it and what it holds."""
        from ... import __version__

        out = {"seqray_version": __version__, "rows_are": "reads"}
        out.update({f"seqray_{k}": v for k, v in self.provenance.items()})
        return out

    def arrays(self) -> dict[str, dict]:
        """{name: {shape, dtype, chunks, dims}} as the shard holds them."""
        out = {}
        for name, spec in self.specs.items():
            shape = (self.lengths[name], *spec.inner)
            meta = array_meta(shape, self.stored_dtype(spec), self.chunks(spec))
            meta["dims"] = list(spec.dims)
            out[name] = meta
        return out

    def stored_dtype(self, spec: ArraySpec) -> np.dtype:
        return spec.dtype

    def chunks(self, spec: ArraySpec) -> tuple[int, ...]:
        rows = self.lengths[spec.name] if spec.role == "names" else spec.chunk_rows()
        return (max(1, rows), *spec.inner)

    # the format's part
    def commit(self) -> WrittenShard:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def _create(self, spec: ArraySpec, length: int | None) -> None:
        raise NotImplementedError

    def _append(self, spec: ArraySpec, arr: np.ndarray, at: int) -> None:
        raise NotImplementedError


def layouts(names: list[str]) -> dict[str, str]:
    """The columns a shard's arrays hold, by layout ("rows", "codes": int32 codes + a
    `_names` table, "ragged": values + `_offsets`), from the array names alone."""
    have = set(names)
    out = {}
    for n in names:
        for suffix in ("_offsets", "_names"):
            if n.endswith(suffix) and n[: -len(suffix)] in have:
                break
        else:
            if f"{n}_offsets" in have:
                out[n] = "ragged"
            elif f"{n}_names" in have:
                out[n] = "codes"
            else:
                out[n] = "rows"
    return out


def plan_arrays(schema: pa.Schema, title: str) -> list[ArraySpec]:
    """The arrays a shard of batches of `schema` holds (what `BatchArrays` writes)."""
    return [s for f in schema for s in _plan_column(f, title).specs]
