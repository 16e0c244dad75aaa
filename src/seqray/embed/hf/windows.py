"""Windows over long sequences and token-budgeted batches of windows.

A sequence of n content tokens fits one window when n ≤ C (C: the model's limit less its
special tokens, or `max_length` less them). Longer ones are cut into windows of C tokens
starting every C − overlap tokens; the last window starts at the first such place from
which it reaches the sequence's end (so it may be shorter). Consecutive windows share
exactly `overlap` tokens. For per-token arrays each token is taken once, from the window
in which it is farthest from a window edge: the shared tokens of two windows are split at
their middle (the left window keeps the first ⌈overlap/2⌉, the right one the rest).

Batches: windows sorted by length, longest first (a stable sort, so batches do not depend
on anything but the lengths), each batch as many as fit `batch_tokens` once padded to its
longest window (at least one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Windows:
    """The windows of n sequences, in sequence order (a sequence's windows in a row)."""

    seq: np.ndarray  # int64[W]: the sequence of each window
    start: np.ndarray  # int64[W]: its first content token, in the sequence
    length: np.ndarray  # int64[W]: its content tokens
    first: np.ndarray  # int64[n + 1]: each sequence's first window
    own_lo: np.ndarray  # int64[W]: the tokens a window gives per-token output, relative
    own_hi: np.ndarray  # int64[W]: to its start: [own_lo, own_hi)

    def __len__(self) -> int:
        return len(self.seq)

    @property
    def windowed(self) -> int:
        """Sequences cut into more than one window."""
        return int(np.count_nonzero(np.diff(self.first) > 1))


def plan_windows(lengths: np.ndarray, capacity: int, overlap: int) -> Windows:
    """Windows over sequences of `lengths` content tokens (see the module docstring)."""
    if not 0 <= overlap < capacity:
        raise ValueError(f"overlap {overlap} must be below the window's {capacity} tokens")
    lengths = np.asarray(lengths, np.int64)
    step = capacity - overlap
    extra = np.maximum(lengths - capacity, 0)
    counts = 1 + (extra + step - 1) // step
    first = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(counts, out=first[1:])
    seq = np.repeat(np.arange(len(lengths), dtype=np.int64), counts)
    j = np.arange(len(seq), dtype=np.int64) - first[seq]
    start = j * step
    length = np.minimum(capacity, lengths[seq] - start)
    last = j == counts[seq] - 1
    own_lo = np.where(j > 0, overlap - overlap // 2, 0)
    own_hi = np.where(last, length, length - overlap // 2)
    return Windows(seq, start, length, first, own_lo.astype(np.int64), own_hi.astype(np.int64))


def pack(lengths: np.ndarray, budget: int) -> list[np.ndarray]:
    """Window indices in batches: longest first, each batch at most `budget` tokens once
    padded to its longest (a window longer than the budget alone)."""
    order = np.argsort(-np.asarray(lengths, np.int64), kind="stable")
    batches = []
    i, n = 0, len(order)
    while i < n:
        size = max(1, budget // max(int(lengths[order[i]]), 1))
        batches.append(order[i : i + size])
        i += size
    return batches
