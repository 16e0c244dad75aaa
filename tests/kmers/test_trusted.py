"""The trusted-set lookups against NumPy's set membership."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqray.kmers.encode import canonical_codes, encode_kmers
from seqray.kmers.trusted import TrustedSet


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(1, 32),
    members=st.lists(st.integers(0, 2**64 - 1), max_size=300),
    others=st.lists(st.integers(0, 2**64 - 1), max_size=300),
)
def test_membership_matches_numpy(k, members, others):
    mask = (1 << (2 * k)) - 1
    keys = np.array([m & mask for m in members], np.uint64)
    queries = np.concatenate([keys, np.array([o & mask for o in others], np.uint64)])
    ts = TrustedSet.from_codes(k, keys)
    assert len(ts) == len(np.unique(keys))
    np.testing.assert_array_equal(ts.contains(queries), np.isin(queries, keys))


def test_extremes_and_empty_set():
    ts = TrustedSet.from_codes(32, np.array([0, 2**64 - 1, 2**63], np.uint64))
    q = np.array([0, 1, 2**64 - 1, 2**64 - 2, 2**63], np.uint64)
    assert ts.contains(q).tolist() == [True, False, True, False, True]
    empty = TrustedSet.from_codes(21, np.empty(0, np.uint64))
    assert not empty.contains(np.arange(10, dtype=np.uint64)).any()


def test_canonical_kmers_by_hand():
    codes = canonical_codes(encode_kmers(["ACGTA", "TTTTT"]), 5)
    ts = TrustedSet.from_codes(5, codes)
    # a k-mer and its reverse complement share one canonical code
    q = canonical_codes(encode_kmers(["TACGT", "AAAAA", "ACGTC"]), 5)
    assert ts.contains(q).tolist() == [True, True, False]


def test_unsorted_keys_are_refused():
    with pytest.raises(ValueError, match="sorted"):
        TrustedSet.from_sorted(5, np.array([3, 1], np.uint64))


def test_table_memory_is_bounded():
    keys = np.unique(np.random.default_rng(1).integers(0, 2**62, 100_000, dtype=np.uint64))
    ts = TrustedSet.from_sorted(31, keys)
    assert ts.nbytes <= 4 * keys.nbytes  # load ≥ 0.35
