"""2-bit k-mer encoding over Arrow buffers: the kernels every k-mer feature is built on.

A k-mer (k = 1..32) is a uint64 with its first base in the most significant used bits
(A=0, C=1, G=2, T=3), so codes sort like the strings. Windows are produced by a rolling
update per base, never by re-encoding a window; a window holding a byte the table maps to 4
or more (N, IUPAC, anything) is invalid and gets code 0. The canonical code of a k-mer is
the smaller of its code and its reverse complement's (jellyfish's and KMC's `-C`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from ..hashing import mix64

ACGT = np.full(256, 4, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    ACGT[_b] = _i
    ACGT[_b + 32] = _i  # lower case
ACGT.setflags(write=False)

MAX_K = 32
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_THREE = np.uint64(3)
_TWO = np.uint64(2)


def check_k(k: int) -> int:
    if not 1 <= int(k) <= MAX_K:
        raise ValueError(f"k must be between 1 and {MAX_K}, got {k}")
    return int(k)


@njit(cache=True, nogil=True, inline="always")
def _mask(k):
    # k = 32 uses all 64 bits: a shift by 64 is undefined, so that case is spelled out
    if k >= 32:
        return _ALL
    return (np.uint64(1) << np.uint64(2 * k)) - np.uint64(1)


def window_offsets(offsets: np.ndarray, k: int) -> np.ndarray:
    """int64[n+1]: where each read's windows start in the flat window arrays."""
    lens = np.diff(offsets.astype(np.int64, copy=False))
    n_win = np.maximum(lens - (k - 1), 0)
    out = np.zeros(len(lens) + 1, np.int64)
    np.cumsum(n_win, out=out[1:])
    return out


@njit(cache=True, nogil=True)
def _windows(values, offsets, k, canonical, table, win_offsets, codes, valid):
    mask = _mask(k)
    top = np.uint64(2 * (k - 1))
    for i in range(len(offsets) - 1):
        start = offsets[i]
        end = offsets[i + 1]
        if end - start < k:
            continue
        fwd = np.uint64(0)
        rev = np.uint64(0)
        run = 0  # valid bases ending here
        w = win_offsets[i]
        for j in range(start, end):
            c = table[values[j]]
            if c >= 4:
                run = 0
                c = 0
            else:
                run += 1
            cu = np.uint64(c)
            fwd = ((fwd << _TWO) | cu) & mask
            rev = (rev >> _TWO) | ((_THREE - cu) << top)
            if j - start >= k - 1:
                if run >= k:
                    valid[w] = True
                    if canonical and rev < fwd:
                        codes[w] = rev
                    else:
                        codes[w] = fwd
                else:
                    valid[w] = False
                    codes[w] = np.uint64(0)
                w += 1


def window_codes(
    values: np.ndarray,
    offsets: np.ndarray,
    k: int,
    canonical: bool = False,
    table: np.ndarray = ACGT,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every window of every read: (codes uint64, valid bool, win_offsets int64[n+1]).

    Read i's windows are `codes[win_offsets[i]:win_offsets[i+1]]`, one per start 0..L-k;
    reads shorter than k have none. `table` maps bytes to 2-bit codes (≥4 = invalid), so
    another alphabet order can be used; `canonical` is only meaningful with ACGT's order.
    """
    k = check_k(k)
    win = window_offsets(offsets, k)
    codes = np.empty(win[-1], np.uint64)
    valid = np.empty(win[-1], np.bool_)
    _windows(values, offsets.astype(np.int64, copy=False), k, canonical, table, win, codes, valid)
    return codes, valid, win


@njit(cache=True, nogil=True)
def _valid_windows(values, offsets, k, canonical, table, out):
    mask = _mask(k)
    top = np.uint64(2 * (k - 1))
    n = 0
    for i in range(len(offsets) - 1):
        start = offsets[i]
        end = offsets[i + 1]
        if end - start < k:
            continue
        fwd = np.uint64(0)
        rev = np.uint64(0)
        run = 0
        for j in range(start, end):
            c = table[values[j]]
            if c >= 4:
                run = 0
                continue  # the next k valid bases overwrite the whole state
            run += 1
            cu = np.uint64(c)
            fwd = ((fwd << _TWO) | cu) & mask
            rev = (rev >> _TWO) | ((_THREE - cu) << top)
            if run >= k:
                if canonical and rev < fwd:
                    out[n] = rev
                else:
                    out[n] = fwd
                n += 1
    return n


def valid_kmers(
    values: np.ndarray, offsets: np.ndarray, k: int, canonical: bool = True
) -> np.ndarray:
    """The codes of the valid windows only, flat, in read and position order."""
    k = check_k(k)
    total = int(window_offsets(offsets, k)[-1])
    out = np.empty(total, np.uint64)
    n = _valid_windows(values, offsets.astype(np.int64, copy=False), k, canonical, ACGT, out)
    return out[:n]


@njit(cache=True, nogil=True, inline="always")
def revcomp_code(x, k):
    """Reverse complement of one code (callable from other Numba kernels)."""
    x = ~x  # complement: A<->T (0<->3), C<->G (1<->2)
    # reverse the order of the 32 two-bit groups, then drop the unused low groups
    x = ((x >> np.uint64(2)) & np.uint64(0x3333333333333333)) | (
        (x & np.uint64(0x3333333333333333)) << np.uint64(2)
    )
    x = ((x >> np.uint64(4)) & np.uint64(0x0F0F0F0F0F0F0F0F)) | (
        (x & np.uint64(0x0F0F0F0F0F0F0F0F)) << np.uint64(4)
    )
    x = ((x >> np.uint64(8)) & np.uint64(0x00FF00FF00FF00FF)) | (
        (x & np.uint64(0x00FF00FF00FF00FF)) << np.uint64(8)
    )
    x = ((x >> np.uint64(16)) & np.uint64(0x0000FFFF0000FFFF)) | (
        (x & np.uint64(0x0000FFFF0000FFFF)) << np.uint64(16)
    )
    x = (x >> np.uint64(32)) | (x << np.uint64(32))
    return x >> np.uint64(64 - 2 * k)


@njit(cache=True, nogil=True)
def _revcomp(codes, k, out):
    for i in range(len(codes)):
        out[i] = revcomp_code(codes[i], k)


def reverse_complement_codes(codes: np.ndarray, k: int) -> np.ndarray:
    """The codes of the reverse complements."""
    k = check_k(k)
    codes = np.ascontiguousarray(codes, dtype=np.uint64)
    out = np.empty_like(codes)
    _revcomp(codes, k, out)
    return out


def canonical_codes(codes: np.ndarray, k: int) -> np.ndarray:
    """min(code, reverse complement) of each code."""
    codes = np.ascontiguousarray(codes, dtype=np.uint64)
    return np.minimum(codes, reverse_complement_codes(codes, k))


def encode_kmers(kmers: Sequence[str], k: int | None = None) -> np.ndarray:
    """Codes of k-mer strings (ACGT, either case); all must have length k."""
    if k is None:
        if not len(kmers):
            return np.empty(0, np.uint64)
        k = len(kmers[0])
    k = check_k(k)
    raw = "".join(kmers).encode("ascii", "replace")
    arr = np.frombuffer(raw, np.uint8)
    if len(arr) != k * len(kmers) or any(len(s) != k for s in kmers):
        bad = next(s for s in kmers if len(s) != k)
        raise ValueError(f"k-mer {bad!r} does not have length {k}")
    digits = ACGT[arr].reshape(len(kmers), k)
    if (digits >= 4).any():
        row = int(np.flatnonzero((digits >= 4).any(axis=1))[0])
        raise ValueError(f"k-mer {kmers[row]!r} has a base other than A, C, G, T")
    codes = np.zeros(len(kmers), np.uint64)
    for j in range(k):  # k vectorised steps, not a loop per k-mer
        codes = (codes << np.uint64(2)) | digits[:, j].astype(np.uint64)
    return codes


def decode_kmers(codes: np.ndarray, k: int) -> list[str]:
    """k-mer strings of codes."""
    k = check_k(k)
    return [s.decode("ascii") for s in decode_bytes(codes, k)]


def decode_bytes(codes: np.ndarray, k: int) -> np.ndarray:
    """An `S{k}` array of the k-mers' ASCII bytes (for Arrow columns without Python loops)."""
    k = check_k(k)
    codes = np.asarray(codes, dtype=np.uint64)
    shifts = np.arange(2 * (k - 1), -1, -2, dtype=np.uint64)
    digits = ((codes[:, None] >> shifts[None, :]) & np.uint64(3)).astype(np.uint8)
    letters = np.frombuffer(b"ACGT", np.uint8)[digits]
    return np.ascontiguousarray(letters).view(f"S{k}").reshape(len(codes))


@njit(cache=True, nogil=True)
def _minimizers(codes, valid, win_offsets, w, out_codes, out_pos, out_offsets):
    n = 0
    for i in range(len(win_offsets) - 1):
        a = win_offsets[i]
        b = win_offsets[i + 1]
        last = -1
        run = 0  # valid k-mers ending here
        best = -1
        for j in range(a, b):
            run = run + 1 if valid[j] else 0
            if run < w:
                continue
            lo = j - w + 1
            if best < lo:  # the minimum left the window: scan it again
                best = lo
                for t in range(lo + 1, j + 1):
                    if mix64(codes[t]) < mix64(codes[best]):
                        best = t
            elif mix64(codes[j]) < mix64(codes[best]):
                best = j
            if best != last:
                out_codes[n] = codes[best]
                out_pos[n] = best - a
                n += 1
                last = best
        out_offsets[i + 1] = n
    return n


def minimizers(
    values: np.ndarray, offsets: np.ndarray, k: int, w: int, canonical: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(w, k)-minimizers of every read: (codes, positions in the read, offsets int64[n+1]).

    In each run of w consecutive valid k-mers the one whose `mix64` is smallest (so poly-A
    and other low codes are not favoured; the leftmost on ties) is selected; a k-mer
    selected by successive windows appears once.
    Windows touching an invalid k-mer select nothing."""
    k = check_k(k)
    if w < 1:
        raise ValueError(f"w must be at least 1, got {w}")
    codes, valid, win = window_codes(values, offsets, k, canonical)
    out_codes = np.empty(len(codes), np.uint64)
    out_pos = np.empty(len(codes), np.int64)
    out_offsets = np.zeros(len(win), np.int64)
    n = _minimizers(codes, valid, win, w, out_codes, out_pos, out_offsets)
    return out_codes[:n], out_pos[:n], out_offsets
