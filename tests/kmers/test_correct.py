"""The correction kernel on hand-made reads from a random genome: what it must fix, what it
must leave alone (error-free reads, foreign reads, reads over the fix bound)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from seqray.kmers.correct import (
    CLEAN,
    CORRECTED,
    UNCORRECTABLE,
    CorrectionParams,
    correct_column,
)
from seqray.kmers.encode import valid_kmers
from seqray.kmers.trusted import TrustedSet

K = 21
RNG = np.random.default_rng(7)
GENOME = bytes(np.frombuffer(b"ACGT", np.uint8)[RNG.integers(0, 4, 5000)])
COMP = bytes.maketrans(b"ACGT", b"TGCA")


def _trusted() -> TrustedSet:
    arr = np.frombuffer(GENOME, np.uint8)
    return TrustedSet.from_codes(K, valid_kmers(arr, np.array([0, len(arr)]), K))


TRUSTED = _trusted()


def _correct(seqs: list[bytes], quals: list[bytes] | None = None, **params):
    col = pa.array(seqs, pa.large_binary())
    q = None if quals is None else pa.array(quals, pa.large_binary())
    out, changed, status = correct_column(col, q, TRUSTED, CorrectionParams(**params))
    return out.to_pylist(), changed.tolist(), status.tolist()


def _sub(read: bytes, pos: int) -> bytes:
    """The read with a different base at pos."""
    b = read[pos : pos + 1]
    alt = b"C" if b != b"C" else b"G"
    return read[:pos] + alt + read[pos + 1 :]


def test_single_errors_anywhere_are_fixed_whatever_the_quality():
    read = GENOME[1000:1150]
    for pos in (0, 1, 20, 75, 129, 148, 149):
        for q in (b"#", b"I"):  # Q2 and Q40
            qual = b"I" * 150
            qual = qual[:pos] + q + qual[pos + 1 :]
            out, changed, status = _correct([_sub(read, pos)], [qual])
            assert out == [read], (pos, q)
            assert changed == [1] and status == [CORRECTED]


def test_reverse_strand_reads_use_canonical_kmers():
    read = GENOME[2000:2100].translate(COMP)[::-1]
    out, changed, status = _correct([_sub(read, 50)])
    assert out == [read] and changed == [1]


def test_close_errors_low_then_high_quality():
    read = GENOME[300:450]
    bad = _sub(_sub(read, 86), 93)
    qual = bytearray(b"I" * 150)
    qual[93] = ord("(")  # the second error is the doubtful one
    out, changed, _ = _correct([bad], [bytes(qual)])
    assert out == [read] and changed == [2]


def test_n_is_fixed_and_fasta_reads_work():
    read = GENOME[10:110]
    with_n = read[:40] + b"N" + read[41:]
    out, changed, status = _correct([with_n], None)
    assert out == [read] and changed == [1] and status == [CORRECTED]


def test_clean_foreign_short_and_empty_reads_are_left_alone():
    clean = GENOME[4000:4150]
    foreign = bytes(np.frombuffer(b"ACGT", np.uint8)[RNG.integers(0, 4, 150)])
    short = GENOME[: K - 1]
    out, changed, status = _correct([clean, foreign, short, b""])
    assert out == [clean, foreign, short, b""]
    assert changed == [0, 0, 0, 0]
    assert status == [CLEAN, UNCORRECTABLE, CLEAN, CLEAN]


def test_too_many_fixes_in_a_window_drop_the_read_fixes():
    read = GENOME[500:650]
    bad = read
    for p in (100, 104, 108, 112, 116):  # 5 fixes within 20 bases
        bad = _sub(bad, p)
    out, changed, status = _correct([bad], [b"#" * 150])
    assert out == [bad] and changed == [0] and status == [UNCORRECTABLE]
    out, changed, status = _correct([bad], [b"#" * 150], max_fixes=5)
    assert out == [read] and changed == [5]


def test_high_quality_base_needs_every_window():
    # an error 3 bases from the end: only 3 windows hold it; a Q40 base is fixed only when
    # all three agree (they do here), a base no window supports stays
    read = GENOME[700:850]
    out, _, _ = _correct([_sub(read, 147)], [b"I" * 150])
    assert out == [read]


def test_adjacent_low_quality_errors_are_fixed_as_a_pair():
    # bases 81 and 82 both wrong at Q7: no single base makes two windows trusted (the second
    # window holding 81 also holds 82), the pair makes every window trusted
    read = GENOME[1200:1350]
    bad = _sub(_sub(read, 81), 82)
    qual = bytearray(b"I" * 150)
    qual[81] = qual[82] = ord("(")
    out, changed, status = _correct([bad], [bytes(qual)])
    assert out == [read] and changed == [2] and status == [CORRECTED]


def test_two_confident_errors_closer_than_k_are_fixed_as_a_pair():
    # Q40 errors 17 apart (k = 21): a single base at 99 makes 17 of its 21 windows trusted,
    # the last 4 also hold 116; from the right, symmetrically. Neither reaches the full bar
    # alone; the pair makes all 38 windows holding either base trusted
    read = GENOME[2500:2650]
    bad = _sub(_sub(read, 99), 116)
    out, changed, status = _correct([bad], [b"I" * 150])
    assert out == [read] and changed == [2] and status == [CORRECTED]


def test_pair_at_the_read_ends():
    for a in (0, 148):
        read = GENOME[3000:3150]
        bad = _sub(_sub(read, a), a + 1)
        out, changed, _ = _correct([bad], [b"I" * 150])
        assert out == [read] and changed == [2], a


def test_a_pair_needs_a_unique_best():
    # the same two errors where the genome holds both candidate pairs' k-mers: a read from
    # a region with two versions (a repeat with a difference) is not forced onto either
    read = GENOME[1200:1350]
    other = _sub(read, 82)
    bad = _sub(_sub(read, 81), 82)
    bad = bad[:82] + b"T" + bad[83:]
    if bad[82:83] in (read[82:83], other[82:83]):
        bad = bad[:82] + b"A" + bad[83:]
    two = TrustedSet.from_codes(
        K,
        np.concatenate(
            [
                TRUSTED.slots[TRUSTED.slots != np.iinfo(np.uint64).max],
                valid_kmers(np.frombuffer(other, np.uint8), np.array([0, 150]), K),
            ]
        ),
    )
    col = pa.array([bad], pa.large_binary())
    out, changed, _ = correct_column(col, pa.array([b"(" * 150], pa.large_binary()), two)
    assert out.to_pylist() == [bad] and changed.tolist() == [0]


def test_an_error_whose_first_window_is_a_repeat_kmer():
    # the window ending at the error (base 140) is trusted anyway: the genome holds that
    # erroneous 21-mer elsewhere. Extension stops at the next window, whose new base (141)
    # is right, and no trusted window follows to close the gap from; the base before it is
    # tried, and must keep window 120 trusted and make the 9 windows after it trusted
    read = GENOME[4200:4350]
    bad = _sub(read, 140)
    decoy = bad[120:141]
    arr = np.frombuffer(GENOME + b"A" * 5 + decoy, np.uint8)
    trusted = TrustedSet.from_codes(K, valid_kmers(arr, np.array([0, len(arr)]), K))
    col = pa.array([bad], pa.large_binary())
    qual = pa.array([b"I" * 150], pa.large_binary())
    out, changed, status = correct_column(col, qual, trusted)
    assert out.to_pylist() == [read] and changed.tolist() == [1]
    assert status.tolist() == [CORRECTED]


@settings(max_examples=60, deadline=None)
@given(
    start=st.integers(0, len(GENOME) - 150),
    first=st.integers(0, 148),
    gap=st.integers(1, K - 1),
    quals=st.sampled_from([b"((", b"(I", b"I(", b"II"]),
)
def test_two_errors_closer_than_k_are_fixed(start, first, gap, quals):
    second = min(first + gap, 149)
    read = GENOME[start : start + 150]
    bad = _sub(_sub(read, first), second)
    qual = bytearray(b"I" * 150)
    qual[first], qual[second] = quals[0], quals[1]
    out, changed, _ = _correct([bad], [bytes(qual)])
    assert out == [read] and changed == [2]


@settings(max_examples=40, deadline=None)
@given(
    start=st.integers(0, len(GENOME) - 200),
    length=st.integers(K, 200),
    reverse=st.booleans(),
)
def test_error_free_reads_never_change(start, length, reverse):
    read = GENOME[start : start + length]
    if reverse:
        read = read.translate(COMP)[::-1]
    out, changed, status = _correct([read], [b"I" * len(read)])
    assert out == [read] and changed == [0] and status == [CLEAN]


@settings(max_examples=40, deadline=None)
@given(
    start=st.integers(0, len(GENOME) - 150),
    errors=st.lists(st.integers(0, 149), min_size=1, max_size=3, unique=True),
)
def test_sparse_errors_are_fixed(start, errors):
    errors = sorted(errors)
    if any(b - a < K for a, b in zip(errors, errors[1:])):
        errors = errors[:1]  # keep the case where extension alone decides
    read = GENOME[start : start + 150]
    bad = read
    for p in errors:
        bad = _sub(bad, p)
    out, changed, _ = _correct([bad], [b"#" * 150])
    assert out == [read]
    assert changed == [len(errors)]
