"""Byte counts over spans of a buffer, eight bytes per 64-bit word (SWAR).

Numba widens every small-integer sum to 64 bits, so a loop that adds byte comparisons
works on 64-bit lanes: a few bytes per vector. Here each word holds eight byte lanes;
exact per-byte tests set the lane's top bit, and per-lane counters (at most 255 words per
flush) are summed once. The loops over words have no branches, so LLVM vectorises them
further. `words` is the buffer's bytes viewed as little-endian uint64 (its length rounded
down); a short span, or one reaching past the last whole word, is counted byte by byte.
"""

from __future__ import annotations

import numpy as np
from numba import njit

U = np.uint64
ONES = U(0x0101010101010101)
HIGH = U(0x8080808080808080)
LOW7 = U(0x7F7F7F7F7F7F7F7F)
UPPER = U(0xDFDFDFDFDFDFDFDF)  # clears bit 5: 'a'..'z' → 'A'..'Z' (exact for letters)
PAIRS = U(0x00FF00FF00FF00FF)
SUM16 = U(0x0001000100010001)
FLUSH = 255  # words per lane counter before it could overflow
SHORT = 64  # shorter spans are counted byte by byte (the word loops' set-up costs more)


def words_of(buf: np.ndarray) -> np.ndarray:
    """The whole 8-byte words of a uint8 buffer, as uint64 (a view, no copy)."""
    return buf[: len(buf) // 8 * 8].view(np.uint64)


@njit(cache=True, nogil=True, inline="always")
def _zero(y):
    """Top bit of each lane whose byte is 0 (exact: no borrow between lanes)."""
    return ~(((y & LOW7) + LOW7) | y) & HIGH


@njit(cache=True, nogil=True, inline="always")
def _at_least(x, add):
    """Top bit of each lane whose byte is >= t, where add = (128 - t) * ONES, 1 <= t <= 128."""
    return (((x & LOW7) + add) | x) & HIGH


@njit(cache=True, nogil=True, inline="always")
def _lanes(acc):
    """Sum of the eight byte lanes of a counter."""
    t = (acc & PAIRS) + ((acc >> U(8)) & PAIRS)
    return np.int64((t * SUM16) >> U(48))


@njit(cache=True, nogil=True, inline="always")
def _span_masks(s, e):
    """First and last word of [s, e) and the lane masks (top bits) of the bytes they hold."""
    w0 = s >> 3
    w1 = (e - 1) >> 3
    first = HIGH << U(8 * (s & 7))
    last = HIGH >> U(8 * (7 - ((e - 1) & 7)))
    if w0 == w1:
        first &= last
    return w0, w1, first, last


@njit(cache=True, nogil=True, inline="always")
def _dna_word(x, m):
    u = x & UPPER
    c = _zero(u ^ U(0x43) * ONES)
    g = _zero(u ^ U(0x47) * ONES)
    n = _zero(u ^ U(0x4E) * ONES)
    ok = c | g | n | _zero(u ^ U(0x41) * ONES) | _zero(u ^ U(0x54) * ONES)
    return ((c | g) & m) >> U(7), (n & m) >> U(7), m & ~ok


@njit(cache=True, nogil=True, inline="always")
def dna_span(buf, words, start, end):
    """(all bytes are A/C/G/T/N in either case, G+C count, N count) over buf[start:end]."""
    if end <= start:
        return True, 0, 0
    if end - start < SHORT or (end - 1) >> 3 >= len(words):  # short, or no whole last word
        other = 0
        gc = 0
        nn = 0
        for p in range(start, end):
            u = buf[p] & 0xDF
            g = (u == 71) | (u == 67)
            isn = u == 78
            other += ~(g | isn | (u == 65) | (u == 84)) & 1
            gc += g
            nn += isn
        return other == 0, gc, nn
    w0, w1, first, last = _span_masks(start, end)
    a, b, bad = _dna_word(words[w0], first)
    gc = _lanes(a)
    nn = _lanes(b)
    w = w0 + 1
    while w < w1:
        stop = min(w + FLUSH, w1)
        acc_gc = U(0)
        acc_n = U(0)
        for i in range(w, stop):
            a, b, o = _dna_word(words[i], HIGH)
            acc_gc += a
            acc_n += b
            bad |= o
        gc += _lanes(acc_gc)
        nn += _lanes(acc_n)
        w = stop
    if w1 > w0:
        a, b, o = _dna_word(words[w1], last)
        gc += _lanes(a)
        nn += _lanes(b)
        bad |= o
    return bad == 0, gc, nn


@njit(cache=True, nogil=True, inline="always")
def _qual_word(x, m, lo_add, q20_add, q30_add):
    bad = m & (~_at_least(x, lo_add) | _at_least(x, U(1) * ONES))  # < lo, or > 126
    return (_at_least(x, q20_add) & m) >> U(7), (_at_least(x, q30_add) & m) >> U(7), bad


@njit(cache=True, nogil=True, inline="always")
def qual_span(buf, words, start, end, offset):
    """(bytes outside [offset, '~'], bases with Q >= 20, with Q >= 30) over buf[start:end],
    offset 33 or 64. The count of bad bytes is only 0 or not (it is what callers test)."""
    if end <= start:
        return 0, 0, 0
    lo = np.int64(offset)
    if end - start < SHORT or (end - 1) >> 3 >= len(words):
        bad = 0
        a = 0
        b = 0
        for p in range(start, end):
            v = buf[p]
            bad += (v < lo) | (v > 126)
            a += v >= lo + 20
            b += v >= lo + 30
        return bad, a, b
    lo_add = U(128 - lo) * ONES
    q20_add = U(128 - lo - 20) * ONES
    q30_add = U(128 - lo - 30) * ONES
    w0, w1, first, last = _span_masks(start, end)
    x20, x30, bad = _qual_word(words[w0], first, lo_add, q20_add, q30_add)
    a = _lanes(x20)
    b = _lanes(x30)
    w = w0 + 1
    while w < w1:
        stop = min(w + FLUSH, w1)
        acc20 = U(0)
        acc30 = U(0)
        for i in range(w, stop):
            y20, y30, o = _qual_word(words[i], HIGH, lo_add, q20_add, q30_add)
            acc20 += y20
            acc30 += y30
            bad |= o
        a += _lanes(acc20)
        b += _lanes(acc30)
        w = stop
    if w1 > w0:
        y20, y30, o = _qual_word(words[w1], last, lo_add, q20_add, q30_add)
        a += _lanes(y20)
        b += _lanes(y30)
        bad |= o
    return np.int64(bad != 0), a, b
