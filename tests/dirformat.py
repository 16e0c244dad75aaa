"""A test-only output format whose shards are directories: `part-….npyd/` holding the
bases of every read in `seq.npy` and their offsets in `seq_offsets.npy` (NumPy files,
two per shard). It is registered only for a test (`register`), and proves that a
directory store is one module plus one registry line: nothing else in seqray names it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from seqray.io.buffers import values_offsets
from seqray.io.formats import DirectoryShard, OutputFormat, WrittenShard
from seqray.io.formats import registry as format_registry
from seqray.io.schema import SEQ, SEQ2

FILES = ("seq.npy", "seq_offsets.npy")


class NpyDirWriter:
    """One mate's bases as a flat uint8 array plus int64 offsets (Arrow's layout)."""

    def __init__(self, uri: str, mate: int):
        self.shard = DirectoryShard(uri)
        self.column = SEQ2 if mate else SEQ
        self.values: list[np.ndarray] = []
        self.lengths: list[np.ndarray] = []
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        v, o = values_offsets(table.column(self.column))
        self.values.append(v[o[0] : o[-1]].copy())
        self.lengths.append(np.diff(o))
        self.rows += len(table)

    def commit(self) -> WrittenShard:
        values = np.concatenate([np.empty(0, np.uint8), *self.values])
        offsets = np.concatenate([[0], np.cumsum(np.concatenate([[], *self.lengths]))])
        for name, arr in zip(FILES, (values, offsets.astype(np.int64))):
            buf = io.BytesIO()
            np.save(buf, arr)
            self.shard.file(name).write(buf.getvalue())
        return self.shard.commit(self.rows)

    def abort(self) -> None:
        self.shard.abort()


def _open(uri, *, schema, paired, mate, compression, level) -> NpyDirWriter:
    return NpyDirWriter(uri, mate)


NPYDIR = OutputFormat(
    name="npydir",
    title="NPY directory",
    extensions=(".npyd",),
    open=_open,
    compressions={"none": ""},
    pairs_in_one=False,
    directory=True,
)


def register(monkeypatch: pytest.MonkeyPatch) -> OutputFormat:
    """Registers the format for one test (the registry line a real module would add)."""
    monkeypatch.setitem(format_registry._FORMATS, NPYDIR.name, NPYDIR)
    return NPYDIR


def read_shard(directory: Path) -> list[bytes]:
    """The sequences a shard holds, read back with NumPy alone."""
    values = np.load(directory / FILES[0])
    offsets = np.load(directory / FILES[1])
    return [values[a:b].tobytes() for a, b in zip(offsets[:-1], offsets[1:])]
