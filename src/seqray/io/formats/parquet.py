"""Parquet: one shard per chunk holding every column of the batches (both mates of a
pair in one row), one row group per batch; zstd by default."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..fs import filesystem_for, is_s3
from ..writers import AtomicFile
from .arrays import ArraySpec, BatchArrays, plan_arrays
from .base import OutputFormat, WrittenShard
from .registry import register_format


class _HashingSink:
    def __init__(self, f: AtomicFile):
        self.f = f
        self.closed = False

    def write(self, data: bytes | memoryview) -> int:
        self.f.write(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class ParquetShardWriter:
    """Parquet shard, one row group per batch; zstd by default."""

    def __init__(self, uri: str, schema: pa.Schema, compression: str = "zstd"):
        self.file = AtomicFile(uri)
        self.sink = pa.PythonFile(_HashingSink(self.file), mode="w")
        self.writer = pq.ParquetWriter(self.sink, schema, compression=compression)
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if len(table):
            self.writer.write_table(table)
            self.rows += len(table)

    def commit(self) -> WrittenShard:
        self.writer.close()
        self.file.commit()
        return WrittenShard.of_file(self.file.written(self.rows))

    def abort(self) -> None:
        try:
            self.writer.close()  # before the file goes, so nothing writes to it later
        except (OSError, ValueError):
            pass
        self.file.abort()


def _open(
    uri: str,
    *,
    schema: pa.Schema,
    paired: bool,
    mate: int,
    compression: str,
    level: int | None,
) -> ParquetShardWriter:
    return ParquetShardWriter(uri, schema, compression=compression)


class ParquetArrays:
    """A shard's columns as the arrays of `arrays.py` (`seqray.load_embeddings`): rows are
    read by row group, only the row groups holding the rows asked for; a local file is
    memory-mapped (uncompressed column chunks are then read without a copy). A dictionary
    column (`source`) is given as its strings; a list column is read whole, once."""

    def __init__(self, uri: str):
        fs, path = filesystem_for(uri)
        self.uri = uri
        self.file = pq.ParquetFile(
            fs.open_input_file(path) if is_s3(uri) else path, memory_map=not is_s3(uri)
        )
        self.schema = self.file.schema_arrow
        md = self.file.metadata
        sizes = [md.row_group(i).num_rows for i in range(md.num_row_groups)]
        self.bounds = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        self.rows = int(self.bounds[-1])
        self.attrs: dict[str, Any] = {}
        self.specs: dict[str, ArraySpec] = {}
        for f in self.schema:
            if pa.types.is_dictionary(f.type):  # given as its strings
                f = pa.field(f.name, f.type.value_type)
            try:
                for spec in plan_arrays(pa.schema([f]), "Parquet"):
                    self.specs[spec.name] = spec
            except Exception:  # noqa: BLE001  a column no array holds (read bytes): not offered
                continue
        self._whole: dict[str, np.ndarray] = {}

    def has(self, name: str) -> bool:
        return name in self.specs and self.specs[name].role != "names"

    def names(self) -> list[str]:
        return [n for n, s in self.specs.items() if s.role != "names"]

    def shape(self, name: str) -> tuple[int, ...]:
        spec = self.specs[name]
        if spec.role == "rows":
            return (self.rows, *spec.inner)
        return self._ragged(name).shape

    def dtype(self, name: str) -> np.dtype:
        return self.specs[name].dtype

    def dims(self, name: str) -> tuple[str, ...]:
        return self.specs[name].dims

    def _column(self, name: str, start: int, stop: int) -> pa.Table:
        g0 = int(np.searchsorted(self.bounds, start, "right")) - 1
        g1 = int(np.searchsorted(self.bounds, max(stop - 1, start), "right")) - 1
        groups = list(range(max(g0, 0), min(g1, len(self.bounds) - 2) + 1))
        t = self.file.read_row_groups(groups, columns=[name])
        first = int(self.bounds[groups[0]]) if groups else 0
        return t.slice(start - first, stop - start)

    def _convert(self, table: pa.Table, name: str) -> np.ndarray:
        col = table.column(0)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
            table = pa.table({name: col})
        return BatchArrays(table.schema, "Parquet").convert(table)[name]

    def _ragged(self, name: str) -> np.ndarray:
        if name not in self._whole:
            base = name[: -len("_offsets")] if name.endswith("_offsets") else name
            table = self.file.read(columns=[base])
            got = BatchArrays(table.schema, "Parquet").convert(table)
            self._whole[base] = got[base]
            self._whole[f"{base}_offsets"] = np.concatenate(
                [np.zeros(1, np.int64), got[f"{base}_offsets"]]
            )
        return self._whole[name]

    def read(self, name: str, sel: slice | np.ndarray) -> np.ndarray:
        if self.specs[name].role != "rows":
            return self._ragged(name)[sel]
        if isinstance(sel, slice):
            start, stop, _ = sel.indices(self.rows)
            return self._convert(self._column(name, start, max(start, stop)), name)
        if not len(sel):
            return self._convert(self._column(name, 0, 0), name)
        lo, hi = int(sel[0]), int(sel[-1]) + 1  # sorted: one span, then the rows in it
        return self._convert(self._column(name, lo, hi), name)[np.asarray(sel) - lo]

    def close(self) -> None:
        self.file.close()


register_format(
    OutputFormat(
        name="parquet",
        title="Parquet",
        extensions=(".parquet",),
        open=_open,
        compressions={"zstd": "", "snappy": "", "gzip": "", "none": ""},  # inside the file
        pairs_in_one=True,
        needs_reads=False,
        reader=ParquetArrays,
    )
)
