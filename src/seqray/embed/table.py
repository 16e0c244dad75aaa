"""A compact embedding table: only the buckets that occur (a sorted uint32 id column and a
dense matrix), in float32, float16 or bfloat16, memory-mapped when loaded, exported to
word2vec (text and binary, the word being the bucket id in decimal) and to Parquet.

bfloat16 has no NumPy dtype: it is stored as the uint16 upper half of the float32 bits,
rounded to nearest-even from float32 (as PyTorch's `.to(torch.bfloat16)`), and widened
back by a 16-bit shift on read (exact).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError
from ..io.fs import filesystem_for, is_s3, join
from ..io.schema import numeric_array
from ..io.writers import AtomicFile, WrittenFile, write_file
from .rows import BucketRows

DTYPES: tuple[str, ...] = ("float32", "float16", "bfloat16")
_STORED: dict[str, np.dtype[Any]] = {
    "float32": np.dtype(np.float32),
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(np.uint16),
}


def to_bfloat16_bits(x: np.ndarray) -> np.ndarray:
    """float32 → bfloat16 bits (uint16), rounded to nearest, ties to even; NaN stays NaN."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounding = np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))
    out = ((bits + rounding) >> np.uint32(16)).astype(np.uint16)
    nan = np.isnan(x)
    if nan.any():  # rounding could carry a NaN's mantissa into the exponent: keep it quiet
        out[nan] = ((bits[nan] >> np.uint32(16)) | np.uint32(0x40)).astype(np.uint16)
    return out


def from_bfloat16_bits(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bits (uint16) → float32, exactly."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << np.uint32(16)).view(np.float32)


def encode(matrix: np.ndarray, dtype: str) -> np.ndarray:
    """A float matrix in the stored form of `dtype`."""
    if dtype not in _STORED:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    m = np.asarray(matrix, dtype=np.float32)
    return to_bfloat16_bits(m) if dtype == "bfloat16" else m.astype(_STORED[dtype])


class EmbeddingTable:
    """Vectors of the buckets that occur: `buckets` (uint32, strictly increasing) and the
    stored `vectors` [V, dim] (float32, float16, or bfloat16 bits as uint16), with each
    bucket's training count. Lookup: `rows.BucketRows`."""

    def __init__(self, buckets: np.ndarray, vectors: np.ndarray, dtype: str, counts: np.ndarray):
        if dtype not in _STORED:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        if vectors.ndim != 2 or len(vectors) != len(buckets) or len(counts) != len(buckets):
            raise ValueError(
                f"a table needs one vector and one count per bucket: {len(buckets)} buckets, "
                f"vectors {vectors.shape}, {len(counts)} counts"
            )
        if buckets.dtype != np.uint32 or vectors.dtype != _STORED[dtype]:
            raise ValueError(
                f"buckets must be uint32 and {dtype} vectors stored as {_STORED[dtype]}, "
                f"got {buckets.dtype} and {vectors.dtype}"
            )
        if len(buckets) > 1 and not bool(np.all(buckets[1:] > buckets[:-1])):
            raise ValueError("bucket ids must be strictly increasing")
        self.buckets = buckets
        self.vectors = vectors
        self.dtype = dtype
        self.counts = counts
        self._normalized: np.ndarray | None = None
        self._rows = BucketRows(buckets)

    @classmethod
    def from_float32(
        cls, buckets: np.ndarray, matrix: np.ndarray, dtype: str = "float32", counts=None
    ) -> EmbeddingTable:
        """A table from float vectors (in any bucket order: rows are sorted by bucket)."""
        b = np.asarray(buckets, dtype=np.uint32)
        order = np.argsort(b, kind="stable")
        c = np.zeros(len(b), np.int64) if counts is None else np.asarray(counts, np.int64)
        return cls(b[order], encode(np.asarray(matrix)[order], dtype), dtype, c[order])

    @property
    def size(self) -> int:
        return len(self.buckets)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows int64, found bool) of bucket ids; rows where not found are meaningless."""
        rows = self._rows.rows(ids)
        found = rows >= 0
        rows[~found] = 0
        return rows, found

    def as_float32(self) -> np.ndarray:
        """The vectors as float32 (a copy, except for a float32 table)."""
        if self.dtype == "bfloat16":
            return from_bfloat16_bits(self.vectors)
        return np.asarray(self.vectors, dtype=np.float32)

    def normalized(self) -> np.ndarray:
        """float32 rows of unit L2 norm (a zero row stays zero), computed once."""
        if self._normalized is None:
            m = self.as_float32()
            norms = np.linalg.norm(m, axis=1, keepdims=True)
            self._normalized = np.divide(
                m, norms, out=np.zeros(m.shape, np.float32), where=norms > 0
            ).astype(np.float32, copy=False)
        return self._normalized

    # --- files -----------------------------------------------------------------------------

    def save_arrays(self, directory: str) -> dict[str, WrittenFile]:
        """buckets.npy, vectors.npy (the stored form) and counts.npy, each atomically."""
        return {
            "buckets.npy": write_npy(join(directory, "buckets.npy"), self.buckets),
            "vectors.npy": write_npy(join(directory, "vectors.npy"), self.vectors),
            "counts.npy": write_npy(join(directory, "counts.npy"), self.counts),
        }

    @classmethod
    def load_arrays(cls, directory: str, dtype: str, mmap: bool = True) -> EmbeddingTable:
        """The table `save_arrays` wrote (memory-mapped, read-only, when local and `mmap`)."""
        arrays = [
            read_npy(join(directory, f"{n}.npy"), mmap) for n in ("buckets", "vectors", "counts")
        ]
        try:
            return cls(arrays[0], arrays[1], dtype, arrays[2])
        except ValueError as exc:
            raise InputError(f"{directory}: not a valid embedding table: {exc}") from None

    def to_word2vec(self, path: str, binary: bool = False) -> WrittenFile:
        """A word2vec file (`V dim` header, then each bucket id in decimal and its vector):
        gensim's `KeyedVectors.load_word2vec_format` loads it. Text writes 9 significant
        digits (float32 round-trips exactly); binary writes little-endian float32, each
        vector followed by a newline as word2vec.c does."""
        f = AtomicFile(path)
        try:
            f.write(f"{self.size} {self.dim}\n".encode())
            step = 1 << 16
            for start in range(0, self.size, step):
                b = self.buckets[start : start + step]
                m = np.ascontiguousarray(self.as_float32_rows(start, start + step))
                f.write(_w2v_binary(b, m) if binary else _w2v_text(b, m))
            f.commit()
        except BaseException:
            f.abort()
            raise
        return f.written(self.size)

    def as_float32_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) as float32 (without widening the whole table)."""
        v = self.vectors[start:stop]
        return from_bfloat16_bits(v) if self.dtype == "bfloat16" else v.astype(np.float32)

    def to_parquet(self, path: str) -> WrittenFile:
        """A Parquet file: `bucket` uint32, `vector` fixed_size_list<float32>[dim]."""
        flat = numeric_array(self.as_float32().reshape(-1))
        table = pa.table(
            {
                "bucket": numeric_array(np.ascontiguousarray(self.buckets)),
                "vector": pa.FixedSizeListArray.from_arrays(flat, self.dim),
            }
        )
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        return write_file(path, sink.getvalue().to_pybytes(), rows=self.size)


def _w2v_text(buckets: np.ndarray, m: np.ndarray) -> bytes:
    out = io.StringIO()
    fmt = "%d" + " %.9g" * m.shape[1]
    np.savetxt(out, np.column_stack([buckets.astype(np.float64), m.astype(np.float64)]), fmt)
    return out.getvalue().encode()


def _w2v_binary(buckets: np.ndarray, m: np.ndarray) -> bytes:
    """Records `id<space><dim little-endian float32>\\n`, built as fixed-width structured
    rows per run of ids of the same decimal length (sorted ids: contiguous runs)."""
    digits = np.char.str_len(buckets.astype("U10"))
    parts = []
    for width in np.unique(digits):
        sel = digits == width
        rec = np.empty(
            int(sel.sum()),
            dtype=[("w", f"S{width}"), ("s", "S1"), ("v", "<f4", (m.shape[1],)), ("n", "S1")],
        )
        rec["w"] = buckets[sel].astype(f"S{width}")
        rec["s"] = b" "
        rec["v"] = m[sel]
        rec["n"] = b"\n"
        parts.append((int(np.flatnonzero(sel)[0]), rec.tobytes()))
    return b"".join(p for _, p in sorted(parts))


def write_npy(uri: str, array: np.ndarray) -> WrittenFile:
    """An .npy file written atomically (streamed, not built in memory)."""
    f = AtomicFile(uri)
    try:
        np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)
        f.commit()
    except BaseException:
        f.abort()
        raise
    return f.written(len(array))


def read_npy(uri: str, mmap: bool = True) -> np.ndarray:
    """An .npy file: memory-mapped read-only when local and `mmap`, else read in full."""
    try:
        if is_s3(uri):
            fs, path = filesystem_for(uri)
            with fs.open_input_file(path) as src:
                return np.load(io.BytesIO(src.read()), allow_pickle=False)
        return np.load(uri, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"{uri}: no such file") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{uri}: not a readable .npy array: {exc}") from None
