"""The `qc` stage's `merged` branch: fastp 0.23.2's merging of overlapping pairs
(`-m/--merge`, `--merged_out`, `--include_unmerged`).

After the whole trimming chain (poly-X and -b/-B included), a pair whose mates are both
left is analysed for overlap again (fastp's `OverlapAnalysis::analyze`, with the
`--overlap_*` limits). An overlapping pair becomes one read: read 1 up to the end of the
overlap (its bases and qualities, so in the overlap read 1's are kept), then, where the
insert is longer than read 1 reaches, the rest of read 2 reverse-complemented. Its name
is read 1's with ` merged_<L1>_<L2>` appended (L1 bases from read 1, L2 from read 2). The
merged read goes through the filters once and counts for both mates (fastp's
`addFilterResult(result, 2)`); when it passes it is written to the merged file, and a
merged read that fails is written nowhere (not to `--failed_out` either).

A pair that does not merge goes on as a pair (out1/out2, `--failed_out` as usual); with
`--include_unmerged` its mates are filtered and counted one by one instead, and each
mate that passes is written to the merged file (read 1 then read 2), never to
out1/out2 or `--failed_out`.

The branch's rows are single reads in input order, so the file has the same bytes for
any chunk size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numba import njit

from ..io.buffers import values_offsets
from ..io.schema import NAME, NAME2, QUAL, SEQ, numeric_array
from .adapters import overlap
from .failed import _binary, _string, unpaired
from .filters import PASSED
from .kernel import P_OV_DIFF, P_OV_DIFF_PCT, P_OV_REQUIRE, _filter

MERGED = "merged"  # the branch of merged reads (fastp's --merged_out)

# what became of a pair (`merge_pairs`)
AS_PAIR = 0  # not merged: goes on as a pair
JOINED = 1  # merged into one read
SPLIT = 2  # not merged, --include_unmerged: its mates go to the merged file one by one


@njit(cache=True, nogil=True)
def merge_pairs(seq1, qual1, st1, en1, seq2, qual2, st2, en2, both, p, include_unmerged, comp):
    """Per pair: what became of it (`AS_PAIR`, `JOINED`, `SPLIT`), and for joined pairs
    the merged read's window [mst, men) into new buffers (mseq, mqual), how many of its
    bases came from read 1 and read 2 (L1, L2) and its filter reason.

    `st*/en*` are the mates' final windows and `both` says whether both are left
    (`qc_paired`); only those are analysed, as fastp does."""
    m = len(st1)
    kind = np.zeros(m, np.int8)
    mst = np.zeros(m, np.int64)
    men = np.zeros(m, np.int64)
    len1 = np.zeros(m, np.int64)
    len2 = np.zeros(m, np.int64)
    mreason = np.zeros(m, np.int8)
    total = 0
    for r in range(m):
        if both[r]:
            total += en1[r] - st1[r] + en2[r] - st2[r]
    mseq = np.empty(total, np.uint8)
    mqual = np.empty(total, np.uint8)
    frac = p[P_OV_DIFF_PCT] / 100.0
    pos = 0
    for r in range(m):
        if not both[r]:
            continue
        b1, n1 = st1[r], en1[r] - st1[r]
        b2, n2 = st2[r], en2[r] - st2[r]
        ok, off, ol, _ = overlap(
            seq1, b1, n1, seq2, b2, n2, p[P_OV_DIFF], p[P_OV_REQUIRE], frac, comp
        )
        if not ok:
            if include_unmerged:
                kind[r] = SPLIT
            continue
        kind[r] = JOINED
        a = ol + max(0, off)  # from read 1
        c = n2 - ol if off > 0 else 0  # from read 2, reverse-complemented
        mseq[pos : pos + a] = seq1[b1 : b1 + a]
        mqual[pos : pos + a] = qual1[b1 : b1 + a]
        for j in range(c):
            src = b2 + n2 - 1 - ol - j
            mseq[pos + a + j] = comp[seq2[src]]
            mqual[pos + a + j] = qual2[src]
        mst[r] = pos
        men[r] = pos + a + c
        len1[r] = a
        len2[r] = c
        mreason[r] = _filter(mseq, mqual, pos, a + c, True, p)
        pos += a + c
    return kind, mseq, mqual, mst, men, len1, len2, mreason


@njit(cache=True, nogil=True)
def gather3(v0, st0, en0, v1, st1, en1, v2, st2, en2, rows, src):
    """Copies window `rows[k]` of source `src[k]` (0, 1, 2: the buffers and windows of
    that number) for each k, in order, into one new value buffer: (values, offsets)."""
    total = 0
    for k in range(len(rows)):
        r = rows[k]
        if src[k] == 0:
            total += en0[r] - st0[r]
        elif src[k] == 1:
            total += en1[r] - st1[r]
        else:
            total += en2[r] - st2[r]
    out = np.empty(total, np.uint8)
    offs = np.empty(len(rows) + 1, np.int64)
    offs[0] = 0
    pos = 0
    for k in range(len(rows)):
        r = rows[k]
        if src[k] == 0:
            s, e = st0[r], en0[r]
            out[pos : pos + e - s] = v0[s:e]
        elif src[k] == 1:
            s, e = st1[r], en1[r]
            out[pos : pos + e - s] = v1[s:e]
        else:
            s, e = st2[r], en2[r]
            out[pos : pos + e - s] = v2[s:e]
        pos += e - s
        offs[k + 1] = pos
    return out, offs


@njit(cache=True, nogil=True, inline="always")
def _digits(x):
    d = 1
    while x >= 10:
        x //= 10
        d += 1
    return d


@njit(cache=True, nogil=True, inline="always")
def _put_int(out, pos, x):
    d = _digits(x)
    for i in range(d):
        out[pos + d - 1 - i] = 48 + x % 10
        x //= 10
    return pos + d


_SUFFIX = np.frombuffer(b" merged_", np.uint8)


@njit(cache=True, nogil=True)
def merged_names(n1, o1, n2, o2, rows, src, len1, len2, suffix):
    """Names of the branch's rows: source 0 (a merged read) read 1's name followed by
    ` merged_<L1>_<L2>`, source 1 read 1's, source 2 read 2's: (values, offsets)."""
    total = 0
    for k in range(len(rows)):
        r = rows[k]
        if src[k] == 2:
            total += o2[r + 1] - o2[r]
        else:
            total += o1[r + 1] - o1[r]
        if src[k] == 0:
            total += len(suffix) + _digits(len1[r]) + 1 + _digits(len2[r])
    out = np.empty(total, np.uint8)
    offs = np.empty(len(rows) + 1, np.int64)
    offs[0] = 0
    pos = 0
    for k in range(len(rows)):
        r = rows[k]
        if src[k] == 2:
            s, e = o2[r], o2[r + 1]
            out[pos : pos + e - s] = n2[s:e]
        else:
            s, e = o1[r], o1[r + 1]
            out[pos : pos + e - s] = n1[s:e]
        pos += e - s
        if src[k] == 0:
            out[pos : pos + len(suffix)] = suffix
            pos = _put_int(out, pos + len(suffix), len1[r])
            out[pos] = 95  # "_"
            pos = _put_int(out, pos + 1, len2[r])
        offs[k + 1] = pos
    return out, offs


@dataclass
class Merging:
    """A batch's pairs after merging (`merge_pairs`): per pair its `kind` and, for
    `JOINED` ones, the merged read's window [starts, ends) into (seq, qual), its bases
    from read 1 and read 2 (len1, len2) and its filter `reason`."""

    kind: np.ndarray
    seq: np.ndarray
    qual: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    len1: np.ndarray
    len2: np.ndarray
    reason: np.ndarray

    @classmethod
    def of(cls, windows: tuple, both, p, include_unmerged: bool, comp) -> Merging:
        """Merges the pairs of `windows` (seq1, qual1, st1, en1, seq2, qual2, st2, en2)
        whose mates are `both` left."""
        s1, q1, st1, en1, s2, q2, st2, en2 = windows
        out = merge_pairs(s1, q1, st1, en1, s2, q2, st2, en2, both, p, include_unmerged, comp)
        return cls(*out)

    def mate_outcomes(self, reason, why1, why2, windows: tuple) -> tuple:
        """Per mate, the reason each pair counts under and the end of its kept bases:
        a merged read's outcome for both mates (its bases: L1 for read 1, L2 for
        read 2), a `SPLIT` pair's mates their own, other pairs the pair's reason.
        Returns (reason1, end1, reason2, end2)."""
        st1, en1, st2, en2 = windows[2], windows[3], windows[6], windows[7]
        joined, split = self.kind == JOINED, self.kind == SPLIT
        t1 = np.where(joined, self.reason, np.where(split, why1, reason)).astype(np.int8)
        t2 = np.where(joined, self.reason, np.where(split, why2, reason)).astype(np.int8)
        e1 = np.where(joined, st1 + self.len1, en1)
        e2 = np.where(joined, st2 + self.len2, en2)
        return t1, e1, t2, e2

    def reads(self, table: pa.Table, why1, why2, windows: tuple) -> pa.Table:
        """The `merged` branch's rows for `table`'s pairs."""
        rows, src = branch_rows(self.kind, self.reason, why1, why2)
        return merged_reads(table, rows, src, self, windows)


def branch_rows(kind, mreason, why1, why2) -> tuple[np.ndarray, np.ndarray]:
    """The merged file's rows in input order: (pair row, source) with source 0 for a
    merged read that passed, 1 and 2 for the passing mates of a `SPLIT` pair."""
    split = kind == SPLIT
    parts = [
        (np.flatnonzero((kind == JOINED) & (mreason == PASSED)), 0),
        (np.flatnonzero(split & (why1 == PASSED)), 1),
        (np.flatnonzero(split & (why2 == PASSED)), 2),
    ]
    rows = np.concatenate([r for r, _ in parts]).astype(np.int64)
    src = np.concatenate([np.full(len(r), s, np.int8) for r, s in parts])
    order = np.lexsort((src, rows))
    return rows[order], src[order]


def merged_reads(table: pa.Table, rows, src, m: Merging, windows: tuple) -> pa.Table:
    """The branch's table: rows `rows` of `table` as single reads (`unpaired`), bases,
    qualities and names from source `src` (0: the merged read; 1, 2: a mate).
    `windows` are the mates' (seq1, qual1, st1, en1, seq2, qual2, st2, en2)."""
    mseq, mqual, mst, men, len1, len2 = m.seq, m.qual, m.starts, m.ends, m.len1, m.len2
    s1, q1, st1, en1, s2, q2, st2, en2 = windows
    n1, o1 = values_offsets(table.column(NAME))
    n2, o2 = values_offsets(table.column(NAME2))
    out = table.take(numeric_array(rows))
    out = out.select(unpaired(out.schema).names)
    seq = gather3(mseq, mst, men, s1, st1, en1, s2, st2, en2, rows, src)
    qual = gather3(mqual, mst, men, q1, st1, en1, q2, st2, en2, rows, src)
    names = merged_names(n1, o1, n2, o2, rows, src, len1, len2, _SUFFIX)
    for col, arr in ((NAME, _string(*names)), (SEQ, _binary(*seq)), (QUAL, _binary(*qual))):
        i = out.schema.get_field_index(col)
        out = out.set_column(i, out.schema.field(i), arr)
    return out
