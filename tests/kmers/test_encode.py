"""The encoding kernels against a slow pure-Python reference (hypothesis) and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqray.kmers.encode import (
    ACGT,
    canonical_codes,
    decode_kmers,
    encode_kmers,
    minimizers,
    reverse_complement_codes,
    valid_kmers,
    window_codes,
)

COMP = str.maketrans("ACGT", "TGCA")


def ref_code(s: str, order: str = "ACGT") -> int:
    c = 0
    for b in s:
        c = c * 4 + order.index(b)
    return c


def ref_windows(reads: list[str], k: int, canonical: bool, order: str = "ACGT"):
    codes, valid, offs = [], [], [0]
    for r in reads:
        for p in range(len(r) - k + 1):
            w = r[p : p + k].upper()
            ok = all(b in order for b in w)
            if not ok:
                codes.append(0)
            elif canonical:
                codes.append(min(ref_code(w), ref_code(w.translate(COMP)[::-1])))
            else:
                codes.append(ref_code(w, order))
            valid.append(ok)
        offs.append(len(codes))
    return codes, valid, offs


def buffers(reads: list[str]) -> tuple[np.ndarray, np.ndarray]:
    raw = "".join(reads).encode()
    offsets = np.zeros(len(reads) + 1, np.int64)
    np.cumsum([len(r) for r in reads], out=offsets[1:])
    return np.frombuffer(raw, np.uint8), offsets


reads_st = st.lists(st.text(alphabet="ACGTNacgtRY.", min_size=0, max_size=80), max_size=12)


@settings(max_examples=150, deadline=None)
@given(reads=reads_st, k=st.integers(1, 32), canonical=st.booleans())
def test_window_codes_match_reference(reads, k, canonical):
    values, offsets = buffers(reads)
    codes, valid, offs = window_codes(values, offsets, k, canonical=canonical)
    rc, rv, ro = ref_windows(reads, k, canonical)
    assert codes.dtype == np.uint64 and valid.dtype == np.bool_
    assert codes.tolist() == rc
    assert valid.tolist() == rv
    assert offs.tolist() == ro
    flat = valid_kmers(values, offsets, k, canonical=canonical)
    assert flat.tolist() == [c for c, v in zip(rc, rv) if v]


@settings(max_examples=60, deadline=None)
@given(reads=reads_st, k=st.integers(1, 32))
def test_custom_table_order(reads, k):
    """A table in DNABERT's A,T,C,G order gives that order's digits."""
    table = np.full(256, 4, np.uint8)
    for i, b in enumerate(b"ATCG"):
        table[b] = i
    values, offsets = buffers(reads)
    codes, valid, _ = window_codes(values, offsets, k, table=table)
    rc, rv, _ = ref_windows(
        [r.replace("a", "x").replace("c", "x").replace("g", "x").replace("t", "x") for r in reads],
        k,
        False,
        "ATCG",
    )
    assert valid.tolist() == rv
    assert codes.tolist() == rc


kmer_st = st.integers(1, 32).flatmap(
    lambda k: st.tuples(st.just(k), st.lists(st.text("ACGT", min_size=k, max_size=k), max_size=20))
)


@settings(max_examples=100, deadline=None)
@given(kk=kmer_st)
def test_round_trip_and_reverse_complement(kk):
    k, kmers = kk
    codes = encode_kmers(kmers, k)
    assert codes.tolist() == [ref_code(s) for s in kmers]
    assert decode_kmers(codes, k) == kmers
    rcs = [s.translate(COMP)[::-1] for s in kmers]
    assert decode_kmers(reverse_complement_codes(codes, k), k) == rcs
    assert decode_kmers(canonical_codes(codes, k), k) == [min(a, b) for a, b in zip(kmers, rcs)]


def test_by_hand():
    values, offsets = buffers(["ACGTN", "acgtt", "GA"])
    codes, valid, offs = window_codes(values, offsets, 3, canonical=True)
    # ACG; CGT -> rc ACG; GTN invalid; acg; cgt -> ACG; gtt -> rc AAC; "GA" is too short
    assert decode_kmers(codes[valid], 3) == ["ACG", "ACG", "ACG", "ACG", "AAC"]
    assert valid.tolist() == [True, True, False, True, True, True]
    assert offs.tolist() == [0, 3, 6, 6]
    assert ACGT[ord("a")] == 0 and ACGT[ord("T")] == 3 and ACGT[ord("N")] == 4


def test_k32_uses_all_bits():
    s = "T" * 32
    c = encode_kmers([s])
    assert c[0] == np.uint64(0xFFFFFFFFFFFFFFFF)
    assert reverse_complement_codes(c, 32)[0] == 0
    values, offsets = buffers(["G" + s])
    assert window_codes(values, offsets, 32)[0].tolist() == [ref_code("G" + s[:31]), 2**64 - 1]


def test_bad_arguments():
    with pytest.raises(ValueError, match="between 1 and 32"):
        encode_kmers(["A" * 33])
    with pytest.raises(ValueError, match="length 3"):
        encode_kmers(["ACG", "AC"])
    with pytest.raises(ValueError, match="other than A, C, G, T"):
        encode_kmers(["ACN"])


def _ref_order(x: int) -> int:
    m = (1 << 64) - 1
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & m
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & m
    return x ^ (x >> 31)


@settings(max_examples=100, deadline=None)
@given(reads=reads_st, k=st.integers(1, 12), w=st.integers(1, 8))
def test_minimizers_match_reference(reads, k, w):
    values, offsets = buffers(reads)
    codes, pos, offs = minimizers(values, offsets, k, w)
    rc, rv, ro = ref_windows(reads, k, True)
    exp_codes, exp_pos, exp_offs = [], [], [0]
    for i in range(len(reads)):
        a, b = ro[i], ro[i + 1]
        last = None
        for j in range(a + w - 1, b):
            win = range(j - w + 1, j + 1)
            if not all(rv[t] for t in win):
                continue
            best = min(win, key=lambda t: (_ref_order(rc[t]), t))
            if best != last:
                exp_codes.append(rc[best])
                exp_pos.append(best - a)
                last = best
        exp_offs.append(len(exp_codes))
    assert codes.tolist() == exp_codes
    assert pos.tolist() == exp_pos
    assert offs.tolist() == exp_offs
