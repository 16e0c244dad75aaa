"""Spectrum-based substitution correction of reads against a trusted k-mer set.

The idea of Lighter, BFC and Musket, in our own kernel. Per read:

1. Mark each k-mer window trusted or not (canonical lookup in the `TrustedSet`).
2. Anchor on the longest run of trusted windows. Extending to the right, the first untrusted
   window i after a trusted one differs from it by one new base, p = i + k - 1: that base is
   the suspect. Extending to the left, symmetrically, p = i.
3. Try the three other bases at p (four for an N) and count, for each, how many of the
   windows holding p become trusted in a row. The best base wins if it beats every other
   candidate strictly and reaches the bar: every window holding p for a base whose quality is
   at least `high_quality` (a confident base needs full evidence), at least `min_support`
   windows otherwise. A fix makes window i trusted and the extension goes on.
4. When no single base wins because a second error p2 lies within k of p (adjacent errors,
   or two confident errors whose windows overlap), a candidate's run stops at the first
   window holding p2. Then the bases at p2 are tried with each such candidate: the pair
   that makes the most windows trusted in a row wins if it beats every other pair and every
   single base strictly and reaches both bases' bars, each counted from the first window
   holding that base. Both bases are fixed at once.
5. When still nothing wins, the error may be up to `BACKTRACK` bases before p, its first
   windows trusted anyway (a k-mer of a repeat): each such base is tried in turn; it must
   keep those windows trusted and reach its bar over the windows from i on. Else the
   extension jumps to the next trusted window (a genuine k-mer below the threshold, a
   cluster of errors) and closes the gap from that side; what stays untrusted makes the
   read uncorrectable.
6. More than `max_fixes` fixes within any `fix_window` bases means the read does not come
   from the trusted genome (or is too damaged): its fixes are dropped.

Reads never change length; pairs are corrected mate by mate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numba import njit

from ..io.buffers import values_offsets
from .encode import ACGT, revcomp_code
from .trusted import TrustedSet, contains

CLEAN, CORRECTED, UNCORRECTABLE = 0, 1, 2
BACKTRACK = 4  # bases before a suspect tried when it cannot be fixed
_LETTERS = np.frombuffer(b"ACGT", np.uint8)


@dataclass(frozen=True)
class CorrectionParams:
    high_quality: int = 30  # Phred score at which a base needs every window to agree
    min_support: int = 2  # windows a low-quality base's fix must make trusted
    max_fixes: int = 4  # at most this many fixes ...
    fix_window: int = 20  # ... within any this many bases


@njit(cache=True, nogil=True, inline="always")
def _window_trusted(d, w, k, slots, has_empty):
    """Whether the k-mer at w of digit array d is valid and trusted."""
    code = np.uint64(0)
    for j in range(w, w + k):
        c = d[j]
        if c >= 4:
            return False
        code = (code << np.uint64(2)) | np.uint64(c)
    rc = revcomp_code(code, k)
    if rc < code:
        code = rc
    return contains(slots, has_empty, code)


@njit(cache=True, nogil=True, inline="always")
def _need(quals, q0, has_qual, p, hq, full, min_support):
    if has_qual and quals[q0 + p] < hq:
        return min(full, min_support)
    return full


@njit(cache=True, nogil=True)
def _run(d, first, last, step, k, slots, has_empty):
    """How many windows first, first+step, ... last are trusted in a row."""
    n = 0
    w = first
    while True:
        if not _window_trusted(d, w, k, slots, has_empty):
            break
        n += 1
        if w == last:
            break
        w += step
    return n


@njit(cache=True, nogil=True)
def _try_fix(rd, p, first, last, step, need, runs):
    """The fix of base p from windows first, first+step, ... last (all the windows holding p):
    (base at p, p2 or -1, base there). A single base wins if it makes more windows trusted
    in a row than every other candidate and reaches `need`. Else, for each base whose run
    stops at a window inside the span, that window's new base p2 (a second error within k
    of p) is tried too: a pair wins if its run beats every other candidate's strictly,
    reaches `need` and, counted from the first window holding p2, p2's own bar."""
    d, nw, k, slots, has_empty = rd[0], rd[2], rd[3], rd[4], rd[5]
    quals, q0, has_qual, hq, ms = rd[6], rd[7], rd[8], rd[9], rd[10]
    orig = d[p]
    full = abs(last - first) + 1
    best, best_n, second_n = -1, 0, 0
    for alt in range(4):
        runs[alt] = 0
        if alt == orig:
            continue
        d[p] = alt
        n = _run(d, first, last, step, k, slots, has_empty)
        runs[alt] = n
        if n > best_n:
            second_n = best_n
            best, best_n = alt, n
        elif n > second_n:
            second_n = n
    d[p] = orig
    if best_n >= need and best_n > second_n:
        return best, -1, -1
    # pairs: p and the new base of the window where a candidate's run stops (a chain of three
    # was tried too: on S. aureus 30x at k = 21 it made more false fixes than it fixed)
    pb, pp2, pb2, pn, pneed, p_second = -1, -1, -1, 0, 0, 0
    for alt in range(4):
        n1 = runs[alt]
        if n1 == 0 or n1 >= full:
            continue
        p2 = p + n1 * step
        last2 = min(p2, nw - 1) if step > 0 else max(p2 - k + 1, 0)
        w2 = first + n1 * step  # the first window holding p2
        need2 = max(need, n1 + _need(quals, q0, has_qual, p2, hq, abs(last2 - w2) + 1, ms))
        orig2 = d[p2]
        d[p] = alt
        for alt2 in range(4):
            if alt2 == orig2:
                continue
            d[p2] = alt2
            n = _run(d, first, last2, step, k, slots, has_empty)
            if n > pn:
                p_second = pn
                pb, pp2, pb2, pn, pneed = alt, p2, alt2, n, need2
            elif n > p_second:
                p_second = n
        d[p2] = orig2
        d[p] = orig
    if pb < 0 or pn < pneed or pn <= p_second:
        return -1, -1, -1
    for alt in range(4):  # ... and beats every single base's run
        if alt != pb and runs[alt] >= pn:
            return -1, -1, -1
    return pb, pp2, pb2


@njit(cache=True, nogil=True)
def _fix_allowed(fixes, n_fixes, p, max_fixes, fix_window):
    near = 1
    for f in range(n_fixes):
        if abs(fixes[f] - p) < fix_window:
            near += 1
    return near <= max_fixes


@njit(cache=True, nogil=True)
def _fix_at(rd, p, first, last, step, need):
    """Tries to fix base p from windows first..last; 1 fixed, 0 no fix, -1 over the bound."""
    d, t, nw, k, slots, has_empty = rd[0], rd[1], rd[2], rd[3], rd[4], rd[5]
    fixes, nf, limits, runs = rd[11], rd[12], rd[13], rd[14]
    alt, p2, alt2 = _try_fix(rd, p, first, last, step, need, runs)
    if alt < 0:
        return 0
    for q, b in ((p, alt), (p2, alt2)):
        if q < 0:
            break
        if not _fix_allowed(fixes, nf[0], q, limits[0], limits[1]):
            return -1
        d[q] = b
        fixes[nf[0]] = q
        nf[0] += 1
        if q != p:
            last = min(q, nw - 1) if step > 0 else max(q - k + 1, 0)
    lo, hi = min(first, last), max(first, last)
    for x in range(lo, hi + 1):
        t[x] = _window_trusted(d, x, k, slots, has_empty)
    return 1


@njit(cache=True, nogil=True, inline="always")
def _fixed(fixes, n_fixes, p):
    for f in range(n_fixes):
        if fixes[f] == p:
            return True
    return False


@njit(cache=True, nogil=True)
def _pass(rd, w, stop, step):
    """Extends trust from window w towards `stop` (inclusive) one window at a time; returns
    (window reached, 0 done / 1 no fix at that window / -1 over the fix bound). `rd` is the
    read's state, as `_correct_kernel` packs it."""
    t, nw, k = rd[1], rd[2], rd[3]
    quals, q0, has_qual, hq, ms = rd[6], rd[7], rd[8], rd[9], rd[10]
    while (w <= stop) if step > 0 else (w >= stop):
        if t[w]:
            w += step
            continue
        if step > 0:  # the window's new base is its last one
            p = w + k - 1
            last = min(p, nw - 1)
            full = last - w + 1
        else:  # ... or its first one
            p = w
            last = max(p - k + 1, 0)
            full = w - last + 1
        need = _need(quals, q0, has_qual, p, hq, full, ms)
        r = _fix_at(rd, p, w, last, step, need)
        # no fix: the error may be a base or a few before p whose first windows are trusted
        # anyway (a k-mer of a repeat); such a base must keep those windows trusted and
        # reach its bar over the windows from w on
        j = 1
        while r == 0 and j <= BACKTRACK and 0 <= w - j * step < nw:
            p1 = p - j * step
            if not _fixed(rd[11], rd[12][0], p1):
                last1 = min(p1, nw - 1) if step > 0 else max(p1 - k + 1, 0)
                need1 = j + _need(quals, q0, has_qual, p1, hq, abs(last1 - w) + 1, ms)
                r = _fix_at(rd, p1, w - j * step, last1, step, need1)
            j += 1
        if r != 1:
            return w, (1 if r == 0 else -1)
        w += step
    return w, 0


@njit(cache=True, nogil=True)
def _extend(rd, w, step):
    """Extends from the anchor to the read's end in direction `step`; where a base cannot be
    fixed, closes the gap from the next trusted window backwards (a confident base followed
    closely by a second error is fixed once the second one is). False: over the fix bound."""
    t, nw = rd[1], rd[2]
    end = nw - 1 if step > 0 else 0
    while (w <= end) if step > 0 else (w >= end):
        w, r = _pass(rd, w, end, step)
        if r == -1:
            return False
        if r == 0:
            break
        j = w + step
        while 0 <= j < nw and not t[j]:
            j += step
        if not 0 <= j < nw:
            break
        _, r = _pass(rd, j - step, w, -step)
        if r == -1:
            return False
        w = j
    return True


@njit(cache=True, nogil=True)
def _correct_kernel(
    values,
    offsets,
    quals,
    qoffsets,
    has_qual,
    k,
    slots,
    has_empty,
    high_quality,
    min_support,
    max_fixes,
    fix_window,
    table,
    out,
    changed,
    status,
):
    n = len(offsets) - 1
    max_len = 0
    for i in range(n):
        max_len = max(max_len, offsets[i + 1] - offsets[i])
    d = np.empty(max_len, np.uint8)
    t = np.zeros(max(max_len - k + 1, 1), np.bool_)
    fixes = np.empty(max_len, np.int64)
    nf = np.zeros(1, np.int64)
    lim = np.array([max_fixes, fix_window], np.int64)
    runs = np.zeros(4, np.int64)
    hq = high_quality + 33
    mask = np.uint64(0xFFFFFFFFFFFFFFFF)
    if k < 32:
        mask = (np.uint64(1) << np.uint64(2 * k)) - np.uint64(1)
    for i in range(n):
        start = offsets[i]
        L = offsets[i + 1] - start
        changed[i] = 0
        status[i] = CLEAN
        if L < k:
            continue
        nw = L - k + 1
        for j in range(L):
            d[j] = table[values[start + j]]
        # 1. trusted windows (rolling codes) and the longest trusted run
        fwd = np.uint64(0)
        run = 0
        n_trusted = 0
        best_a, best_len, cur_a = -1, 0, 0
        for j in range(L):
            c = d[j]
            if c >= 4:
                run = 0
                c = 0
            else:
                run += 1
            fwd = ((fwd << np.uint64(2)) | np.uint64(c)) & mask
            if j >= k - 1:
                w = j - k + 1
                ok = False
                if run >= k:
                    rc = revcomp_code(fwd, k)
                    ok = contains(slots, has_empty, rc if rc < fwd else fwd)
                t[w] = ok
                if ok:
                    n_trusted += 1
                    if w == 0 or not t[w - 1]:
                        cur_a = w
                    if w - cur_a + 1 > best_len:
                        best_a, best_len = cur_a, w - cur_a + 1
        if n_trusted == nw:
            continue
        if n_trusted == 0:
            status[i] = UNCORRECTABLE
            continue
        # 2-5. extend right, then left, from the anchor
        nf[0] = 0
        q0 = qoffsets[i]
        rd = (
            d,
            t,
            nw,
            k,
            slots,
            has_empty,
            quals,
            q0,
            has_qual,
            hq,
            min_support,
            fixes,
            nf,
            lim,
            runs,
        )
        ok = True
        for step in (1, -1):
            if ok:
                ok = _extend(rd, best_a + best_len if step > 0 else best_a - 1, step)
        if not ok:
            status[i] = UNCORRECTABLE
            continue
        for f in range(nf[0]):
            p = fixes[f]
            out[start + p] = _LETTERS[d[p]]
        changed[i] = nf[0]
        status[i] = CORRECTED if nf[0] else UNCORRECTABLE
        for w in range(nw):
            if not t[w]:
                status[i] = UNCORRECTABLE
                break


def correct_arrays(
    values: np.ndarray,
    offsets: np.ndarray,
    quals: np.ndarray | None,
    qoffsets: np.ndarray | None,
    trusted: TrustedSet,
    params: CorrectionParams = CorrectionParams(),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(corrected values, bases changed int32 per read, status int8 per read) of reads given
    as flat buffers; offsets are unchanged (substitutions only)."""
    n = len(offsets) - 1
    out = values.copy()
    changed = np.zeros(n, np.int32)
    status = np.zeros(n, np.int8)
    has_qual = quals is not None
    if quals is None:
        quals, qoffsets = np.empty(0, np.uint8), np.zeros(n + 1, np.int64)
    elif qoffsets is None:
        raise ValueError("correct_arrays: quals given without their offsets")
    _correct_kernel(
        values,
        offsets.astype(np.int64, copy=False),
        quals,
        qoffsets.astype(np.int64, copy=False),
        has_qual,
        trusted.k,
        trusted.slots,
        trusted.has_empty,
        params.high_quality,
        params.min_support,
        params.max_fixes,
        params.fix_window,
        ACGT,
        out,
        changed,
        status,
    )
    return out, changed, status


def correct_column(
    seq: pa.Array | pa.ChunkedArray,
    qual: pa.Array | pa.ChunkedArray | None,
    trusted: TrustedSet,
    params: CorrectionParams = CorrectionParams(),
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """A corrected `seq` column (large_binary, same lengths) with per-read changes and status."""
    values, offsets = values_offsets(seq)
    quals = qoffsets = None
    if qual is not None and qual.null_count < len(qual):
        if qual.null_count:
            raise ValueError("a batch mixes reads with and without qualities")
        quals, qoffsets = values_offsets(qual)
    out, changed, status = correct_arrays(values, offsets, quals, qoffsets, trusted, params)
    column = pa.Array.from_buffers(
        pa.large_binary(), len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(out)]
    )
    return column, changed, status
