"""fastText-supervised training and prediction over examples of vocabulary rows.

The model is fastText's supervised one (as fastDNA uses it for reads): an example is the
list of input rows of a read's k-mers, its hidden vector h is the mean of those rows of
w_in [V, D], and an output layer turns h into label probabilities, either

- "softmax": w_out [L, D], p = softmax(w_out @ h), loss -log p[label]; exact, cost O(L D)
  per example, the choice for a handful of labels;
- "hs": hierarchical softmax over a Huffman tree of the labels (`LabelTree`), w_out
  [L-1, D] with one row per internal node and a binary logistic at each node of the
  label's path; cost O(D log L) per training example, for many labels. Frequent labels
  get short paths, as in word2vec and fastText.

A training step is fastText's: for each output row j touched, g_j = lr * (target_j - p_j),
grad_h += g_j * w_out[j] (the row before its update), w_out[j] += g_j * h; then each input
row of the example (each occurrence) gets grad_h / n, n being the example's row count. The
learning rate falls linearly over the examples of a call. There is no randomness: the same
arrays give the same bytes (with the same Numba build), so replicas can be merged or
compared exactly.

Exponentials are exact (math.exp, not word2vec's table): supervised models put far fewer
dot products through them than skip-gram does, and predictions report the probabilities.
Softmax subtracts the maximum score, and losses are computed as softplus / log-sum-exp so
that nothing overflows.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numba import njit

LOSSES = ("softmax", "hs")


@dataclass(frozen=True)
class LabelTree:
    """Huffman tree of the labels for hierarchical softmax.

    Label l's path from the root is points[l, :lengths[l]] (rows of w_out, 0..L-2) with the
    bit taken at each node in codes[l, :lengths[l]] (1: the node's sigmoid, 0: one minus
    it). A single label has an empty path (depth 0): every read gets p = 1.
    """

    codes: np.ndarray  # uint8 [L, depth_max]
    points: np.ndarray  # int32 [L, depth_max]
    lengths: np.ndarray  # int32 [L]

    @property
    def n_labels(self) -> int:
        return len(self.lengths)

    @cached_property
    def parents(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(parent int32[max(L-1, 1)], bit uint8[...]) of each internal node and (parent
        int32[L], bit uint8[L]) of each label; the root's parent is -1.

        Prediction walks these instead of every label's path: a node's probability of being
        reached is its parent's times the branch, so all labels cost O(L), not O(L depth).
        Parents come after their children (Huffman merges), so one pass from the root down
        (descending rows) visits each parent first.
        """
        n = self.n_labels
        node_parent = np.full(max(n - 1, 1), -1, np.int32)
        node_bit = np.zeros(max(n - 1, 1), np.uint8)
        leaf_parent = np.full(n, -1, np.int32)
        leaf_bit = np.zeros(n, np.uint8)
        for lab in range(n):
            depth = int(self.lengths[lab])
            if depth == 0:
                continue
            path, bits = self.points[lab, :depth], self.codes[lab, :depth]
            node_parent[path[1:]] = path[:-1]
            node_bit[path[1:]] = bits[:-1]
            leaf_parent[lab], leaf_bit[lab] = path[-1], bits[-1]
        inner = node_parent[: n - 1]
        if n > 1 and (
            int((inner < 0).sum()) != 1 or bool(np.any((inner >= 0) & (inner <= np.arange(n - 1))))
        ):
            raise ValueError("label tree: each internal node's parent must be a later row")
        return node_parent, node_bit, leaf_parent, leaf_bit

    @classmethod
    def build(cls, counts: np.ndarray) -> LabelTree:
        """Huffman tree from label counts (zero counts allowed: the label gets a deep leaf).

        Nodes are merged smallest count first; ties go to the lower node id, leaves
        being ids 0..L-1 and internal nodes L, L+1, ... in creation order, so the tree
        depends on the counts alone. Of the two nodes merged, the first taken is bit 0.
        Internal node L+k is w_out row k; the root is the last row, L-2.
        """
        counts = np.asarray(counts)
        if counts.ndim != 1 or len(counts) == 0:
            raise ValueError("label counts must be a non-empty 1-D array")
        if counts.dtype.kind not in "iuf" or bool(np.any(counts < 0)):
            raise ValueError("label counts must be non-negative numbers")
        n = len(counts)
        parent = np.full(2 * n - 1, -1, np.int64)
        bit = np.zeros(2 * n - 1, np.uint8)
        heap = [(counts[i].item(), i) for i in range(n)]
        heapq.heapify(heap)
        for k in range(n - 1):
            c0, a = heapq.heappop(heap)
            c1, b = heapq.heappop(heap)
            node = n + k
            parent[a] = parent[b] = node
            bit[b] = 1
            heapq.heappush(heap, (c0 + c1, node))
        lengths = np.zeros(n, np.int32)
        paths: list[list[int]] = []
        for leaf in range(n):
            path = []
            node = leaf
            while parent[node] >= 0:
                path.append(node)
                node = int(parent[node])
            lengths[leaf] = len(path)
            paths.append(path[::-1])  # root first
        depth = int(lengths.max())
        codes = np.zeros((n, depth), np.uint8)
        points = np.zeros((n, depth), np.int32)
        for leaf, path in enumerate(paths):
            for j, node in enumerate(path):
                codes[leaf, j] = bit[node]
                points[leaf, j] = parent[node] - n
        return cls(codes, points, lengths)

    def arrays(self) -> dict[str, np.ndarray]:
        """The tree as named arrays, to be saved with the model's matrices."""
        return {"hs_codes": self.codes, "hs_points": self.points, "hs_lengths": self.lengths}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> LabelTree:
        """Inverse of `arrays` (accepts an open .npz file); checks that the tree is whole."""
        try:
            codes = np.ascontiguousarray(arrays["hs_codes"], dtype=np.uint8)
            points = np.ascontiguousarray(arrays["hs_points"], dtype=np.int32)
            lengths = np.ascontiguousarray(arrays["hs_lengths"], dtype=np.int32)
        except KeyError as err:
            raise ValueError(f"label tree array {err} is missing") from None
        n = len(lengths)
        if (
            n == 0
            or codes.ndim != 2
            or codes.shape != points.shape
            or codes.shape[0] != n
            or bool(np.any(lengths < 0))
            or bool(np.any(lengths > codes.shape[1]))
        ):
            raise ValueError("label tree arrays have inconsistent shapes or lengths")
        used = np.arange(codes.shape[1]) < lengths[:, None]
        if bool(np.any(points[used] < 0)) or bool(np.any(points[used] > n - 2)):
            raise ValueError(f"label tree points must be internal nodes 0..{n - 2}")
        if bool(np.any(codes[used] > 1)):
            raise ValueError("label tree codes must be bits")
        tree = cls(codes, points, lengths)
        node_parent, node_bit, leaf_parent, leaf_bit = tree.parents
        # every (parent, branch) holds one child: the paths form one full binary tree
        slots = np.concatenate(
            [node_parent[: n - 1] * 2 + node_bit[: n - 1], leaf_parent * 2 + leaf_bit]
        )
        slots = slots[slots >= 0]
        if n > 1 and (len(slots) != 2 * (n - 1) or len(np.unique(slots)) != len(slots)):
            raise ValueError("label tree paths do not form a binary tree")
        return tree


def init_weights(
    vocab_size: int, n_labels: int, dim: int, seed: int, loss: str
) -> tuple[np.ndarray, np.ndarray]:
    """w_in uniform in (-1, 1) / dim (seeded), w_out zeros: [L, dim], or [max(L-1, 1), dim]
    for "hs" (one row per internal node; a 1-label tree has none but keeps one row)."""
    _check_loss(loss)
    if vocab_size < 1 or n_labels < 1 or dim < 1:
        raise ValueError("vocab_size, n_labels and dim must be at least 1")
    rng = np.random.default_rng(seed)
    w_in = rng.random((vocab_size, dim), dtype=np.float32)
    w_in *= np.float32(2.0)
    w_in -= np.float32(1.0)
    w_in /= np.float32(dim)
    out_rows = n_labels if loss == "softmax" else max(n_labels - 1, 1)
    return w_in, np.zeros((out_rows, dim), np.float32)


# ---------------------------------------------------------------- kernels

_FASTMATH = {"reassoc", "contract", "arcp"}  # vectorised dot products; no inf/nan assumptions


@njit(cache=True, nogil=True, inline="always")
def _sigmoid(f):
    if f >= 0.0:
        return 1.0 / (1.0 + math.exp(-f))
    e = math.exp(f)
    return e / (1.0 + e)


@njit(cache=True, nogil=True, inline="always")
def _softplus(x):
    """log(1 + e^x) without overflow: -log sigmoid(-x)."""
    if x > 0.0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _dot(u, v):
    s = np.float32(0.0)
    for d in range(u.shape[0]):
        s += u[d] * v[d]
    return s


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _hidden(w_in, rows_a, a0, a1, rows_b, b0, b1, hidden):
    """hidden = mean of the known (non-negative) rows; returns their number."""
    dim = hidden.shape[0]
    for d in range(dim):
        hidden[d] = 0.0
    n = 0
    for j in range(a0, a1):
        r = rows_a[j]
        if r >= 0:
            row = w_in[r]
            for d in range(dim):
                hidden[d] += row[d]
            n += 1
    for j in range(b0, b1):
        r = rows_b[j]
        if r >= 0:
            row = w_in[r]
            for d in range(dim):
                hidden[d] += row[d]
            n += 1
    if n > 0:
        inv = np.float32(1.0) / np.float32(n)
        for d in range(dim):
            hidden[d] *= inv
    return n


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _update(w_out, j, g, hidden, grad):
    """grad += g * w_out[j] (before the update), then w_out[j] += g * hidden."""
    row = w_out[j]
    for d in range(hidden.shape[0]):
        grad[d] += g * row[d]
        row[d] += g * hidden[d]


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _step_softmax(w_out, hidden, label, alpha, grad, scores):
    n_labels = w_out.shape[0]
    top = -np.inf
    for j in range(n_labels):
        f = np.float64(_dot(w_out[j], hidden))
        scores[j] = f
        top = max(top, f)
    loss = -(scores[label] - top)
    total = 0.0
    for j in range(n_labels):
        e = math.exp(scores[j] - top)
        scores[j] = e
        total += e
    loss += math.log(total)
    for j in range(n_labels):
        target = 1.0 if j == label else 0.0
        g = np.float32(alpha * (target - scores[j] / total))
        _update(w_out, j, g, hidden, grad)
    return loss


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _step_hs(w_out, hidden, label, alpha, grad, codes, points, lengths):
    loss = 0.0
    for t in range(lengths[label]):
        j = points[label, t]
        f = np.float64(_dot(w_out[j], hidden))
        if codes[label, t]:
            g = np.float32(alpha * (1.0 - _sigmoid(f)))
            loss += _softplus(-f)
        else:
            g = np.float32(alpha * (0.0 - _sigmoid(f)))
            loss += _softplus(f)
        _update(w_out, j, g, hidden, grad)
    return loss


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _train(w_in, w_out, rows, offsets, labels, lr_start, lr_end, hs, codes, points, lengths):
    n_examples = len(offsets) - 1
    dim = w_in.shape[1]
    hidden = np.empty(dim, np.float32)
    grad = np.empty(dim, np.float32)
    scores = np.empty(w_out.shape[0], np.float64)
    trained = 0
    loss = 0.0
    for i in range(n_examples):
        a = offsets[i]
        b = offsets[i + 1]
        n = _hidden(w_in, rows, a, b, rows, 0, 0, hidden)
        if n == 0:
            continue
        alpha = lr_start + (lr_end - lr_start) * (i / n_examples)
        for d in range(dim):
            grad[d] = 0.0
        if hs:
            loss += _step_hs(w_out, hidden, labels[i], alpha, grad, codes, points, lengths)
        else:
            loss += _step_softmax(w_out, hidden, labels[i], alpha, grad, scores)
        inv = np.float32(1.0) / np.float32(n)
        for d in range(dim):
            grad[d] *= inv
        for j in range(a, b):
            r = rows[j]
            if r >= 0:
                row = w_in[r]
                for d in range(dim):
                    row[d] += grad[d]
        trained += 1
    return trained, loss


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _predict(
    w_in,
    w_out,
    rows_a,
    off_a,
    rows_b,
    off_b,
    n_labels,
    hs,
    node_parent,
    node_bit,
    leaf_parent,
    leaf_bit,
    out_l,
    out_s,
):
    n_reads, top = out_l.shape
    dim = w_in.shape[1]
    hidden = np.empty(dim, np.float32)
    probs = np.empty(n_labels, np.float64)
    nodes = np.empty(max(n_labels - 1, 1), np.float64)
    reach = np.empty(max(n_labels - 1, 1), np.float64)
    for i in range(n_reads):
        for t in range(top):
            out_l[i, t] = -1
            out_s[i, t] = 0.0
        n = _hidden(w_in, rows_a, off_a[i], off_a[i + 1], rows_b, off_b[i], off_b[i + 1], hidden)
        if n == 0:
            continue
        if hs:
            for k in range(n_labels - 1):
                nodes[k] = _sigmoid(np.float64(_dot(w_out[k], hidden)))
            # products along the paths, root first, shared by the labels below each node
            for k in range(n_labels - 2, -1, -1):
                par = node_parent[k]
                if par < 0:
                    reach[k] = 1.0
                else:
                    q = nodes[par]
                    reach[k] = reach[par] * (q if node_bit[k] else 1.0 - q)
            for lab in range(n_labels):
                par = leaf_parent[lab]
                if par < 0:
                    probs[lab] = 1.0
                else:
                    q = nodes[par]
                    probs[lab] = reach[par] * (q if leaf_bit[lab] else 1.0 - q)
        else:
            best = -np.inf
            for lab in range(n_labels):
                f = np.float64(_dot(w_out[lab], hidden))
                probs[lab] = f
                best = max(best, f)
            total = 0.0
            for lab in range(n_labels):
                e = math.exp(probs[lab] - best)
                probs[lab] = e
                total += e
            for lab in range(n_labels):
                probs[lab] /= total
        # top-N by the reported (float32) score; a later label must beat, not tie
        kept = 0
        for lab in range(n_labels):
            s = np.float32(probs[lab])
            if kept == top and not s > out_s[i, top - 1]:
                continue
            pos = kept if kept < top else top - 1
            while pos > 0 and out_s[i, pos - 1] < s:
                out_s[i, pos] = out_s[i, pos - 1]
                out_l[i, pos] = out_l[i, pos - 1]
                pos -= 1
            out_s[i, pos] = s
            out_l[i, pos] = lab
            if kept < top:
                kept += 1


# ---------------------------------------------------------------- wrappers


def _check_loss(loss: str) -> None:
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)} (got {loss!r})")


def _check_model(
    w_in: np.ndarray, w_out: np.ndarray, loss: str, tree: LabelTree | None, writable: bool
) -> tuple[int, LabelTree]:
    """Checks the matrices; returns (labels, tree or an empty stand-in for softmax)."""
    _check_loss(loss)
    for name, w in (("w_in", w_in), ("w_out", w_out)):
        if not isinstance(w, np.ndarray) or w.dtype != np.float32 or w.ndim != 2:
            raise ValueError(f"{name} must be a 2-D float32 array")
        if not w.flags.c_contiguous:
            raise ValueError(f"{name} must be C-contiguous")
        if writable and not w.flags.writeable:
            raise ValueError(f"{name} must be writable (it is trained in place)")
    if w_in.shape[1] != w_out.shape[1]:
        raise ValueError(f"w_in is [V, {w_in.shape[1]}] but w_out is [L, {w_out.shape[1]}]")
    if w_in.shape[0] == 0:
        raise ValueError("w_in has no rows")
    if loss == "softmax":
        n_labels = w_out.shape[0]
        if n_labels == 0:
            raise ValueError("w_out has no rows (softmax needs one per label)")
        empty = LabelTree(
            np.zeros((1, 1), np.uint8), np.zeros((1, 1), np.int32), np.zeros(1, np.int32)
        )
        return n_labels, empty
    if tree is None:
        raise ValueError('loss "hs" needs the label tree')
    n_labels = tree.n_labels
    if w_out.shape[0] != max(n_labels - 1, 1):
        raise ValueError(
            f"w_out has {w_out.shape[0]} rows; a tree of {n_labels} labels needs "
            f"{max(n_labels - 1, 1)}"
        )
    return n_labels, tree


def _check_examples(
    name: str, rows: np.ndarray, offsets: np.ndarray, vocab_size: int
) -> tuple[np.ndarray, np.ndarray]:
    rows = np.asarray(rows)
    offsets = np.asarray(offsets)
    if rows.ndim != 1 or (rows.dtype.kind not in "iu" and len(rows)):
        raise ValueError(f"{name}: rows must be a 1-D integer array")
    if offsets.ndim != 1 or len(offsets) == 0 or offsets.dtype.kind not in "iu":
        raise ValueError(f"{name}: offsets must be a non-empty 1-D integer array")
    if len(rows) and int(rows.max()) >= vocab_size:
        raise ValueError(f"{name}: rows must be below the vocabulary size {vocab_size}")
    if (
        int(offsets[0]) < 0
        or int(offsets[-1]) > len(rows)
        or bool(np.any(offsets[1:] < offsets[:-1]))
    ):
        raise ValueError(f"{name}: offsets must rise within the {len(rows)} rows")
    rows = np.ascontiguousarray(np.maximum(rows, -1), dtype=np.int32)
    return rows, np.ascontiguousarray(offsets, dtype=np.int64)


def train_examples(
    w_in: np.ndarray,
    w_out: np.ndarray,
    rows: np.ndarray,
    offsets: np.ndarray,
    labels: np.ndarray,
    lr_start: float,
    lr_end: float,
    loss: str,
    tree: LabelTree | None = None,
) -> tuple[int, float]:
    """Trains (w_in, w_out) in place on examples i = rows[offsets[i]:offsets[i+1]].

    rows are vocabulary rows (negative: unknown k-mer, skipped; an example with no known
    row is skipped); labels[i] is example i's label. The learning rate falls linearly
    from lr_start at the first example to lr_end after the last, so a worker training a
    share of an epoch passes the share's bounds. Returns (examples trained, summed loss):
    loss / examples is the mean -log p(label). Releases the GIL for the whole call.
    """
    n_labels, tree_ = _check_model(w_in, w_out, loss, tree, writable=True)
    rows, offsets = _check_examples("train_examples", rows, offsets, w_in.shape[0])
    labels = np.asarray(labels)
    if labels.shape != (len(offsets) - 1,) or (labels.dtype.kind not in "iu" and len(labels)):
        raise ValueError(f"labels must be {len(offsets) - 1} integers, one per example")
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= n_labels):
        raise ValueError(f"labels must be in 0..{n_labels - 1}")
    if not (lr_start >= 0 and lr_end >= 0 and math.isfinite(lr_start + lr_end)):
        raise ValueError(f"learning rates must be finite and >= 0 (got {lr_start}, {lr_end})")
    if len(labels) == 0:
        return 0, 0.0
    trained, total = _train(
        w_in,
        w_out,
        rows,
        offsets,
        np.ascontiguousarray(labels, dtype=np.int32),
        float(lr_start),
        float(lr_end),
        loss == "hs",
        tree_.codes,
        tree_.points,
        tree_.lengths,
    )
    return int(trained), float(total)


def predict(
    w_in: np.ndarray,
    w_out: np.ndarray,
    rows_a: np.ndarray,
    off_a: np.ndarray,
    rows_b: np.ndarray,
    off_b: np.ndarray,
    top: int,
    loss: str,
    tree: LabelTree | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(labels int32[n, top], scores float32[n, top]), best first, for n reads.

    Read i's hidden vector is the mean over rows_a[off_a[i]:off_a[i+1]] and its mate's
    rows_b[off_b[i]:off_b[i+1]] (single reads: empty rows_b and zero off_b), negative rows
    skipped, so both mates vote as one read. Scores are label probabilities (for "hs"
    the product of the node probabilities along the label's path; every node's sigmoid is
    computed once per read). Equal scores rank the lower label first; a read with no
    known row, and places beyond the number of labels, get label -1 and score 0.
    Releases the GIL and keeps no state, so callers may run it in threads.
    """
    n_labels, tree_ = _check_model(w_in, w_out, loss, tree, writable=False)
    if not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"top must be an integer >= 1 (got {top!r})")
    rows_a, off_a = _check_examples("predict (reads)", rows_a, off_a, w_in.shape[0])
    rows_b, off_b = _check_examples("predict (mates)", rows_b, off_b, w_in.shape[0])
    if len(off_a) != len(off_b):
        raise ValueError(
            f"offsets of reads and mates differ in length ({len(off_a)} and {len(off_b)})"
        )
    n = len(off_a) - 1
    out_l = np.empty((n, int(top)), np.int32)
    out_s = np.empty((n, int(top)), np.float32)
    if n:
        _predict(
            w_in,
            w_out,
            rows_a,
            off_a,
            rows_b,
            off_b,
            n_labels,
            loss == "hs",
            *tree_.parents,
            out_l,
            out_s,
        )
    return out_l, out_s
