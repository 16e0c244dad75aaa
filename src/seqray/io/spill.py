"""Partitioned spill files: a chunk's rows, grouped by partition, for reduce tasks to read.

A map task that must hand rows to P reduce tasks (k-mer counts, duplicate-scan hashes)
writes one file per chunk as a sequence of *segments*, each holding every partition's rows
in partition order, column after column. A segment is written whenever the task's rows in
memory pass its budget, so memory is bounded by the budget, not by the chunk. The index
(per segment: offset, then P + 1 row bounds) and a trailer go last; a reduce task reads
only its partitions' byte ranges of every segment (ranged reads: local or S3).

Layout: segments, index (int64), trailer `<qqqq8s`: index offset, segments, partitions,
a user value (the k of k-mer spills), magic.
"""

from __future__ import annotations

import struct

import numpy as np

from ..errors import SeqrayError
from .fs import filesystem_for
from .writers import AtomicFile, WrittenFile

_TRAILER = struct.Struct("<qqqq8s")


class SpillWriter:
    """Streams segments of fixed-dtype columns into one file; the index goes last."""

    def __init__(self, uri: str, magic: bytes, n_parts: int, dtypes: tuple, meta: int = 0):
        if len(magic) != 8:
            raise ValueError("spill magic must be 8 bytes")
        self.file = AtomicFile(uri)
        self.magic, self.n_parts, self.meta = magic, n_parts, meta
        self.dtypes = tuple(np.dtype(d) for d in dtypes)
        self.index: list[np.ndarray] = []
        self.rows = 0

    def add_segment(self, columns: tuple[np.ndarray, ...], bounds: np.ndarray) -> None:
        """Rows already in partition order; bounds: int64[P + 1] row offsets per partition."""
        self.index.append(np.concatenate([[self.file.size], bounds]).astype(np.int64))
        for col, dtype in zip(columns, self.dtypes, strict=True):
            self.file.write(np.ascontiguousarray(col, dtype=dtype).tobytes())
        self.rows += int(bounds[-1])

    def close(self) -> WrittenFile:
        footer = self.file.size
        for entry in self.index:
            self.file.write(entry.tobytes())
        self.file.write(_TRAILER.pack(footer, len(self.index), self.n_parts, self.meta, self.magic))
        self.file.commit()
        return WrittenFile(self.file.uri, self.rows, self.file.size, self.file.sha.hexdigest())

    def abort(self) -> None:
        self.file.abort()


def read_spill(
    uri: str, magic: bytes, dtypes: tuple, part_lo: int, part_hi: int
) -> list[tuple[np.ndarray, ...]]:
    """Each segment's columns for partitions part_lo..part_hi-1 (segments with none left out)."""
    dtypes = tuple(np.dtype(d) for d in dtypes)
    fs, path = filesystem_for(uri)
    out = []
    with fs.open_input_file(path) as f:
        size = f.size()
        head = f.read_at(_TRAILER.size, size - _TRAILER.size) if size >= _TRAILER.size else b""
        if len(head) < _TRAILER.size or head[-8:] != magic:
            raise SeqrayError(f"{uri}: not a seqray spill file of this kind")
        footer, n_seg, n_parts, _, _ = _TRAILER.unpack(head)
        index = np.frombuffer(f.read_at(8 * n_seg * (n_parts + 2), footer), np.int64)
        for s in range(n_seg):
            entry = index[s * (n_parts + 2) : (s + 1) * (n_parts + 2)]
            offset, bounds = int(entry[0]), entry[1:]
            n, a, b = int(bounds[-1]), int(bounds[part_lo]), int(bounds[part_hi])
            if b == a:
                continue
            cols = []
            for dtype in dtypes:
                cols.append(
                    np.frombuffer(
                        f.read_at(dtype.itemsize * (b - a), offset + dtype.itemsize * a), dtype
                    )
                )
                offset += dtype.itemsize * n
            out.append(tuple(cols))
    return out
