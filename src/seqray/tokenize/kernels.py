"""Numba kernels of the tokenizers that need no rolling k-mer code (nt6), and the step that
turns every-window k-mer codes (`seqray.kmers.encode.window_codes`) into token ids.

Each kernel takes a read column as (values uint8, offsets int64) and returns the ids of
all reads in one flat int32 array with per-read offsets: no per-read Python loop.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..hashing import mix64


@njit(cache=True, nogil=True)
def nt6_encode(values, offsets, digits, singles, kmer_base):
    """Nucleotide-Transformer tokens: each run of A/C/G/T is cut into 6-mers from its left
    end, the leftover (< 6 bases) and every other byte (N) become one-base tokens.

    digits: uint8[256] base → 0..3 in the vocabulary's k-mer order (≥ 4: not a base);
    singles: int32[256] one-base token ids (UNK for bytes outside the vocabulary).
    Returns (ids int32, token offsets int64[n+1], token starts int64: base offset in read)."""
    n = len(offsets) - 1
    tok_off = np.zeros(n + 1, dtype=np.int64)
    total = 0
    for r in range(n):
        i, end = offsets[r], offsets[r + 1]
        while i < end:
            if digits[values[i]] < 4:
                j = i
                while j < end and digits[values[j]] < 4:
                    j += 1
                run = j - i
                total += run // 6 + run % 6
                i = j
            else:
                total += 1
                i += 1
        tok_off[r + 1] = total
    ids = np.empty(total, dtype=np.int32)
    starts = np.empty(total, dtype=np.int64)
    t = 0
    for r in range(n):
        base, i, end = offsets[r], offsets[r], offsets[r + 1]
        while i < end:
            if digits[values[i]] < 4:
                j = i
                while j < end and digits[values[j]] < 4:
                    j += 1
                p = i
                while p + 6 <= j:
                    code = 0
                    for q in range(p, p + 6):
                        code = code * 4 + digits[values[q]]
                    ids[t] = kmer_base + code
                    starts[t] = p - base
                    t += 1
                    p += 6
                while p < j:
                    ids[t] = singles[values[p]]
                    starts[t] = p - base
                    t += 1
                    p += 1
                i = j
            else:
                ids[t] = singles[values[i]]
                starts[t] = i - base
                t += 1
                i += 1
    return ids, tok_off, starts


@njit(cache=True, nogil=True)
def kmer_ids(codes, valid, win_offsets, stride, base, unk, buckets):
    """Token ids of every `stride`-th window of each read: base + code (or base + hash of
    the code mod `buckets` when buckets > 0), `unk` where the window holds a non-base.
    Returns (ids int32, token offsets int64[n+1])."""
    n = len(win_offsets) - 1
    tok_off = np.zeros(n + 1, dtype=np.int64)
    for r in range(n):
        nw = win_offsets[r + 1] - win_offsets[r]
        tok_off[r + 1] = tok_off[r] + (nw + stride - 1) // stride
    ids = np.empty(tok_off[n], dtype=np.int32)
    nb = np.uint64(buckets)
    t = 0
    for r in range(n):
        for w in range(win_offsets[r], win_offsets[r + 1], stride):
            if not valid[w]:
                ids[t] = unk
            elif buckets > 0:
                ids[t] = base + np.int64(mix64(np.uint64(codes[w])) % nb)
            else:
                ids[t] = base + np.int64(codes[w])
            t += 1
    return ids, tok_off


@njit(cache=True, nogil=True)
def mark_used(ids, used):
    """Sets used[id] for every id (the distinct-token bitmap of the statistics)."""
    for i in range(len(ids)):
        used[ids[i]] = True


@njit(cache=True, nogil=True)
def count_equal(ids, value):
    c = 0
    for i in range(len(ids)):
        if ids[i] == value:
            c += 1
    return c
