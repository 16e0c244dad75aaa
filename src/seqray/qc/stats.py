"""Mergeable read statistics with seqkit's definitions (`seqkit stats -a`).

Lengths are kept as a histogram (length → count), so quartiles and N50 are exact without
holding one number per read, and two statistics objects merge with `+=`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from numba import njit

from ..io.buffers import values_offsets as _values_offsets
from ..io.schema import QUAL, QUAL2, SEQ, SEQ2


@njit(cache=True, nogil=True)
def _byte_counts(values, counts):
    """counts[b] += occurrences of byte b (np.bincount would first widen to intp).
    Four partial tables break the store-to-load chain on runs of one byte."""
    part = np.zeros((4, 256), dtype=np.int64)
    n4 = len(values) // 4 * 4
    for i in range(0, n4, 4):
        part[0, values[i]] += 1
        part[1, values[i + 1]] += 1
        part[2, values[i + 2]] += 1
        part[3, values[i + 3]] += 1
    for i in range(n4, len(values)):
        part[0, values[i]] += 1
    for b in range(256):
        counts[b] += part[0, b] + part[1, b] + part[2, b] + part[3, b]


@njit(cache=True, nogil=True)
def count_fields(buf, starts, ends, table, skip_newlines, counts):
    """Statistics straight from scanned text, without building columns: adds the
    normalised bytes of buf[starts[i]:ends[i]] (through `table`, as the reader would store
    them) to `counts` and returns (stored lengths, index of the first record holding a
    byte the reader would refuse, or -1)."""
    m = len(starts)
    lengths = np.empty(m, dtype=np.int64)
    c0 = np.zeros(256, dtype=np.int64)
    c1 = np.zeros(256, dtype=np.int64)
    c2 = np.zeros(256, dtype=np.int64)
    c3 = np.zeros(256, dtype=np.int64)
    for i in range(m):
        p = starts[i]
        e = ends[i]
        bad = 0
        if skip_newlines:
            n = 0
            while p < e:
                v = table[buf[p]]
                if v >= 0:
                    c0[v] += 1
                    n += 1
                elif v != -2:
                    bad = -1
                p += 1
        else:
            n = e - p
            while p + 3 < e:
                a = table[buf[p]]
                b = table[buf[p + 1]]
                c = table[buf[p + 2]]
                d = table[buf[p + 3]]
                bad |= a | b | c | d
                c0[a & 255] += 1
                c1[b & 255] += 1
                c2[c & 255] += 1
                c3[d & 255] += 1
                p += 4
            while p < e:
                a = table[buf[p]]
                bad |= a
                c0[a & 255] += 1
                p += 1
        if bad < 0:
            return lengths[:i], i
        lengths[i] = n
    for b in range(256):
        counts[b] += c0[b] + c1[b] + c2[b] + c3[b]
    return lengths, -1


@njit(cache=True, nogil=True)
def first_invalid(buf, starts, ends, table):
    """Index of the first record with a byte that `table` refuses, or -1."""
    for i in range(len(starts)):
        bad = 0
        for p in range(starts[i], ends[i]):
            bad |= table[buf[p]]
        if bad < 0:
            return i
    return -1


def stats_rows(per_file: dict[str, ReadStats], fmt: dict[str, str], kind: str) -> list[dict]:
    """seqkit-style rows: one per file, in the given order."""
    return [
        {"file": f, "format": fmt.get(f, ""), "type": kind if st.num_seqs else "", **st.as_dict()}
        for f, st in per_file.items()
    ]


@dataclass
class ReadStats:
    """Counts over reads (for pairs: over both mates, as seqkit on R1 and R2 together)."""

    num_seqs: int = 0
    sum_len: int = 0
    lengths: dict[int, int] = field(default_factory=dict)
    base_counts: np.ndarray = field(default_factory=lambda: np.zeros(256, dtype=np.int64))
    qual_counts: np.ndarray = field(default_factory=lambda: np.zeros(256, dtype=np.int64))
    has_qual: bool = False

    def add_table(self, table: pa.Table) -> None:
        for seq, qual in ((SEQ, QUAL), (SEQ2, QUAL2)):
            if seq in table.column_names:
                self._add(table.column(seq), table.column(qual))

    def add_lengths(self, lens: np.ndarray) -> None:
        self.num_seqs += len(lens)
        self.sum_len += int(lens.sum())
        if len(lens):
            u, c = np.unique(lens, return_counts=True)
            for length, count in zip(u.tolist(), c.tolist()):
                self.lengths[length] = self.lengths.get(length, 0) + count

    def _add(self, seqs, quals) -> None:
        values, offsets = _values_offsets(seqs)
        self.add_lengths(np.diff(offsets))
        _byte_counts(values, self.base_counts)
        if quals.null_count < len(quals):
            self.has_qual = True
            qv, _ = _values_offsets(quals)
            _byte_counts(qv, self.qual_counts)

    def __iadd__(self, other: ReadStats) -> ReadStats:
        self.num_seqs += other.num_seqs
        self.sum_len += other.sum_len
        for length, count in other.lengths.items():
            self.lengths[length] = self.lengths.get(length, 0) + count
        self.base_counts += other.base_counts
        self.qual_counts += other.qual_counts
        self.has_qual |= other.has_qual
        return self

    # -- derived numbers ---------------------------------------------------------------
    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        keys = np.array(sorted(self.lengths), dtype=np.int64)
        counts = np.array([self.lengths[k] for k in keys.tolist()], dtype=np.int64)
        return keys, counts

    def _kth(self, keys, cum, k: int) -> int:
        """The k-th smallest length (0-based)."""
        return int(keys[np.searchsorted(cum, k, side="right")])

    def _median(self, keys, cum, lo: int, hi: int) -> float:
        """Median of the sorted lengths [lo, hi) (0-based ranks)."""
        n = hi - lo
        if n <= 0:
            return 0.0
        if n % 2:
            return float(self._kth(keys, cum, lo + n // 2))
        return (self._kth(keys, cum, lo + n // 2 - 1) + self._kth(keys, cum, lo + n // 2)) / 2

    def quartiles(self) -> tuple[float, float, float]:
        n = self.num_seqs
        if n == 0:
            return 0.0, 0.0, 0.0
        keys, counts = self._sorted()
        cum = np.cumsum(counts)
        q2 = self._median(keys, cum, 0, n)
        if n % 2:
            q1 = self._median(keys, cum, 0, n // 2 + 1)
            q3 = self._median(keys, cum, n // 2, n)
        else:
            q1 = self._median(keys, cum, 0, n // 2)
            q3 = self._median(keys, cum, n // 2, n)
        return q1, q2, q3

    def n50(self) -> int:
        if self.sum_len == 0:
            return 0
        keys, counts = self._sorted()
        keys, counts = keys[::-1], counts[::-1]
        cum = np.cumsum(keys * counts)
        return int(keys[np.searchsorted(cum, self.sum_len / 2, side="left")])

    def _pct(self, num: int, den: int) -> float:
        return 100.0 * num / den if den else 0.0

    def as_dict(self) -> dict:
        """seqkit's column names for the numbers both tools report."""
        q1, q2, q3 = self.quartiles()
        b = self.base_counts
        q = self.qual_counts
        gc = int(b[ord("G")] + b[ord("C")] + b[ord("g")] + b[ord("c")])
        total_q = int(q.sum())
        return {
            "num_seqs": self.num_seqs,
            "sum_len": self.sum_len,
            "min_len": min(self.lengths) if self.lengths else 0,
            "avg_len": round(self.sum_len / self.num_seqs, 1) if self.num_seqs else 0.0,
            "max_len": max(self.lengths) if self.lengths else 0,
            "Q1": q1,
            "Q2": q2,
            "Q3": q3,
            "N50": self.n50(),
            "Q20(%)": round(self._pct(int(q[33 + 20 :].sum()), total_q), 2)
            if self.has_qual
            else 0.0,
            "Q30(%)": round(self._pct(int(q[33 + 30 :].sum()), total_q), 2)
            if self.has_qual
            else 0.0,
            "GC(%)": round(self._pct(gc, self.sum_len), 2),
            "N(%)": round(self._pct(int(b[ord("N")]), self.sum_len), 2),
        }

    # -- persistence (journal / manifest) ------------------------------------------------
    def to_json(self) -> dict:
        return {
            "num_seqs": self.num_seqs,
            "sum_len": self.sum_len,
            "lengths": {str(k): v for k, v in sorted(self.lengths.items())},
            "base_counts": {str(i): int(c) for i, c in enumerate(self.base_counts) if c},
            "qual_counts": {str(i): int(c) for i, c in enumerate(self.qual_counts) if c},
            "has_qual": self.has_qual,
        }

    @classmethod
    def from_json(cls, d: dict) -> ReadStats:
        s = cls(num_seqs=d["num_seqs"], sum_len=d["sum_len"], has_qual=d["has_qual"])
        s.lengths = {int(k): v for k, v in d["lengths"].items()}
        for k, v in d["base_counts"].items():
            s.base_counts[int(k)] = v
        for k, v in d["qual_counts"].items():
            s.qual_counts[int(k)] = v
        return s
