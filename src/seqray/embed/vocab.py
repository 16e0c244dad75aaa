"""The training vocabulary: which bucket ids get a vector, and the word2vec tables built
from their counts (frequent-token subsampling, the unigram^0.75 negative-sampling table).

Bucket ids are uint32 (LSH bit patterns, plain hashes, exact canonical k-mer codes); a
vocabulary keeps those seen at least `min_count` times, sorted, so a token's row is its
rank (`np.searchsorted`) and every worker derives the same rows from the same counts.
"""

from __future__ import annotations

import numpy as np

from seqray.errors import SeqrayError

from .rows import BucketRows

# word2vec's table has 1e8 entries whatever the vocabulary; but every negative draw reads a
# random slot, and a table far larger than the cache costs a miss per draw (measured: 2.7x
# slower training at V = 2,000 with 1e6 slots than with 2e4). 16 slots per token on average
# keeps the table near the size of one weight row per token and gives every token with
# >= 1/32 of the mean weight (count^0.75) at least one slot.
_SLOTS_PER_TOKEN = 16
_MIN_TABLE = 1 << 16
_MAX_TABLE = 100_000_000


class Vocabulary:
    """Sorted unique bucket ids kept for training (uint32[V]) and their counts (int64[V])."""

    def __init__(self, buckets: np.ndarray, counts: np.ndarray):
        buckets = np.ascontiguousarray(buckets, dtype=np.uint32)
        counts = np.ascontiguousarray(counts, dtype=np.int64)
        if buckets.ndim != 1 or buckets.shape != counts.shape:
            raise ValueError("buckets and counts must be 1-D arrays of the same length")
        if len(buckets) > 1 and not bool(np.all(buckets[1:] > buckets[:-1])):
            raise ValueError("vocabulary buckets must be sorted and unique")
        self.buckets = buckets
        self.counts = counts
        self._rows = BucketRows(buckets)

    def __len__(self) -> int:
        return len(self.buckets)

    @property
    def total(self) -> int:
        """Occurrences of in-vocabulary tokens in the training data."""
        return int(self.counts.sum())

    @classmethod
    def from_counts(cls, ids: np.ndarray, counts: np.ndarray, min_count: int) -> Vocabulary:
        """The ids seen at least `min_count` times (ids may repeat; their counts are summed)."""
        if min_count < 1:
            raise SeqrayError(f"--min-count must be at least 1 (got {min_count})")
        ids, counts = merge_counts([(ids, counts)])
        keep = counts >= min_count
        return cls(ids[keep], counts[keep])

    def index(self, ids: np.ndarray) -> np.ndarray:
        """The row of each id (int32), -1 where the id is not in the vocabulary."""
        return self._rows.rows(ids).astype(np.int32)

    def keep_probs(self, sample: float) -> np.ndarray:
        """Probability of keeping each occurrence of a token (word2vec's subsampling).

        With t = sample * total and f = the token's count, a token is kept with probability
        (sqrt(f / t) + 1) * t / f, capped at 1: rare tokens are always kept, very frequent
        ones (in k-mer data: low-complexity repeats, adapters) mostly dropped.
        `sample <= 0` keeps everything.
        """
        if sample < 0:
            raise SeqrayError(f"--sample must be >= 0 (got {sample})")
        if sample == 0 or len(self) == 0:
            return np.ones(len(self), np.float32)
        threshold = sample * self.total
        f = self.counts.astype(np.float64)
        prob = (np.sqrt(f / threshold) + 1.0) * threshold / f
        return np.minimum(prob, 1.0).astype(np.float32)

    def negative_table(self, power: float = 0.75, size: int | None = None) -> np.ndarray:
        """Rows laid out so that a uniform draw from the table picks row r with probability
        count_r^power / sum(count^power) (word2vec's unigram table, int32)."""
        if len(self) == 0:
            raise SeqrayError("the vocabulary is empty: no token reaches --min-count")
        if size is None:
            size = int(min(_MAX_TABLE, max(_MIN_TABLE, _SLOTS_PER_TOKEN * len(self))))
        if size < 1:
            raise ValueError(f"negative table size must be positive (got {size})")
        weights = self.counts.astype(np.float64) ** power
        cum = np.cumsum(weights)
        cum /= cum[-1]
        # slot j holds the row whose cumulative interval contains the slot's midpoint
        mids = (np.arange(size, dtype=np.float64) + 0.5) / size
        table = np.searchsorted(cum, mids, side="right")
        return np.minimum(table, len(self) - 1).astype(np.int32)


def merge_counts(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Sums (ids, counts) pairs from several workers: sorted unique uint32 ids, int64 counts."""
    if not parts:
        return np.empty(0, np.uint32), np.empty(0, np.int64)
    ids = np.concatenate([np.asarray(i, dtype=np.uint32).ravel() for i, _ in parts])
    counts = np.concatenate([np.asarray(c, dtype=np.int64).ravel() for _, c in parts])
    if ids.shape != counts.shape:
        raise ValueError("each part needs as many counts as ids")
    if len(ids) == 0:
        return ids, counts
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    counts = counts[order]
    starts = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
    return ids[starts], np.add.reduceat(counts, starts)


def to_corpus(
    vocab: Vocabulary, ids: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sentences of vocabulary rows: (tokens int32[m'], offsets int64[n+1]).

    Ids not in the vocabulary are dropped, as word2vec drops unknown words, so the window
    spans the remaining neighbours; every sentence keeps its index (possibly empty).
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    rows = vocab.index(ids)
    keep = rows >= 0
    kept_before = np.concatenate((np.zeros(1, np.int64), np.cumsum(keep, dtype=np.int64)))
    return np.ascontiguousarray(rows[keep]), kept_before[offsets]
