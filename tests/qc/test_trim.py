"""Trimming kernels: hand-computed cases (including fastp's own unit-test reads and their
expected results), and hypothesis checks against slow Python references written from
fastp's definitions (string slicing, no shared code with the kernels)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from seqray.qc.adapters import adapter_cut, complement_table, overlap
from seqray.qc.trim import NULL, poly_g_length, poly_x_length, trim_and_cut


def _buf(s: str, pad: str = "") -> np.ndarray:
    return np.frombuffer((pad + s).encode(), np.uint8)


def _cut(seq, qual, front=0, tail=0, c5=(0, 4, 20), c3=(0, 4, 20), cr=(0, 4, 20)):
    """Kernel result as the kept (seq, qual), or None; the read sits at offset 3 of its buffer."""
    s, q = _buf(seq, "NNN"), _buf(qual, "###")
    f, n = trim_and_cut(s, q, 3, len(seq), front, tail, *c5, *c3, *cr)
    if f == NULL:
        return None
    return seq[f : f + n], qual[f : f + n]


# -- references from fastp's definitions ------------------------------------------------


def ref_cut(seq, qual, front, tail, c5, c3, cr):
    on5, w5, q5 = c5
    on3, w3, q3 = c3
    onr, wr, qr = cr
    n = len(seq)
    if not (front or tail or on5 or on3 or onr):
        return seq, qual
    rlen = n - front - tail
    if rlen < 0:
        return None
    if not (on5 or on3 or onr):
        return seq[front : front + rlen], qual[front : front + rlen]
    mean = [None] * (n + 1)  # mean Phred+33 of the window starting at i, per window size

    def win(i, w):
        return sum(ord(c) for c in qual[i : i + w]) / w

    if on5:
        if n - front - tail - w5 <= 0:
            return None
        s = front
        while s + w5 < n - tail and not win(s, w5) >= 33 + q5:
            s += 1
        if s > 0:
            s += w5 - 1
        while s < n and seq[s] == "N":
            s += 1
        front, rlen = s, n - s - tail
    if onr:
        if n - front - tail - wr <= 0:
            return None
        s = front
        while s + wr < n - tail and not win(s, wr) < 33 + qr:
            s += 1
        if s + wr < n - tail:
            while s < n - 1 and ord(qual[s]) >= 33 + qr:
                s += 1
            rlen = s - front
    if not onr and on3:
        if n - front - tail - w3 <= 0:
            return None
        t = n - tail - 1  # window ends at t
        while t - w3 >= front and not win(t - w3 + 1, w3) >= 33 + q3:
            t -= 1
        if t < n - 1:
            t -= w3 - 1
        while t >= 0 and seq[t] == "N":
            t -= 1
        rlen = t - front + 1
    del mean
    if rlen <= 0 or front >= n - 1:
        return None
    return seq[front : front + rlen], qual[front : front + rlen]


def ref_poly_g(seq, min_len):
    n = len(seq)
    mismatch, first_g = 0, n - 1
    for i in range(n):
        if seq[n - 1 - i] != "G":
            mismatch += 1
        else:
            first_g = n - 1 - i
        if mismatch > 5 or (mismatch > (i + 1) // 8 and i >= min_len - 1):
            break
    else:
        i = n
    return first_g if i >= min_len else n


def ref_poly_x(seq, min_len):
    n = len(seq)
    counts = dict.fromkeys("ATCG", 0)
    pos = 0
    while pos < n:
        c = seq[n - 1 - pos]
        for b in "ATCG":
            counts[b] += c == b or c == "N"
        cmp = pos + 1
        if all(cmp - counts[b] > min(5, cmp // 8) for b in "ATCG") and (
            pos >= 8 or pos + 1 >= min_len - 1
        ):
            break
        pos += 1
    if pos + 1 < min_len:
        return n
    base = max("ATCG", key=lambda b: (counts[b], -"ATCG".index(b)))
    while pos >= 0 and (pos >= n or seq[n - 1 - pos] != base):
        pos -= 1
    return n - pos - 1


def ref_adapter(seq, adapter, match_req=4):
    n, a = len(seq), len(adapter)
    if a < match_req:
        return n
    start = -4 if a >= 16 else -3 if a >= 12 else -2 if a >= 8 else 0
    for pos in range(start, n - match_req):
        cmplen = min(n - pos, a)
        lo = max(0, -pos)
        mism = sum(adapter[i] != seq[i + pos] for i in range(lo, cmplen))
        if mism <= cmplen // 8:
            return max(pos, 0)
    return n


def ref_overlap(r1, r2, diff_limit=5, require=30, frac=0.2):
    rc2 = r2[::-1].translate(str.maketrans("ACGTN", "TGCAN"))
    n1, n2 = len(r1), len(rc2)

    def scan(pairs, ol):
        limit = min(diff_limit, int(ol * frac))
        diff = 0
        for i, (x, y) in enumerate(pairs):
            if x != y:
                diff += 1
                if diff > limit and i < 50:
                    return False, diff
        return diff <= limit or ol > 50, diff

    for off in range(0, n1 - require):
        ol = min(n1 - off, n2)
        ok, diff = scan(zip(r1[off : off + ol], rc2[:ol]), ol)
        if ok:
            return True, off, ol, diff
    off = 0
    while off > -(n2 - require):
        ol = min(n1, n2 + off)
        ok, diff = scan(zip(r1[:ol], rc2[-off : -off + ol]), ol)
        if ok:
            return True, off, ol, diff
        off -= 1
    return False, 0, 0, 0


# -- fastp's own unit-test cases ------------------------------------------------------


def test_fastp_filter_test_case():
    # fastp src/filter.cpp Filter::test(): -5 -3, window 4, mean 20, trim_tail 1
    seq = "TTTTAACCCCCCCCCCCCCCCCCCCCCCCCCCCCAATTTT"
    qual = "/////CCCCCCCCCCCC////CCCCCCCCCCCCCC////E"
    got = _cut(seq, qual, 0, 1, (1, 4, 20), (1, 4, 20))
    assert got == ("CCCCCCCCCCCCCCCCCCCCCCCCCCCC", "CCCCCCCCCCC////CCCCCCCCCCCCC")


def test_fastp_polyg_and_polyx_test_cases():
    s = "TTTTAACCCCCCCCCCCCCCCCCCCCCCCCCCCCAAGGGGGGGGGGGGGGGGGAGG"
    assert s[: poly_g_length(_buf(s), 0, len(s), 10)] == "TTTTAACCCCCCCCCCCCCCCCCCCCCCCCCCCCAA"
    x = "ATTTTAAAAAAAAAATAAAAAAAAAAAAACAAAAAAAAAAAAAAAAAAAAAAAAAT"
    assert x[: poly_x_length(_buf(x), 0, len(x), 10)] == "ATTTT"


def test_fastp_adapter_test_case():
    s = "TTTTAACCCCCCCCCCCCCCCCCCCCCCCCCCCCAATTTTAAAATTTTCCCCGGGG"
    a = "TTTTCCACGGGGATACTACTG"
    assert s[: adapter_cut(_buf(s), 0, len(s), _buf(a), 4)] == s[:44]


def test_fastp_overlap_test_case():
    r1 = "CAGCGCCTACGGGCCCCTTTTTCTGCGCGACCGCGTGGCTGTGGGCGCGGATGCCTTTGAGCGCGGTGACTTCTCACTGCGTATCGAGC"
    r2 = "ACCTCCAGCGGCTCGATACGCAGTGAGAAGTCACCGCGCTCAAAGGCATCCGCGCCCACAGCCACGCGGTCGCGCAGAAAAAGGGGTCC"
    got = overlap(_buf(r1), 0, len(r1), _buf(r2), 0, len(r2), 2, 30, 0.2, complement_table())
    assert got == (True, 10, 79, 1)


# -- hand-computed cases ----------------------------------------------------------------


def test_fixed_trims_and_null():
    assert _cut("ACGTACGT", "IIIIIIII", 2, 1) == ("GTACG", "IIIII")
    assert _cut("ACG", "III", 2, 2) is None  # longer trims than the read
    assert _cut("ACG", "III", 2, 1) == ("", "")  # empty, filtered later as too short


def test_cut_front_drops_low_window_and_leading_n():
    # window means (Phred+33): s=0 35, s=1 44.5, s=2 54 ≥ 33+20 → front = 2+3 = 5, then the
    # N at 5 goes too
    seq, qual = "ACGTANCGTACGTA", "####" + "I" * 10
    assert _cut(seq, qual, c5=(1, 4, 20)) == ("CGTACGTA", "I" * 8)
    # the first window passes: nothing is cut
    assert _cut(seq, "I" * 14, c5=(1, 4, 20)) == (seq, "I" * 14)


def test_cut_right_stops_at_first_bad_window():
    seq = "ACGTACGTACGTACGTACGT"
    qual = "IIIIIIIIII####IIIIII"
    # first window with mean < 20 starts at 7 ("III#"... no: 7..10 = "III#" mean ≥ 20)
    got = _cut(seq, qual, cr=(1, 4, 20))
    assert got == ref_cut(seq, qual, 0, 0, (0, 4, 20), (0, 4, 20), (1, 4, 20))
    assert got[0] == seq[:10]


def test_poly_g_needs_min_len():
    # the scan stops at the 2nd mismatch (allowed: 1 per 8); a run shorter than 10 stays
    assert poly_g_length(_buf("ACTT" + "G" * 8), 0, 12, 10) == 12
    assert poly_g_length(_buf("ACTT" + "G" * 10), 0, 14, 10) == 4
    # one mismatch inside the run is absorbed: trimmed back to the first G of the run
    assert poly_g_length(_buf("ACGT" + "G" * 9), 0, 13, 10) == 2


def test_adapter_dimer_before_the_read():
    a = "AGATCGGAAGAGCACACG"  # 18 bases: search starts 4 before the read
    read = a[2:] + "TTTT"
    assert adapter_cut(_buf(read), 0, len(read), _buf(a), 4) == 0


# -- property tests against the references ------------------------------------------------

bases = st.text("ACGTN", min_size=0, max_size=60)
quals = st.text("#+05:?DIJ", min_size=60, max_size=60)
cuts = st.tuples(st.integers(0, 1), st.integers(1, 8), st.integers(5, 35))


@settings(max_examples=400, deadline=None)
@given(bases, quals, st.integers(0, 5), st.integers(0, 5), cuts, cuts, cuts)
def test_trim_and_cut_matches_reference(seq, qual, front, tail, c5, c3, cr):
    qual = qual[: len(seq)]
    assert _cut(seq, qual, front, tail, c5, c3, cr) == ref_cut(seq, qual, front, tail, c5, c3, cr)


@settings(max_examples=400, deadline=None)
@given(st.text("GGGGGGACTN", max_size=60), st.integers(1, 15))
def test_poly_g_matches_reference(seq, min_len):
    assert poly_g_length(_buf(seq, "G"), 1, len(seq), min_len) == ref_poly_g(seq, min_len)


@settings(max_examples=400, deadline=None)
@given(st.text("AAAAAACGTN", max_size=60), st.integers(1, 15))
def test_poly_x_matches_reference(seq, min_len):
    assert poly_x_length(_buf(seq, "A"), 1, len(seq), min_len) == ref_poly_x(seq, min_len)


@settings(max_examples=400, deadline=None)
@given(bases, st.text("ACGT", min_size=0, max_size=24), st.integers(0, 40))
def test_adapter_matches_reference(seq, adapter, at):
    read = seq[:at] + adapter + seq[at:]
    got = adapter_cut(_buf(read, "AC"), 2, len(read), _buf(adapter), 4)
    assert got == ref_adapter(read, adapter)


@settings(max_examples=300, deadline=None)
@given(st.text("ACGT", min_size=40, max_size=90), st.integers(0, 40), st.integers(0, 40))
def test_overlap_matches_reference(insert, cut1, cut2):
    comp = str.maketrans("ACGT", "TGCA")
    r1 = insert[cut1:] + "AGATCGGAAG"
    r2 = insert[: len(insert) - cut2].translate(comp)[::-1] + "AGATCGGAAG"
    got = overlap(_buf(r1), 0, len(r1), _buf(r2), 0, len(r2), 5, 30, 0.2, complement_table())
    assert tuple(got) == ref_overlap(r1, r2)
