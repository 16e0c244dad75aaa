"""Duplicate marking in the main pass itself, when the whole input is one chunk.

Two passes (scan, then reduce; `seqray.qc.dedup`) are what make "first copy by identity"
exact across chunks processed in any order. A plan of one chunk — one gzip file or one gzip
pair, the usual `seqray qc --dedup` input — is read by one reader in record order, so the
first copy is simply the first one seen: a set of the 128-bit hashes seen so far marks every
later copy while the chunk is read, and the input is decompressed and parsed once instead
of twice. The set grows with the distinct reads (16 bytes a slot, load ≤ 0.7), so this is
chosen only for inputs up to `INLINE_LIMIT` bytes; larger ones keep the bounded-memory
two-pass scheme. Both give the same marks (tests/qc/test_dedup_inline.py).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit

from ..io.schema import RECORD

# input bytes (as stored, compressed or not) up to which one chunk is deduplicated inline:
# ~20 M gzipped 150 bp reads, a set of ≤ 32 M slots (512 MiB); short reads compress better
# and may need up to twice that, still a fraction of fastp's 4.5 GB Bloom filter
INLINE_LIMIT = 2 << 30
_FIRST_SLOTS = 1 << 16
_LOAD = 0.7


@njit(cache=True, nogil=True)
def _insert(keys_hi, keys_lo, used, hi, lo, seen):
    """Adds each hash in order; seen[i] when an equal hash was already in the set (an
    earlier row of this batch included). Returns how many were new."""
    mask = np.uint64(len(used) - 1)
    added = 0
    for i in range(len(hi)):
        h, g = hi[i], lo[i]
        slot = (g ^ (h >> np.uint64(29))) & mask
        while used[slot] and not (keys_hi[slot] == h and keys_lo[slot] == g):
            slot = (slot + np.uint64(1)) & mask
        if used[slot]:
            seen[i] = True
        else:
            used[slot] = True
            keys_hi[slot] = h
            keys_lo[slot] = g
            added += 1
    return added


@njit(cache=True, nogil=True)
def _rehash(keys_hi, keys_lo, used, new_hi, new_lo, new_used):
    mask = np.uint64(len(new_used) - 1)
    for s in range(len(used)):
        if not used[s]:
            continue
        h, g = keys_hi[s], keys_lo[s]
        slot = (g ^ (h >> np.uint64(29))) & mask
        while new_used[slot]:
            slot = (slot + np.uint64(1)) & mask
        new_used[slot] = True
        new_hi[slot] = h
        new_lo[slot] = g


class SeenHashes:
    """The 128-bit read hashes seen so far (open addressing, linear probing)."""

    def __init__(self, slots: int = _FIRST_SLOTS):
        self.hi = np.zeros(slots, np.uint64)
        self.lo = np.zeros(slots, np.uint64)
        self.used = np.zeros(slots, np.bool_)
        self.size = 0

    def add(self, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        """True for each hash seen before (in an earlier call or earlier in this one)."""
        while self.size + len(hi) > _LOAD * len(self.used):
            self._grow()
        seen = np.zeros(len(hi), np.bool_)
        self.size += _insert(self.hi, self.lo, self.used, hi, lo, seen)
        return seen

    def _grow(self) -> None:
        n = 2 * len(self.used)
        hi, lo, used = np.zeros(n, np.uint64), np.zeros(n, np.uint64), np.zeros(n, np.bool_)
        _rehash(self.hi, self.lo, self.used, hi, lo, used)
        self.hi, self.lo, self.used = hi, lo, used


class InlineMarks:
    """One chunk's duplicate marks, made batch by batch on the thread that reads the chunk
    (so in record order, before the batch goes to the worker threads) and taken by the
    stage's transform on whichever thread runs it."""

    def __init__(self, hashes):
        self.hashes = hashes  # table → (hi, lo): the stage's read hashes
        self.seen = SeenHashes()
        self.marks: dict[int, np.ndarray] = {}  # first record of a batch → its marks

    def see(self, table: pa.Table) -> None:
        if len(table):
            hi, lo = self.hashes(table)
            self.marks[int(table.column(RECORD)[0].as_py())] = self.seen.add(hi, lo)

    def take(self, table: pa.Table) -> np.ndarray:
        if not len(table):
            return np.zeros(0, bool)
        return self.marks.pop(int(table.column(RECORD)[0].as_py()))
