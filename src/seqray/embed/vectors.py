"""Read vectors from an embedding model: the mean of a read's L2-normalised bucket vectors
(LSHvec's read embedding), and per-token arrays with sinusoidal positional encodings.

The hasher gives every read's bucket ids (one per k-mer window without N); a binary search
finds their rows; one Numba pass sums the normalised rows per read. Buckets the table
lacks (never seen in training, or under min-count) are skipped and counted; a read with no
k-mer (shorter than k, or N everywhere) gets a zero vector and is counted, and so does a
read whose k-mers are all unknown (its k-mers are counted as unknown).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .model import EmbeddingModel


@dataclass
class Hashed:
    """The table rows of the reads' k-mers: rows int64[m] (-1: unknown bucket) and
    offsets int64[n+1] (read i's k-mers are rows[offsets[i]:offsets[i+1]])."""

    rows: np.ndarray
    offsets: np.ndarray

    @property
    def unknown(self) -> int:
        return int(np.count_nonzero(self.rows < 0))

    @property
    def empty(self) -> np.ndarray:
        """bool[n]: reads without a k-mer."""
        return np.diff(self.offsets) == 0


def hashed_rows(model: EmbeddingModel, values: np.ndarray, offsets: np.ndarray) -> Hashed:
    ids, id_offsets = model.hasher.hash_reads(values, offsets.astype(np.int64, copy=False))
    rows, found = model.table.lookup(ids)
    rows[~found] = -1
    return Hashed(rows, np.asarray(id_offsets, dtype=np.int64))


@njit(cache=True, nogil=True, inline="always")
def _add_rows(normed, rows, lo, hi, acc):
    n = 0
    for j in range(lo, hi):
        r = rows[j]
        if r >= 0:
            n += 1
            row = normed[r]
            for d in range(acc.shape[0]):
                acc[d] += row[d]
    return n


@njit(cache=True, nogil=True)
def _mean_rows(normed, rows_a, off_a, rows_b, off_b, out):
    # a local accumulator per read (not `out`): the row adds vectorise over d, and each
    # element is summed in k-mer order, so the result does not depend on the CPU
    acc = np.empty(normed.shape[1], np.float32)
    for i in range(len(off_a) - 1):
        acc[:] = 0
        n = _add_rows(normed, rows_a, off_a[i], off_a[i + 1], acc)
        n += _add_rows(normed, rows_b, off_b[i], off_b[i + 1], acc)
        if n > 0:
            inv = np.float32(1.0) / np.float32(n)
            for d in range(acc.shape[0]):
                out[i, d] = acc[d] * inv


def hash_mates(
    model: EmbeddingModel,
    values: np.ndarray,
    offsets: np.ndarray,
    values2: np.ndarray | None = None,
    offsets2: np.ndarray | None = None,
) -> tuple[Hashed, Hashed]:
    """The table rows of read 1's k-mers and of its mate's (none without mates)."""
    a = hashed_rows(model, values, offsets)
    if values2 is not None and offsets2 is not None:
        return a, hashed_rows(model, values2, offsets2)
    return a, Hashed(np.empty(0, np.int64), np.zeros(len(a.offsets), np.int64))


def counts(a: Hashed, b: Hashed) -> tuple[int, int, int]:
    """(k-mers, unknown k-mers, reads without a k-mer in either mate)."""
    return (
        len(a.rows) + len(b.rows),
        a.unknown + b.unknown,
        int(np.count_nonzero(a.empty & b.empty)),
    )


def mean_vectors(model: EmbeddingModel, a: Hashed, b: Hashed) -> np.ndarray:
    """float32[n, dim]: each read's mean of the L2-normalised vectors of its known
    buckets, over both mates; zero where none is known."""
    out = np.zeros((len(a.offsets) - 1, model.dim), np.float32)
    _mean_rows(model.table.normalized(), a.rows, a.offsets, b.rows, b.offsets, out)
    return out


def read_vectors(
    model: EmbeddingModel,
    values: np.ndarray,
    offsets: np.ndarray,
    values2: np.ndarray | None = None,
    offsets2: np.ndarray | None = None,
) -> tuple[np.ndarray, int, int]:
    """(float32[n, dim], unknown k-mers, empty reads): each read's mean of L2-normalised
    bucket vectors. With mates (`values2`, `offsets2`), a pair is embedded as one: the mean
    over both mates' k-mers (no k-mer spans the two), and it is empty when neither has one."""
    a, b = hash_mates(model, values, offsets, values2, offsets2)
    _, unknown, empty = counts(a, b)
    return mean_vectors(model, a, b), unknown, empty


def positional_encoding(positions: np.ndarray, dim: int) -> np.ndarray:
    """The Transformer's sinusoidal encoding (Vaswani et al. 2017), float32[len, dim]:
    PE(pos, 2i) = sin(pos / 10000^(2i/dim)), PE(pos, 2i+1) = cos(pos / 10000^(2i/dim))."""
    pairs = np.arange(0, dim, 2, dtype=np.float64)  # 2i
    angles = np.asarray(positions, np.float64)[:, None] / np.power(10000.0, pairs / dim)
    pe = np.empty((len(positions), dim), np.float64)
    pe[:, 0::2] = np.sin(angles)
    pe[:, 1::2] = np.cos(angles[:, : dim // 2])
    return pe.astype(np.float32)


def token_vectors(
    model: EmbeddingModel, a: Hashed, b: Hashed, positional: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(float32[m, dim], offsets int64[n+1]): one array per k-mer token (read i's are rows
    offsets[i]:offsets[i+1]; read 1's tokens, then its mate's), the L2-normalised bucket
    vector (zero for an unknown bucket, which keeps its place) plus, with `positional`,
    the sinusoidal encoding of the token's position: its index among the pair's tokens."""
    n = len(a.offsets) - 1
    la, lb = np.diff(a.offsets), np.diff(b.offsets)
    tok_offsets = np.zeros(n + 1, np.int64)
    np.cumsum(la + lb, out=tok_offsets[1:])
    # where each token goes: read i's read-1 tokens, then its mate's
    dest_a = np.arange(len(a.rows), dtype=np.int64) + np.repeat(
        tok_offsets[:-1] - a.offsets[:-1], la
    )
    dest_b = np.arange(len(b.rows), dtype=np.int64) + np.repeat(
        tok_offsets[:-1] + la - b.offsets[:-1], lb
    )
    rows = np.empty(int(tok_offsets[-1]), np.int64)
    rows[dest_a] = a.rows
    rows[dest_b] = b.rows
    if model.table.size:
        out = model.table.normalized()[np.maximum(rows, 0)]
        out[rows < 0] = 0.0
    else:
        out = np.zeros((len(rows), model.dim), np.float32)
    if positional and len(rows):
        positions = np.arange(len(rows), dtype=np.int64) - np.repeat(tok_offsets[:-1], la + lb)
        out += positional_encoding(positions, model.dim)
    return out, tok_offsets


def token_arrays(
    model: EmbeddingModel,
    values: np.ndarray,
    offsets: np.ndarray,
    positional: bool = True,
    values2: np.ndarray | None = None,
    offsets2: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(float32[m, dim], offsets int64[n+1], unknown k-mers, empty reads): per-token arrays
    (`token_vectors`) of reads, or of pairs with mates."""
    a, b = hash_mates(model, values, offsets, values2, offsets2)
    _, unknown, empty = counts(a, b)
    out, tok_offsets = token_vectors(model, a, b, positional)
    return out, tok_offsets, unknown, empty
