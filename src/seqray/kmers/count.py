"""Exact k-mer counting: per-chunk pre-aggregation, then a partitioned reduce.

Key space is cut into P = 4^min(5, k) *prefix partitions* by the first bases of the code, so
a partition is a contiguous range of k-mers and the partitions, read in order, are sorted.

- **Map (per chunk).** Each batch's valid k-mers are scattered by partition (a counting
  sort, sequential writes) and inserted partition by partition into open-addressing tables,
  one per partition, small enough to stay in cache. A slot is one word: the k-mer without its
  partition's bits, and its count (`slot_layout`); counts past the count field go to an
  overflow list, so they stay exact. When the tables would pass their memory
  budget the chunk *flushes* a segment: every partition's (k-mer, count) rows, sorted. A
  chunk's segments go to one spill file (`SpillWriter`), indexed by partition.
- **Reduce (per output partition).** An output partition is a run of prefix partitions; its
  task reads that byte range of every segment of every spill file, merges rows with equal
  k-mers, and writes one sorted Parquet shard plus its histogram. Memory is bounded by the
  partition, not by the data set.
"""

from __future__ import annotations

from typing import cast

import numpy as np
from numba import njit
from numba.typed import List

from ..hashing import mix64
from ..io.spill import SpillWriter as PartitionedSpillWriter
from ..io.spill import read_spill
from .encode import check_k

EMPTY = np.uint64(0xFFFFFFFFFFFFFFFF)  # a free slot (k=32's TTTT…T is counted aside)
SPILL_MAGIC = b"SQRYKMC1"
MAX_LOAD = 0.7
COUNT_LIMIT = (1 << 32) - 1  # a segment's counts are uint32: flush before any could wrap


def prefix_bits(k: int) -> int:
    """Bits of the code that choose the partition: the first min(5, k) bases."""
    return 2 * min(5, k)


@njit(cache=True, nogil=True)
def scatter(codes, shift, n_parts):
    """Counting sort of codes by partition (code >> shift): (sorted codes, bounds)."""
    bounds = np.zeros(n_parts + 1, np.int64)
    sh = np.uint64(shift)
    for i in range(len(codes)):
        bounds[np.int64(codes[i] >> sh) + 1] += 1
    for p in range(n_parts):
        bounds[p + 1] += bounds[p]
    pos = bounds[:-1].copy()
    out = np.empty_like(codes)
    for i in range(len(codes)):
        q = np.int64(codes[i] >> sh)
        out[pos[q]] = codes[i]
        pos[q] += 1
    return out, bounds


def slot_layout(k: int) -> tuple[int, int]:
    """(residue bits, count bits) of a packed table slot at k: a partition's k-mers share
    their first bases, so a slot holds only the rest of the code (2k - prefix bits) and,
    below it, the count (at most 32 bits; 12 at k = 31, 10 at k = 32)."""
    rbits = 2 * k - prefix_bits(k)
    return rbits, min(32, 64 - rbits)


@njit(cache=True, nogil=True)
def insert_scattered(
    codes, bounds, pos, p_lo, p_hi, tables, fill, limit, rbits, cbits, over, ofill
):
    """Inserts the scattered codes of partitions p_lo..p_hi-1, from pos[p] on. A table is
    uint64[slots], each slot 0 (free) or residue << cbits | count (one word per k-mer). A
    count that would pass the count field stays at its maximum and the occurrence goes to
    the partition's overflow list `over[p]` (its k-mer's code, once per occurrence), added
    back when rows are extracted. A partition whose table reaches `limit[p]` keys, or whose
    overflow list is full, stops early (pos[p] < bounds[p + 1]): the caller grows it and
    calls again. Returns the codes equal to EMPTY (counted aside)."""
    special = 0
    cb = np.uint64(cbits)
    cmax = (np.uint64(1) << cb) - np.uint64(1)
    rmask = (np.uint64(1) << np.uint64(rbits)) - np.uint64(1)
    one = np.uint64(1)
    for p in range(p_lo, p_hi):
        t = tables[p]
        ov = over[p]
        of = ofill[p]
        mask = np.int64(len(t) - 1)
        f = fill[p]
        lim = limit[p]
        i = pos[p]
        end = bounds[p + 1]
        while i < end and f < lim:
            c = codes[i]
            if c == EMPTY:
                special += 1
                i += 1
                continue
            res = c & rmask
            s = np.int64(mix64(c) & np.uint64(mask))
            full = False
            while True:
                e = t[s]
                if e == 0:
                    t[s] = (res << cb) | one
                    f += 1
                    break
                if (e >> cb) == res:
                    if (e & cmax) < cmax:
                        t[s] = e + one
                    elif of < len(ov):
                        ov[of] = c
                        of += 1
                    else:
                        full = True
                    break
                s = (s + 1) & mask
            if full:
                break
            i += 1
        pos[p] = i
        fill[p] = f
        ofill[p] = of
    return special


@njit(cache=True, nogil=True)
def _rehash(old, new, p, rbits, cbits):
    mask = np.int64(len(new) - 1)
    cb = np.uint64(cbits)
    top = np.uint64(p) << np.uint64(rbits)
    for s in range(len(old)):
        e = old[s]
        if e == 0:
            continue
        c = top | (e >> cb)
        t = np.int64(mix64(c) & np.uint64(mask))
        while new[t] != 0:
            t = (t + 1) & mask
        new[t] = e


@njit(cache=True, nogil=True)
def _extract(tables, bounds, rbits, cbits, over, ofill, out_k, out_c, p_lo, p_hi):
    """Partitions p_lo..p_hi-1's rows, each sorted by k-mer, into out_k/out_c at bounds."""
    cb = np.uint64(cbits)
    cmask = (np.uint64(1) << cb) - np.uint64(1)
    for p in range(p_lo, p_hi):
        o = bounds[p]
        t = tables[p]
        top = np.uint64(p) << np.uint64(rbits)
        for s in range(len(t)):
            e = t[s]
            if e != 0:
                out_k[o] = top | (e >> cb)
                out_c[o] = np.uint32(e & cmask)
                o += 1
        lo, hi = bounds[p], bounds[p + 1]
        order = np.argsort(out_k[lo:hi])
        out_k[lo:hi] = out_k[lo:hi][order]
        out_c[lo:hi] = out_c[lo:hi][order]
        if ofill[p]:
            extra = over[p][: ofill[p]]
            for x in range(len(extra)):
                r = lo + np.searchsorted(out_k[lo:hi], extra[x])
                out_c[r] += np.uint32(1)


# The typed lists of tables and overflow lists are made and changed only in cached kernels:
# numba compiles a typed list's own methods anew in every process when Python code builds
# or indexes one (~0.3 s of each `count` run, measured); from a cached kernel they load
# compiled. So the Python side keeps the sizes it needs (`slots`, `ocap`) itself.
@njit(cache=True, nogil=True)
def _new_tables(n_parts, slots):
    """(tables of `slots` free slots, empty overflow lists), one each per partition."""
    tables = List()
    over = List()
    for _ in range(n_parts):
        tables.append(np.zeros(slots, np.uint64))
        over.append(np.empty(0, np.uint64))
    return tables, over


@njit(cache=True, nogil=True)
def _grow_table(tables, p, rbits, cbits):
    """Partition p's table with twice the slots, its rows rehashed into it."""
    new = np.zeros(2 * len(tables[p]), np.uint64)
    _rehash(tables[p], new, p, rbits, cbits)
    tables[p] = new


@njit(cache=True, nogil=True)
def _grow_overflow(over, p, used, size):
    o = np.empty(size, np.uint64)
    o[:used] = over[p][:used]
    over[p] = o


class PartitionedTable:
    """Open-addressing count tables, one per prefix partition, each grown on its own.

    Codes are queued and inserted in bulk, partition by partition, so each partition's
    table is in cache while its share of many batches goes in. A slot is one 64-bit word
    (the code without its partition's leading bases, and the count): 8 bytes per slot."""

    def __init__(self, k: int, initial_slots: int = 1 << 8, drain_codes: int = 4 << 20, pool=None):
        self.k = check_k(k)
        self.pending: list[np.ndarray] = []
        self.pending_codes = 0
        self.drain_codes = drain_codes
        self.pool = pool
        bits = prefix_bits(k)
        self.shift = 2 * k - bits
        self.n_parts = 1 << bits
        self.rbits, self.cbits = slot_layout(k)
        self.initial_slots = initial_slots
        self.tables, self.over = _new_tables(self.n_parts, initial_slots)
        self.slots = np.full(self.n_parts, initial_slots, np.int64)
        self.ocap = np.zeros(self.n_parts, np.int64)  # each overflow list's capacity
        self.ofill = np.zeros(self.n_parts, np.int64)
        self.fill = np.zeros(self.n_parts, np.int64)
        self.limit = np.full(self.n_parts, int(initial_slots * MAX_LOAD), np.int64)
        self.special = 0  # occurrences of the k-mer equal to EMPTY (k = 32, all T)
        self.occurrences = 0

    @property
    def nbytes(self) -> int:
        return int(self.slots.sum() + self.ocap.sum()) * 8

    def add(self, codes: np.ndarray) -> None:
        """Queues a batch's codes; inserts the queue once it holds `drain_codes`."""
        if len(codes):
            self.pending.append(codes)
            self.pending_codes += len(codes)
            if self.pending_codes >= self.drain_codes:
                self.drain()

    def _grow(self, p: int) -> None:
        if self.fill[p] >= self.limit[p]:
            _grow_table(self.tables, p, self.rbits, self.cbits)
            self.slots[p] *= 2
            self.limit[p] = int(self.slots[p] * MAX_LOAD)
        if self.ofill[p] == self.ocap[p]:
            self.ocap[p] = max(64, 2 * self.ocap[p])
            _grow_overflow(self.over, p, self.ofill[p], self.ocap[p])

    def drain(self) -> None:
        """Inserts the queued codes (halves of the work on two threads with a pool)."""
        if not self.pending:
            return
        codes = self.pending[0] if len(self.pending) == 1 else np.concatenate(self.pending)
        self.pending, self.pending_codes = [], 0
        codes, bounds = scatter(codes, self.shift, self.n_parts)
        pos = bounds[:-1].copy()
        state = (self.tables, self.fill, self.limit, self.rbits, self.cbits, self.over, self.ofill)
        while True:
            if self.pool is None:
                self.special += int(insert_scattered(codes, bounds, pos, 0, self.n_parts, *state))
            else:
                # split by work, not by partition count: canonical codes favour A and C
                left = bounds[1:] - pos
                mid = int(np.searchsorted(np.cumsum(left), left.sum() // 2)) + 1
                mid = min(max(mid, 1), self.n_parts - 1)
                jobs = [
                    self.pool.submit(insert_scattered, codes, bounds, pos, lo, hi, *state)
                    for lo, hi in ((0, mid), (mid, self.n_parts))
                ]
                self.special += sum(int(j.result()) for j in jobs)
            short = np.flatnonzero(pos < bounds[1:])
            if not len(short):
                break
            for p in short:
                self._grow(int(p))
        self.occurrences += len(codes)

    def rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(k-mers, counts, partition bounds), sorted; the EMPTY k-mer last if counted."""
        self.drain()
        bounds = np.zeros(self.n_parts + 1, np.int64)
        np.cumsum(self.fill, out=bounds[1:])
        keys = np.empty(bounds[-1], np.uint64)
        counts = np.empty(bounds[-1], np.uint32)
        out = (self.tables, bounds, self.rbits, self.cbits, self.over, self.ofill, keys, counts)
        if self.pool is None:
            _extract(*out, 0, self.n_parts)
        else:  # halves of the rows on two threads (the end of a chunk waits for this)
            mid = int(np.searchsorted(bounds, bounds[-1] // 2))
            mid = min(max(mid, 1), self.n_parts - 1)
            halves = ((0, mid), (mid, self.n_parts))
            for job in [self.pool.submit(_extract, *out, a, b) for a, b in halves]:
                job.result()
        if self.special:
            keys = np.append(keys, EMPTY)
            counts = np.append(counts, np.uint32(self.special))
            bounds[-1] += 1
        return keys, counts, bounds

    def clear(self) -> None:
        """Empties the tables and gives their memory back (after a spill)."""
        self.drain()
        slots = self.initial_slots
        self.tables, self.over = _new_tables(self.n_parts, slots)
        self.slots[:] = slots
        self.ocap[:] = 0
        self.ofill[:] = 0
        self.fill[:] = 0
        self.limit[:] = int(slots * MAX_LOAD)
        self.special = 0
        self.occurrences = 0


# -- spill files: one per chunk, segments of sorted rows indexed by partition ------------

SPILL_COLUMNS = (np.uint64, np.uint32)  # k-mer, count


class SpillWriter(PartitionedSpillWriter):
    """A chunk's (k-mer, count) segments (`seqray.io.spill` layout, the k kept in it)."""

    def __init__(self, uri: str, k: int, n_parts: int):
        super().__init__(uri, SPILL_MAGIC, n_parts, SPILL_COLUMNS, meta=k)

    # the two columns by name: a k-mer spill is never filled through the generic writer
    def add_segment(  # type: ignore[override]
        self, keys: np.ndarray, counts: np.ndarray, bounds: np.ndarray
    ) -> None:
        super().add_segment((keys, counts), bounds)


def read_spill_rows(uri: str, part_lo: int, part_hi: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each segment's (keys, counts) of partitions part_lo..part_hi-1 (ranged reads)."""
    rows = read_spill(uri, SPILL_MAGIC, SPILL_COLUMNS, part_lo, part_hi)
    return cast("list[tuple[np.ndarray, np.ndarray]]", rows)  # SPILL_COLUMNS: two columns


@njit(cache=True, nogil=True)
def _sum_sorted(keys, counts):
    """Rows sorted by key → (unique keys, summed uint64 counts)."""
    n = len(keys)
    out_k = np.empty(n, np.uint64)
    out_c = np.empty(n, np.uint64)
    m = -1
    for i in range(n):
        if m >= 0 and out_k[m] == keys[i]:
            out_c[m] += np.uint64(counts[i])
        else:
            m += 1
            out_k[m] = keys[i]
            out_c[m] = np.uint64(counts[i])
    return out_k[: m + 1], out_c[: m + 1]


def merge_rows(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted runs of (k-mer, count) → one sorted run with counts summed (uint64)."""
    if not parts:
        return np.empty(0, np.uint64), np.empty(0, np.uint64)
    if len(parts) == 1:
        return parts[0][0], parts[0][1].astype(np.uint64)
    keys = np.concatenate([p[0] for p in parts])
    counts = np.concatenate([p[1] for p in parts])
    order = np.argsort(keys, kind="stable")
    return _sum_sorted(keys[order], counts[order])


def count_histogram(counts: np.ndarray) -> dict[int, int]:
    """count → number of distinct k-mers with that count."""
    low = counts[counts < 1 << 16]  # bincount for the bulk, unique for the rare high counts
    dense = np.bincount(low.astype(np.int64)) if len(low) else np.zeros(0, np.int64)
    out = {int(c): int(dense[c]) for c in np.flatnonzero(dense)}
    if len(low) < len(counts):
        values, nums = np.unique(counts[counts >= 1 << 16], return_counts=True)
        out.update({int(v): int(n) for v, n in zip(values, nums)})
    return out
