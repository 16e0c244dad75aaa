"""Mergeable read statistics with seqkit's definitions (`seqkit stats -a`).

Lengths are kept as a histogram (length → count), so quartiles and N50 are exact without
holding one number per read, and two statistics objects merge with `+=`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from numba import njit

from ..io._swar import qual_span, words_of
from ..io.buffers import values_offsets as _values_offsets
from ..io.schema import QUAL, QUAL2, SEQ, SEQ2

IDENTITY = np.arange(256, dtype=np.int16)


@njit(cache=True, nogil=True)
def seq_counts(buf, starts, ends, table, skip_newlines):
    """Lengths, G+C and N counts of buf[starts[i]:ends[i]] as the reader stores them
    (through `table`), and the index of the first record with a refused byte (or -1).
    Sums of comparisons, no histogram: the loop vectorises."""
    m = len(starts)
    lengths = np.empty(m, dtype=np.int64)
    gc = 0
    nn = 0
    for i in range(m):
        bad = 0
        n = 0
        g = 0
        k = 0
        for p in range(starts[i], ends[i]):
            v = table[buf[p]]
            if skip_newlines and v == -2:
                continue
            bad |= v
            n += 1
            g += (v == 71) | (v == 67)
            k += v == 78
        if bad < 0:
            return lengths[:i], gc, nn, i
        lengths[i] = n
        gc += g
        nn += k
    return lengths, gc, nn, -1


@njit(cache=True, nogil=True)
def qual_counts(buf, words, starts, ends, offset):
    """Bases with quality ≥ 20 and ≥ 30, all quality bases, and the index of the first
    record with a byte outside [offset, '~'] (or -1)."""
    q20 = 0
    q30 = 0
    total = 0
    for i in range(len(starts)):
        bad, a, b = qual_span(buf, words, starts[i], ends[i], offset)
        if bad:
            return q20, q30, total, i
        q20 += a
        q30 += b
        total += ends[i] - starts[i]
    return q20, q30, total, -1


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
    gc: int = 0
    n_bases: int = 0
    q20: int = 0
    q30: int = 0
    qual_bases: int = 0
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

    def add_seqs(self, buf, starts, ends, table, skip_newlines: bool) -> int:
        """Adds sequences; returns the index of a record with a refused byte, or -1
        (then nothing was added)."""
        lens, gc, nn, bad = seq_counts(buf, starts, ends, table, skip_newlines)
        if bad < 0:
            self.add_lengths(lens)
            self.gc += gc
            self.n_bases += nn
        return bad

    def add_quals(self, buf, starts, ends, offset: int = 33) -> int:
        q20, q30, total, bad = qual_counts(buf, words_of(buf), starts, ends, offset)
        if bad < 0:
            self.q20 += q20
            self.q30 += q30
            self.qual_bases += total
            self.has_qual |= len(starts) > 0
        return bad

    def _add(self, seqs, quals) -> None:
        values, offsets = _values_offsets(seqs)
        self.add_seqs(values, offsets[:-1], offsets[1:], IDENTITY, False)
        if quals.null_count < len(quals):
            qv, qo = _values_offsets(quals)
            self.add_quals(qv, qo[:-1], qo[1:])

    def __iadd__(self, other: ReadStats) -> ReadStats:
        self.num_seqs += other.num_seqs
        self.sum_len += other.sum_len
        for length, count in other.lengths.items():
            self.lengths[length] = self.lengths.get(length, 0) + count
        for k in ("gc", "n_bases", "q20", "q30", "qual_bases"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
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
        qual = self.has_qual
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
            "Q20(%)": round(self._pct(self.q20, self.qual_bases), 2) if qual else 0.0,
            "Q30(%)": round(self._pct(self.q30, self.qual_bases), 2) if qual else 0.0,
            "GC(%)": round(self._pct(self.gc, self.sum_len), 2),
            "N(%)": round(self._pct(self.n_bases, self.sum_len), 2),
        }

    # -- persistence (journal / manifest) ------------------------------------------------
    _COUNTS = ("num_seqs", "sum_len", "gc", "n_bases", "q20", "q30", "qual_bases", "has_qual")

    def to_json(self) -> dict:
        d = {k: getattr(self, k) for k in self._COUNTS}
        d["lengths"] = {str(k): v for k, v in sorted(self.lengths.items())}
        return d

    @classmethod
    def from_json(cls, d: dict) -> ReadStats:
        s = cls(**{k: d[k] for k in cls._COUNTS})
        s.lengths = {int(k): v for k, v in d["lengths"].items()}
        return s
