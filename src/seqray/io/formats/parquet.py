"""Parquet: one shard per chunk holding every column of the batches (both mates of a
pair in one row), one row group per batch; zstd by default."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from ..writers import AtomicFile
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


register_format(
    OutputFormat(
        name="parquet",
        title="Parquet",
        extensions=(".parquet",),
        open=_open,
        compressions={"zstd": "", "snappy": "", "gzip": "", "none": ""},  # inside the file
        pairs_in_one=True,
        needs_reads=False,
    )
)
