"""Vocabulary, count merging, subsampling and negative tables against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqray.embed.vocab import Vocabulary, merge_counts, to_corpus
from seqray.errors import SeqrayError


def test_merge_counts_sums_overlapping_parts_and_sorts():
    a = (np.array([9, 3, 5], np.uint32), np.array([1, 2, 3], np.int64))
    b = (np.array([5, 4_000_000_000], np.uint32), np.array([10, 7], np.int64))
    ids, counts = merge_counts([a, b])
    assert ids.dtype == np.uint32 and counts.dtype == np.int64
    assert ids.tolist() == [3, 5, 9, 4_000_000_000]
    assert counts.tolist() == [2, 13, 1, 7]
    empty_ids, empty_counts = merge_counts([])
    assert len(empty_ids) == 0 and len(empty_counts) == 0


def test_from_counts_applies_min_count_after_summing_repeats():
    ids = np.array([7, 2, 7, 11, 2, 30], np.uint32)
    counts = np.array([1, 1, 1, 5, 2, 1], np.int64)
    vocab = Vocabulary.from_counts(ids, counts, min_count=2)
    assert vocab.buckets.tolist() == [2, 7, 11]  # 30 seen once is dropped
    assert vocab.counts.tolist() == [3, 2, 5]
    assert vocab.total == 10
    with pytest.raises(SeqrayError, match="--min-count"):
        Vocabulary.from_counts(ids, counts, min_count=0)


def test_index_gives_rows_and_minus_one_for_unknown_ids():
    vocab = Vocabulary(np.array([10, 20, 30], np.uint32), np.array([1, 1, 1]))
    got = vocab.index(np.array([20, 5, 30, 31, 10, 4_294_967_295], np.uint32))
    assert got.dtype == np.int32
    assert got.tolist() == [1, -1, 2, -1, 0, -1]
    empty = Vocabulary(np.empty(0, np.uint32), np.empty(0, np.int64))
    assert empty.index(np.array([1, 2], np.uint32)).tolist() == [-1, -1]


def test_unsorted_buckets_are_refused():
    with pytest.raises(ValueError, match="sorted"):
        Vocabulary(np.array([3, 1], np.uint32), np.array([1, 1]))


def test_keep_probs_follow_word2vec_formula():
    counts = np.array([1, 10, 1000, 5000], np.int64)
    vocab = Vocabulary(np.arange(4, dtype=np.uint32), counts)
    sample = 1e-3
    t = sample * 6011  # sample * total
    expected = [min(1.0, (math.sqrt(f / t) + 1) * t / f) for f in counts.tolist()]
    got = vocab.keep_probs(sample)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # by hand: t = 6.011; f = 1000 -> (sqrt(166.36) + 1) * 0.006011 = 13.898 * 0.006011
    assert got[0] == 1.0 and got[1] == 1.0
    assert got[2] == pytest.approx(0.083542, rel=1e-4)
    assert vocab.keep_probs(0.0).tolist() == [1.0, 1.0, 1.0, 1.0]


def test_negative_table_frequencies_are_count_to_the_075():
    # counts^0.75 = 1, 8, 27, 64 (sum 100): a 1,000-slot table holds 10, 80, 270, 640 of each
    vocab = Vocabulary(np.arange(4, dtype=np.uint32), np.array([1, 16, 81, 256]))
    table = vocab.negative_table(size=1000)
    assert table.dtype == np.int32
    assert np.bincount(table, minlength=4).tolist() == [10, 80, 270, 640]
    uniform = vocab.negative_table(power=0.0, size=1000)
    assert np.bincount(uniform, minlength=4).tolist() == [250, 250, 250, 250]


def test_negative_table_default_size_approximates_large_vocabularies():
    rng = np.random.default_rng(0)
    counts = rng.integers(2, 10_000, 5000)
    vocab = Vocabulary(np.arange(5000, dtype=np.uint32), counts)
    table = vocab.negative_table()
    freq = np.bincount(table, minlength=5000) / len(table)
    expected = counts**0.75 / np.sum(counts**0.75)
    assert np.abs(freq - expected).max() < 1.0 / len(table) + 1e-12  # within one slot
    with pytest.raises(SeqrayError, match="empty"):
        Vocabulary(np.empty(0, np.uint32), np.empty(0, np.int64)).negative_table()


def test_to_corpus_drops_unknown_ids_and_keeps_every_sentence():
    vocab = Vocabulary(np.array([7, 9, 100], np.uint32), np.array([3, 3, 3]))
    ids = np.array([5, 7, 9, 7, 1, 1, 100, 9, 2], np.uint32)
    offsets = np.array([0, 4, 6, 9], np.int64)  # [5 7 9 7] [1 1] [100 9 2]
    tokens, new_offsets = to_corpus(vocab, ids, offsets)
    assert tokens.dtype == np.int32 and new_offsets.dtype == np.int64
    assert tokens.tolist() == [0, 1, 0, 2, 1]
    assert new_offsets.tolist() == [0, 3, 3, 5]  # the second sentence is empty, still there
