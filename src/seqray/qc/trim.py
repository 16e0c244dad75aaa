"""fastp's trimming steps as Numba functions over one read.

A read is a window `[b, b + n)` of the batch's value buffers (sequence and Phred+33
qualities). Each function returns the new window instead of copying bases, so the whole
trim-then-filter chain of a batch runs in one compiled loop (see `qc.kernel`) and bytes are
gathered once, for the reads that pass. The definitions follow fastp 0.23.2 exactly,
including its edge cases (docs/qc.md lists them); the hand-computed and property tests in
tests/qc/test_trim.py pin them.
"""

from __future__ import annotations

from numba import njit

N_BASE = 78  # 'N'
G_BASE = 71  # 'G'
NULL = -1  # a read that trimming removed completely (fastp returns NULL)


@njit(cache=True, nogil=True)
def trim_and_cut(seq, qual, b, n, front, tail, cut5, w5, q5, cut3, w3, q3, cutr, wr, qr):
    """fastp's trimAndCut: -f/-t fixed trims, then the -5/-r/-3 sliding-window cuts.

    Returns (front, length) relative to `b`, or (NULL, 0) when the read is dropped.
    Window means are compared as doubles with the Phred+33 threshold, as fastp does;
    a window that passes -5 is itself cut (fastp moves past it), then leading Ns go too."""
    if front == 0 and tail == 0 and not cut5 and not cut3 and not cutr:
        return 0, n
    rlen = n - front - tail
    if rlen < 0:
        return NULL, 0
    if not cut5 and not cut3 and not cutr:
        return front, rlen
    if cut5:
        w = w5
        if n - front - tail - w <= 0:
            return NULL, 0
        total = 0
        for i in range(w - 1):
            total += qual[b + front + i]
        s = front
        while s + w < n - tail:
            total += qual[b + s + w - 1]
            if s > front:
                total -= qual[b + s - 1]
            if total / w >= 33 + q5:
                break
            s += 1
        if s > 0:
            s = s + w - 1
        while s < n and seq[b + s] == N_BASE:
            s += 1
        front = s
        rlen = n - front - tail
    if cutr:
        w = wr
        if n - front - tail - w <= 0:
            return NULL, 0
        total = 0
        for i in range(w - 1):
            total += qual[b + front + i]
        found = False
        s = front
        while s + w < n - tail:
            total += qual[b + s + w - 1]
            if s > front:
                total -= qual[b + s - 1]
            if total / w < 33 + qr:
                found = True
                break
            s += 1
        if found:
            while s < n - 1 and qual[b + s] >= 33 + qr:
                s += 1
            rlen = s - front
    if not cutr and cut3:
        w = w3
        if n - front - tail - w <= 0:
            return NULL, 0
        total = 0
        t = n - tail - 1
        for i in range(w - 1):
            total += qual[b + t - i]
        while t - w >= front:
            total += qual[b + t - w + 1]
            if t < n - tail - 1:
                total -= qual[b + t + 1]
            if total / w >= 33 + q3:
                break
            t -= 1
        if t < n - 1:
            t = t - w + 1
        while t >= 0 and seq[b + t] == N_BASE:
            t -= 1
        rlen = t - front + 1
    if rlen <= 0 or front >= n - 1:
        return NULL, 0
    return front, rlen


@njit(cache=True, nogil=True)
def poly_g_length(seq, b, n, min_len):
    """fastp's trimPolyG: the read's length after removing a 3' poly-G run of at least
    `min_len` bases (one mismatch allowed per 8 bases, at most 5)."""
    mismatch = 0
    first_g = n - 1
    i = 0
    while i < n:
        if seq[b + n - i - 1] != G_BASE:
            mismatch += 1
        else:
            first_g = n - i - 1
        allowed = (i + 1) // 8
        if mismatch > 5 or (mismatch > allowed and i >= min_len - 1):
            break
        i += 1
    if i >= min_len:
        return first_g
    return n


@njit(cache=True, nogil=True)
def poly_x_length(seq, b, n, min_len):
    """fastp's trimPolyX: the length after removing a 3' run of one base (A, T, C or G; N
    counts for all four; ties go to A, T, C, G in that order)."""
    counts = [0, 0, 0, 0]  # A T C G
    pos = 0
    while pos < n:
        c = seq[b + n - pos - 1]
        if c == 65:
            counts[0] += 1
        elif c == 84:
            counts[1] += 1
        elif c == 67:
            counts[2] += 1
        elif c == 71:
            counts[3] += 1
        elif c == N_BASE:
            for k in range(4):
                counts[k] += 1
        cmp = pos + 1
        allowed = min(5, cmp // 8)
        stop = True
        for k in range(4):
            if cmp - counts[k] <= allowed:
                stop = False
        if stop and (pos >= 8 or pos + 1 >= min_len - 1):
            break
        pos += 1
    if pos + 1 < min_len:
        return n
    best = 0
    for k in range(1, 4):
        if counts[k] > counts[best]:
            best = k
    base = (65, 84, 67, 71)[best]
    # fastp looks one byte before the read when the whole read is the run: never a match
    while pos >= 0 and (pos >= n or seq[b + n - pos - 1] != base):
        pos -= 1
    return n - pos - 1
