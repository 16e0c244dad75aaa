"""The per-batch QC loop: fastp's trim-then-filter chain for every read in one Numba call,
and the gather that copies the kept windows into new Arrow buffers.

Order (fastp 0.23.2 seprocessor/peprocessor): -f/-t and the -5/-r/-3 cuts → poly-G →
(pairs: overlap analysis, base correction in the overlap with -c, overlap-based adapter
trimming, else) adapter by sequence → poly-X → -b max length → filters. A pair is kept
only when both mates pass; its reason is the worse mate's.

A read's window is what fastp holds in the end: the trimmed read, or the raw read when
trimming removed it whole (fastp's NULL) — what `--failed_out` writes for failing reads.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .adapters import adapter_cut, adapter_pos, correct_overlap, overlap
from .filters import DUPLICATED, pass_filter
from .trim import NULL, poly_g_length, poly_x_length, trim_and_cut

# indices into the int64 parameter vector (`QcConfig.kernel_params`)
(
    P_FRONT1,
    P_TAIL1,
    P_FRONT2,
    P_TAIL2,
    P_CUT5,
    P_W5,
    P_Q5,
    P_CUT3,
    P_W3,
    P_Q3,
    P_CUTR,
    P_WR,
    P_QR,
    P_POLYG,
    P_POLYG_MIN,
    P_POLYX,
    P_POLYX_MIN,
    P_ADAPTER,
    P_MAXLEN1,
    P_MAXLEN2,
    P_QUAL_FILTER,
    P_QUALIFIED,
    P_UNQUAL_PCT,
    P_AVG_QUAL,
    P_N_LIMIT,
    P_LEN_FILTER,
    P_LEN_REQUIRED,
    P_LEN_LIMIT,
    P_COMPLEXITY,
    P_COMPLEXITY_PCT,
    P_OV_REQUIRE,
    P_OV_DIFF,
    P_OV_DIFF_PCT,
    P_INSERT_SIZES,
    P_CORRECT,
    P_MERGE,
    P_ADAPTER_TALLY,
    N_PARAMS,
) = range(38)

INSERT_SIZE_MAX = 512  # fastp's insertSizeMax: the histogram's last slot counts "unknown"


@njit(cache=True, nogil=True, inline="always")
def _cut(seq, qual, b, n, front, tail, p):
    return trim_and_cut(
        seq, qual, b, n, front, tail,
        p[P_CUT5], p[P_W5], p[P_Q5], p[P_CUT3], p[P_W3], p[P_Q3], p[P_CUTR], p[P_WR], p[P_QR],
    )  # fmt: skip


@njit(cache=True, nogil=True, inline="always")
def _after_adapter(seq, b, n, maxlen, p):
    if p[P_POLYX]:
        n = poly_x_length(seq, b, n, p[P_POLYX_MIN])
    if maxlen > 0 and maxlen < n:
        n = maxlen
    return n


@njit(cache=True, nogil=True, inline="always")
def _filter(seq, qual, b, n, alive, p):
    return pass_filter(
        seq, qual, b, n, alive,
        p[P_QUAL_FILTER], p[P_QUALIFIED], p[P_UNQUAL_PCT], p[P_AVG_QUAL], p[P_N_LIMIT],
        p[P_LEN_FILTER], p[P_LEN_REQUIRED], p[P_LEN_LIMIT], p[P_COMPLEXITY], p[P_COMPLEXITY_PCT],
    )  # fmt: skip


@njit(cache=True, nogil=True)
def qc_single(seq, qual, offs, dup, p, adapter):
    """Per read: start and end of the kept window (into `seq`) and the reason code; and
    what adapter trimming cut (fastp's adapter counts, with `P_ADAPTER_TALLY`: then
    duplicates are trimmed too, as fastp trims them): `cut_len` -1 where nothing was cut,
    else the piece `seq[cut_at:cut_at + cut_len]`, or `adapter[:cut_len]` where `cut_at`
    is -1 (the adapter started before the read)."""
    m = len(offs) - 1
    starts = np.empty(m, np.int64)
    ends = np.empty(m, np.int64)
    reason = np.empty(m, np.int8)
    cut_at = np.full(m, -1, np.int64)
    cut_len = np.full(m, -1, np.int64)
    tally = p[P_ADAPTER_TALLY]
    for r in range(m):
        b = offs[r]
        n = offs[r + 1] - b
        if dup[r] and not tally:
            starts[r] = b
            ends[r] = b
            reason[r] = DUPLICATED
            continue
        raw = n
        f, n = _cut(seq, qual, b, n, p[P_FRONT1], p[P_TAIL1], p)
        alive = f != NULL
        if alive:
            b += f
            if p[P_POLYG]:
                n = poly_g_length(seq, b, n, p[P_POLYG_MIN])
            if p[P_ADAPTER] and len(adapter):
                pos = adapter_pos(seq, b, n, adapter, 4)
                if pos < n:
                    if pos < 0:
                        cut_len[r] = len(adapter) + pos
                    else:
                        cut_at[r] = b + pos
                        cut_len[r] = n - pos
                n = max(pos, 0)
            n = _after_adapter(seq, b, n, p[P_MAXLEN1], p)
        else:
            n = raw
        if dup[r]:
            starts[r] = offs[r]
            ends[r] = offs[r]
            reason[r] = DUPLICATED
            continue
        starts[r] = b
        ends[r] = b + n
        reason[r] = _filter(seq, qual, b, n, alive, p)
    return starts, ends, reason, cut_at, cut_len


@njit(cache=True, nogil=True)
def qc_paired(seq1, qual1, offs1, seq2, qual2, offs2, dup, p, adapter1, adapter2, complement):
    """Pairs: windows of both mates, the pair's reason (the larger fastp code) and each
    mate's own, what -c corrected ([reads, bases], fastp's counters), fastp's insert
    size estimate (`statInsertSize`; -1 where a mate was trimmed away), and whether both
    mates are left (not duplicates, neither trimmed away: what fastp may merge). With -c the
    buffers must be writable copies: corrected bases are written into them.

    With `P_INSERT_SIZES` the insert size comes from the overlap analysis after the -f/-t
    cuts and poly-G, as in fastp, for every pair with both mates left, duplicates included
    (fastp marks a duplicate but still trims it); without overlap it is `INSERT_SIZE_MAX`
    (unknown). Duplicates are skipped at once unless insert sizes are asked for or -c is
    on (fastp still corrects, and counts, a duplicate); their windows are empty, except
    when merging (`P_MERGE`): fastp merges a duplicate pair like any other, so it is
    trimmed whole and keeps its windows (its reason stays `DUPLICATED`)."""
    m = len(offs1) - 1
    st1 = np.empty(m, np.int64)
    en1 = np.empty(m, np.int64)
    st2 = np.empty(m, np.int64)
    en2 = np.empty(m, np.int64)
    reason = np.empty(m, np.int8)
    reason1 = np.empty(m, np.int8)
    reason2 = np.empty(m, np.int8)
    corrected = np.zeros(2, np.int64)
    isize = np.full(m, -1, np.int64)
    both = np.zeros(m, np.bool_)
    frac = p[P_OV_DIFF_PCT] / 100.0
    for r in range(m):
        b1 = offs1[r]
        n1 = offs1[r + 1] - b1
        b2 = offs2[r]
        n2 = offs2[r + 1] - b2
        if dup[r] and not (p[P_INSERT_SIZES] or p[P_CORRECT] or p[P_MERGE]):
            st1[r] = en1[r] = b1
            st2[r] = en2[r] = b2
            reason[r] = reason1[r] = reason2[r] = DUPLICATED
            continue
        raw1 = n1
        raw2 = n2
        f1, n1 = _cut(seq1, qual1, b1, n1, p[P_FRONT1], p[P_TAIL1], p)
        f2, n2 = _cut(seq2, qual2, b2, n2, p[P_FRONT2], p[P_TAIL2], p)
        alive1 = f1 != NULL
        alive2 = f2 != NULL
        if alive1:
            b1 += f1
        else:
            n1 = raw1
        if alive2:
            b2 += f2
        else:
            n2 = raw2
        if alive1 and alive2:
            if p[P_POLYG]:
                n1 = poly_g_length(seq1, b1, n1, p[P_POLYG_MIN])
                n2 = poly_g_length(seq2, b2, n2, p[P_POLYG_MIN])
            ok, off, ol, diff = False, 0, 0, 0
            if p[P_ADAPTER] or p[P_CORRECT] or p[P_INSERT_SIZES]:
                ok, off, ol, diff = overlap(
                    seq1, b1, n1, seq2, b2, n2, p[P_OV_DIFF], p[P_OV_REQUIRE], frac, complement
                )
            if p[P_INSERT_SIZES]:
                isize[r] = insert_size(ok, off, ol, n1, n2, f1, f2)
            if p[P_CORRECT] and ok and diff > 0:
                bases, reads = correct_overlap(
                    seq1, qual1, b1, n1, seq2, qual2, b2, n2, off, ol, complement
                )
                corrected[0] += reads
                corrected[1] += bases
            if p[P_ADAPTER] and (p[P_MERGE] or not dup[r]):
                if ok and off < 0:
                    n1 = min(n1, ol + f2)
                    n2 = min(n2, ol + f1)
                else:
                    if len(adapter1):
                        n1 = adapter_cut(seq1, b1, n1, adapter1, 4)
                    if len(adapter2):
                        n2 = adapter_cut(seq2, b2, n2, adapter2, 4)
            n1 = _after_adapter(seq1, b1, n1, p[P_MAXLEN1], p)
            n2 = _after_adapter(seq2, b2, n2, p[P_MAXLEN2], p)
        both[r] = alive1 and alive2
        if dup[r] and p[P_MERGE]:  # fastp merges duplicates too (and writes them)
            st1[r], en1[r], st2[r], en2[r] = b1, b1 + n1, b2, b2 + n2
            reason[r] = reason1[r] = reason2[r] = DUPLICATED
            continue
        if dup[r]:
            both[r] = False
            st1[r] = en1[r] = offs1[r]
            st2[r] = en2[r] = offs2[r]
            reason[r] = reason1[r] = reason2[r] = DUPLICATED
            continue
        st1[r] = b1
        en1[r] = b1 + n1
        st2[r] = b2
        en2[r] = b2 + n2
        reason1[r] = _filter(seq1, qual1, b1, n1, alive1, p)
        reason2[r] = _filter(seq2, qual2, b2, n2, alive2, p)
        reason[r] = max(reason1[r], reason2[r])
    return st1, en1, st2, en2, reason, reason1, reason2, corrected, isize, both


@njit(cache=True, nogil=True, inline="always")
def insert_size(overlapped, offset, overlap_len, n1, n2, front1, front2):
    """fastp's statInsertSize: from the overlap of the (cut) mates, plus what -f/-5 cut
    off their fronts; INSERT_SIZE_MAX when they do not overlap or the insert is longer."""
    if not overlapped:
        return INSERT_SIZE_MAX
    if offset > 0:
        size = n1 + n2 - overlap_len + front1 + front2
    else:
        size = overlap_len + front1 + front2
    return min(size, INSERT_SIZE_MAX)


@njit(cache=True, nogil=True)
def gather(values, starts, ends, keep):
    """Copies the kept windows into one new value buffer; returns (values, offsets)."""
    total = 0
    k = 0
    for r in range(len(starts)):
        if keep[r]:
            total += ends[r] - starts[r]
            k += 1
    out = np.empty(total, np.uint8)
    offs = np.empty(k + 1, np.int64)
    offs[0] = 0
    j = 0
    pos = 0
    for r in range(len(starts)):
        if keep[r]:
            s = starts[r]
            e = ends[r]
            out[pos : pos + e - s] = values[s:e]
            pos += e - s
            j += 1
            offs[j] = pos
    return out, offs


@njit(cache=True, nogil=True)
def tally(reason, raw_offs, starts, ends, counts):
    """Adds reads, raw bases and kept bases per reason code into counts[code, 0:3]."""
    for r in range(len(reason)):
        c = reason[r]
        counts[c, 0] += 1
        counts[c, 1] += raw_offs[r + 1] - raw_offs[r]
        counts[c, 2] += ends[r] - starts[r]


@njit(cache=True, nogil=True)
def gather_tagged(v1, st1, en1, v2, st2, en2, rows, mates, tags, tag_values, tag_offs):
    """Copies window `rows[k]` of mate `mates[k]` (0: buffers v1/st1/en1, 1: v2/st2/en2)
    for each k, in order, into one new value buffer; where `tags[k]` >= 0 a space and tag
    number `tags[k]` of (tag_values, tag_offs) follow (fastp's `--failed_out` names).
    Returns (values, offsets)."""
    total = 0
    for k in range(len(rows)):
        r = rows[k]
        total += en1[r] - st1[r] if mates[k] == 0 else en2[r] - st2[r]
        if tags[k] >= 0:
            total += 1 + tag_offs[tags[k] + 1] - tag_offs[tags[k]]
    out = np.empty(total, np.uint8)
    offs = np.empty(len(rows) + 1, np.int64)
    offs[0] = 0
    pos = 0
    for k in range(len(rows)):
        r = rows[k]
        if mates[k] == 0:
            s, e = st1[r], en1[r]
            out[pos : pos + e - s] = v1[s:e]
        else:
            s, e = st2[r], en2[r]
            out[pos : pos + e - s] = v2[s:e]
        pos += e - s
        t = tags[k]
        if t >= 0:
            out[pos] = 32
            a, b = tag_offs[t], tag_offs[t + 1]
            out[pos + 1 : pos + 1 + b - a] = tag_values[a:b]
            pos += 1 + b - a
        offs[k + 1] = pos
    return out, offs
