"""Pooling definitions, and window outputs put back together per sequence.

- `cls`: the hidden state of the window's first token ([CLS] / <cls> where the tokenizer
  adds one).
- `mean`: the mean of the hidden states of the sequence's own tokens: special tokens and
  padding excluded.
- `tokens`: the hidden states of the sequence's own tokens (specials dropped), N × D.

Across the windows of a long sequence, pooled vectors are a weighted mean, each window
weighing its number of the sequence's tokens (for `mean` that is the mean over all
window tokens, shared tokens counted in each window that holds them). A sequence without
a token (shorter than k) gets its one window's `cls` vector, and a zero `mean` vector.
Per-token arrays are stitched: each token from the window that owns it (`windows`).
"""

from __future__ import annotations

import numpy as np

from .windows import Windows

POOLINGS = ("cls", "mean", "tokens")


def combine_cls(window_vectors: np.ndarray, wins: Windows) -> np.ndarray:
    """Per-sequence vectors from each window's first-token vector (length-weighted)."""
    weights = wins.length.astype(np.float64)
    lone = np.diff(wins.first) == 1
    weights[wins.first[:-1][lone]] = np.maximum(weights[wins.first[:-1][lone]], 1.0)
    if not len(wins.first) - 1:
        return np.zeros((0, window_vectors.shape[1]), np.float32)
    sums = np.add.reduceat(window_vectors * weights[:, None], wins.first[:-1], axis=0)
    totals = np.add.reduceat(weights, wins.first[:-1])
    return (sums / totals[:, None]).astype(np.float32)


def combine_mean(window_sums: np.ndarray, wins: Windows) -> np.ndarray:
    """Per-sequence mean vectors from each window's sum over its content tokens."""
    if not len(wins.first) - 1:
        return np.zeros((0, window_sums.shape[1]), np.float32)
    sums = np.add.reduceat(window_sums, wins.first[:-1], axis=0)
    totals = np.add.reduceat(wins.length.astype(np.float64), wins.first[:-1])
    out = sums / np.maximum(totals, 1.0)[:, None]
    return out.astype(np.float32)


def stitch(window_tokens: np.ndarray, wins: Windows) -> tuple[np.ndarray, np.ndarray]:
    """(values [T, D], offsets [n + 1]) from every window's content-token states laid out
    window after window: each token once, from the window owning it."""
    starts = np.zeros(len(wins) + 1, np.int64)
    np.cumsum(wins.length, out=starts[1:])
    rel = np.arange(int(starts[-1]), dtype=np.int64) - np.repeat(starts[:-1], wins.length)
    keep = (rel >= np.repeat(wins.own_lo, wins.length)) & (
        rel < np.repeat(wins.own_hi, wins.length)
    )
    owned = wins.own_hi - wins.own_lo
    per_seq = np.add.reduceat(owned, wins.first[:-1]) if len(wins) else np.zeros(0, np.int64)
    offsets = np.zeros(len(wins.first), np.int64)
    np.cumsum(per_seq, out=offsets[1:])
    return np.ascontiguousarray(window_tokens[keep]), offsets
