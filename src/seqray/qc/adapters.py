"""Adapter trimming as fastp 0.23.2 does it: by a known sequence (-a), and for pairs by
overlap analysis (the mates of a short insert read into each other's adapter); and
fastp's base correction in that overlap (-c).

Numba functions over read windows `[b, b + n)` of the batch buffers, like `qc.trim`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_COMPLEMENT = np.full(256, ord("N"), np.uint8)
for _a, _b in zip(b"ACGTacgt", b"TGCATGCA"):
    _COMPLEMENT[_a] = _b


@njit(cache=True, nogil=True)
def adapter_cut(seq, b, n, adapter, match_req=4):
    """fastp's trimBySequence: the length to keep when `adapter` is found (Hamming distance,
    one mismatch allowed per 8 compared bases), else `n`. The search starts up to 4 bases
    before the read (an adapter dimer whose first base was lost to A-tailing) and stops
    `match_req` bases before its end."""
    return max(adapter_pos(seq, b, n, adapter, match_req), 0)


@njit(cache=True, nogil=True)
def adapter_pos(seq, b, n, adapter, match_req=4):
    """Where `adapter_cut` finds the adapter, relative to the read: -4..-1 when it starts
    before the read (fastp then counts `adapter[:len + pos]` as trimmed), else `n`."""
    alen = len(adapter)
    if alen < match_req:
        return n
    start = 0
    if alen >= 16:
        start = -4
    elif alen >= 12:
        start = -3
    elif alen >= 8:
        start = -2
    pos = start
    while pos < n - match_req:
        cmplen = min(n - pos, alen)
        allowed = cmplen // 8
        mismatch = 0
        matched = True
        for i in range(max(0, -pos), cmplen):
            if adapter[i] != seq[b + i + pos]:
                mismatch += 1
                if mismatch > allowed:
                    matched = False
                    break
        if matched:
            return pos
        pos += 1
    return n


@njit(cache=True, nogil=True)
def overlap(s1, b1, len1, s2, b2, len2, diff_limit, require, diff_fraction, complement):
    """fastp's OverlapAnalysis::analyze (no gaps): slides the reverse complement of read 2
    along read 1. Returns (overlapped, offset, overlap_len, diff); a negative offset means
    the insert is shorter than the reads."""
    offset = 0
    while offset < len1 - require:
        ol = min(len1 - offset, len2)
        limit = min(diff_limit, int(ol * diff_fraction))
        diff = 0
        i = 0
        while i < ol:
            if s1[b1 + offset + i] != complement[s2[b2 + len2 - 1 - i]]:
                diff += 1
                if diff > limit and i < 50:
                    break
            i += 1
        if diff <= limit or i > 50:
            return True, offset, ol, diff
        offset += 1
    offset = 0
    while offset > -(len2 - require):
        ol = min(len1, len2 + offset)
        limit = min(diff_limit, int(ol * diff_fraction))
        diff = 0
        i = 0
        while i < ol:
            if s1[b1 + i] != complement[s2[b2 + len2 - 1 - (i - offset)]]:
                diff += 1
                if diff > limit and i < 50:
                    break
            i += 1
        if diff <= limit or i > 50:
            return True, offset, ol, diff
        offset -= 1
    return False, 0, 0, 0


GOOD_QUAL = 30 + 33  # fastp's BaseCorrector: a base at Q30 or more ...
BAD_QUAL = 14 + 33  # ... overrules a mismatched one at Q14 or less


@njit(cache=True, nogil=True)
def correct_overlap(s1, q1, b1, len1, s2, q2, b2, len2, offset, ol, complement):
    """fastp's BaseCorrector (-c) on an overlap that `overlap` found: where the mates
    disagree and one base is at least Q30 while the other is at most Q14, the low base
    and its quality become the high one's (complemented for the other mate). Changes the
    buffers in place; returns (bases corrected, reads corrected: 0, 1 or 2)."""
    start1 = max(0, offset)
    start2 = len2 - max(0, -offset) - 1
    corrected = 0
    fixed1 = False
    fixed2 = False
    for i in range(ol):
        p1 = b1 + start1 + i
        p2 = b2 + start2 - i
        if s1[p1] == complement[s2[p2]]:
            continue
        if q1[p1] >= GOOD_QUAL and q2[p2] <= BAD_QUAL:
            s2[p2] = complement[s1[p1]]
            q2[p2] = q1[p1]
            corrected += 1
            fixed2 = True
        elif q2[p2] >= GOOD_QUAL and q1[p1] <= BAD_QUAL:
            s1[p1] = complement[s2[p2]]
            q1[p1] = q2[p2]
            corrected += 1
            fixed1 = True
    return corrected, int(fixed1) + int(fixed2)


def complement_table() -> np.ndarray:
    return _COMPLEMENT


@njit(cache=True, nogil=True)
def _piece_hashes(seq, adapter, cut_at, cut_len):  # pragma: no cover
    """64-bit FNV-1a of each cut piece (see `kernel.qc_single`), for counting them."""
    out = np.zeros(len(cut_len), np.uint64)
    for r in range(len(cut_len)):
        h = np.uint64(14695981039346656037)
        for i in range(cut_len[r]):
            c = seq[cut_at[r] + i] if cut_at[r] >= 0 else adapter[i]
            h = (h ^ np.uint64(c)) * np.uint64(1099511628211)
        out[r] = h ^ np.uint64(cut_len[r])
    return out


def cut_pieces(
    seq: np.ndarray, adapter: np.ndarray, cut_at: np.ndarray, cut_len: np.ndarray
) -> dict[str, int]:
    """What adapter trimming cut, as fastp's adapter counts: piece → reads (one Python
    step per distinct piece, not per read)."""
    cut = np.flatnonzero(cut_len >= 0)
    if not len(cut):
        return {}
    at, length = cut_at[cut], cut_len[cut]
    hashes = _piece_hashes(seq, adapter, at, length)
    _, first, counts = np.unique(hashes, return_index=True, return_counts=True)
    out: dict[str, int] = {}
    for i, c in zip(first.tolist(), counts.tolist()):
        a, n = int(at[i]), int(length[i])
        piece = (seq[a : a + n] if a >= 0 else adapter[:n]).tobytes().decode("latin-1")
        out[piece] = out.get(piece, 0) + c
    return out


def adapter_cutting(counts: dict[str, int], sequence: str) -> dict:
    """fastp 0.23.2's single-end `adapter_cutting` section: trimmed reads and bases, the
    adapter, and the cut pieces that are at least 1 % of them (shorter first, then in
    byte order), the rest as `others`."""
    total = sum(counts.values())
    shown: dict[str, int] = {}
    for piece in sorted(counts, key=lambda s: (len(s), s)):
        if counts[piece] / total >= 0.01:
            shown[piece] = counts[piece]
    if total - sum(shown.values()) > 0:
        shown["others"] = total - sum(shown.values())
    return {
        "adapter_trimmed_reads": total,
        "adapter_trimmed_bases": sum(len(s) * n for s, n in counts.items()),
        "read1_adapter_sequence": sequence,
        "read1_adapter_counts": shown,
    }
