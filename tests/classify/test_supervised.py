"""Supervised kernels against hand-computed steps and a float64 NumPy reimplementation of
fastText's formulas; Huffman trees against textbook codes; learning a planted problem."""

from __future__ import annotations

import heapq
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqray.classify.supervised import LabelTree, init_weights, predict, train_examples

# ---------------------------------------------------------------- NumPy reference


def ref_probs(w_out, h, loss, tree):
    """Label probabilities of hidden vector h (float64)."""
    if loss == "softmax":
        f = w_out.astype(np.float64) @ h
        e = np.exp(f - f.max())
        return e / e.sum()
    nodes = 1.0 / (1.0 + np.exp(-(w_out.astype(np.float64) @ h)))
    probs = np.ones(tree.n_labels)
    for lab in range(tree.n_labels):
        for t in range(tree.lengths[lab]):
            q = nodes[tree.points[lab, t]]
            probs[lab] *= q if tree.codes[lab, t] else 1.0 - q
    return probs


def ref_train(w_in, w_out, rows, offsets, labels, lr_start, lr_end, loss, tree=None):
    """fastText's supervised update in float64; returns new (w_in, w_out, trained, loss)."""
    w_in = w_in.astype(np.float64)
    w_out = w_out.astype(np.float64)
    n_ex = len(offsets) - 1
    trained, total = 0, 0.0
    for i in range(n_ex):
        known = [r for r in rows[offsets[i] : offsets[i + 1]] if r >= 0]
        if not known:
            continue
        lr = lr_start + (lr_end - lr_start) * i / n_ex
        h = w_in[known].mean(axis=0)
        grad = np.zeros_like(h)
        if loss == "softmax":
            p = ref_probs(w_out, h, loss, tree)
            total -= np.log(p[labels[i]])
            for j in range(len(p)):
                g = lr * (float(j == labels[i]) - p[j])
                grad += g * w_out[j]
                w_out[j] += g * h
        else:
            lab = labels[i]
            for t in range(tree.lengths[lab]):
                j = tree.points[lab, t]
                s = 1.0 / (1.0 + np.exp(-(w_out[j] @ h)))
                code = tree.codes[lab, t]
                total -= np.log(s if code else 1.0 - s)
                g = lr * (code - s)
                grad += g * w_out[j]
                w_out[j] += g * h
        for r in known:
            w_in[r] += grad / len(known)
        trained += 1
    return w_in, w_out, trained, total


def ref_predict(w_in, w_out, rows_a, off_a, rows_b, off_b, loss, tree):
    """Probabilities [n, L] (NaN rows for reads with no known row)."""
    n_labels = w_out.shape[0] if loss == "softmax" else tree.n_labels
    out = np.full((len(off_a) - 1, n_labels), np.nan)
    for i in range(len(off_a) - 1):
        rows = np.concatenate([rows_a[off_a[i] : off_a[i + 1]], rows_b[off_b[i] : off_b[i + 1]]])
        rows = rows[rows >= 0]
        if len(rows):
            out[i] = ref_probs(w_out, w_in[rows].astype(np.float64).mean(axis=0), loss, tree)
    return out


def offsets_of(examples):
    return np.concatenate([[0], np.cumsum([len(e) for e in examples])]).astype(np.int64)


def no_mates(n):
    """rows_b, off_b for n single reads."""
    return np.zeros(0, np.int32), np.zeros(n + 1, np.int64)


def flat(examples):
    return np.array([r for e in examples for r in e], np.int32)


# ---------------------------------------------------------------- label tree


def test_huffman_textbook_code_lengths():
    # CLRS's example: a:45 b:13 c:12 d:16 e:9 f:5 -> a 1 bit, b c d 3 bits, e f 4 bits
    tree = LabelTree.build(np.array([45, 13, 12, 16, 9, 5]))
    assert tree.lengths.tolist() == [1, 3, 3, 3, 4, 4]
    assert tree.codes.shape == tree.points.shape == (6, 4)
    # prefix-free: no label's code is a prefix of another's; all paths start at the root
    codes = ["".join(map(str, tree.codes[i, : tree.lengths[i]])) for i in range(6)]
    assert not any(a != b and b.startswith(a) for a in codes for b in codes)
    assert set(tree.points[:, 0]) == {4}  # root = last internal node, row L-2
    # sibling labels e, f share their path up to the last bit
    assert tree.points[4].tolist() == tree.points[5].tolist()
    assert sorted([codes[4][-1], codes[5][-1]]) == ["0", "1"]


@pytest.mark.parametrize(
    "counts",
    [[7], [3, 3], [1, 1, 1, 1], [0, 0, 5], [10, 1, 1, 1, 1, 1, 1, 2, 30], list(range(1, 40))],
)
def test_huffman_cost_is_optimal(counts):
    tree = LabelTree.build(np.array(counts))
    c = np.array(counts, np.int64)
    # Kraft equality: a full binary tree; the weighted path length is Huffman's optimum,
    # the sum of the merged weights
    assert sum(2.0 ** -int(x) for x in tree.lengths) == pytest.approx(1.0)
    heap = list(c)
    heapq.heapify(heap)
    cost = 0
    while len(heap) > 1:
        merged = heapq.heappop(heap) + heapq.heappop(heap)
        cost += merged
        heapq.heappush(heap, merged)
    assert int((c * tree.lengths).sum()) == cost
    # each internal node is reached by exactly two labels' paths at its own depth...
    n = len(counts)
    if n > 1:
        assert tree.points.max() == n - 2
    # ...and the tree is the same on every call (deterministic ties)
    again = LabelTree.build(np.array(counts))
    for a, b in zip(tree.arrays().values(), again.arrays().values()):
        assert np.array_equal(a, b)


def test_label_tree_round_trip_and_checks():
    tree = LabelTree.build(np.array([5, 1, 2, 9]))
    back = LabelTree.from_arrays(tree.arrays())
    assert all(np.array_equal(a, b) for a, b in zip(tree.arrays().values(), back.arrays().values()))
    with pytest.raises(ValueError, match="missing"):
        LabelTree.from_arrays({"hs_codes": tree.codes})
    bad = dict(tree.arrays(), hs_points=tree.points + 5)
    with pytest.raises(ValueError, match="internal nodes"):
        LabelTree.from_arrays(bad)
    same_path = dict(tree.arrays(), hs_codes=tree.codes.copy())
    same_path["hs_codes"][1] = same_path["hs_codes"][0]
    same_path["hs_points"] = tree.points.copy()
    same_path["hs_points"][1] = tree.points[0]
    same_path["hs_lengths"] = tree.lengths.copy()
    same_path["hs_lengths"][1] = tree.lengths[0]
    with pytest.raises(ValueError, match="binary tree|later row"):
        LabelTree.from_arrays(same_path)
    with pytest.raises(ValueError, match="non-negative"):
        LabelTree.build(np.array([1, -1]))
    single = LabelTree.build(np.array([3]))
    assert single.lengths.tolist() == [0] and single.codes.shape == (1, 0)


# ---------------------------------------------------------------- one training step


def test_softmax_step_by_hand():
    # w_out = 0: p = (1/2, 1/2), so with lr 0.1 and label 0, g = (+0.05, -0.05); grad_h
    # is 0 (it reads w_out before the update), so w_in is unchanged
    w_in = np.array([[1.0, 2.0], [3.0, -2.0], [0.5, 0.5]], np.float32)
    w_out = np.zeros((2, 2), np.float32)
    before = w_in.copy()
    trained, loss = train_examples(
        w_in,
        w_out,
        np.array([0, 1], np.int32),
        np.array([0, 2]),
        np.array([0]),
        0.1,
        0.0,
        "softmax",
    )
    h = np.array([2.0, 0.0])
    assert trained == 1 and loss == pytest.approx(np.log(2.0))
    np.testing.assert_allclose(w_out, np.stack([0.05 * h, -0.05 * h]), rtol=1e-6)
    assert np.array_equal(w_in, before)


@pytest.mark.parametrize("loss", ["softmax", "hs"])
def test_step_matches_reference(loss):
    w_in = np.array([[0.3, -0.1], [0.2, 0.4], [-0.5, 0.25]], np.float32)
    tree = LabelTree.build(np.array([3, 1])) if loss == "hs" else None
    w_out = np.array([[0.7, -0.3], [-0.2, 0.9]], np.float32)[: 2 if loss == "softmax" else 1]
    rows = np.array([0, 2, -1, 1, 1, 2], np.int32)  # example 0: rows 0, 2 (one unknown)
    offsets = np.array([0, 3, 6])  # example 1: row 1 twice, row 2
    labels = np.array([1, 0])
    ref = ref_train(w_in, w_out, rows, offsets, labels, 0.2, 0.05, loss, tree)
    got_in, got_out = w_in.copy(), w_out.copy()
    trained, total = train_examples(got_in, got_out, rows, offsets, labels, 0.2, 0.05, loss, tree)
    assert trained == ref[2] == 2
    assert total == pytest.approx(ref[3], rel=1e-6)
    np.testing.assert_allclose(got_in, ref[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got_out, ref[1], rtol=1e-6, atol=1e-7)
    assert not np.array_equal(got_in, w_in)  # the step did move the inputs


def test_hs_step_by_hand():
    # two labels: one node (row 0); label 1 takes bit 1 (the larger count is merged second),
    # so p(label 1) = sigmoid(w.h). With w.h = 0: g = lr * (1 - 1/2)
    tree = LabelTree.build(np.array([1, 5]))
    assert tree.codes[:, 0].tolist() == [0, 1] and tree.points[:, 0].tolist() == [0, 0]
    w_in = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    w_out = np.array([[0.5, -0.5]], np.float32)  # w.h = 0 for h = (0.5, 0.5)
    train_examples(
        w_in, w_out, np.array([0, 1]), np.array([0, 2]), np.array([1]), 0.4, 0.4, "hs", tree
    )
    g = 0.4 * 0.5
    np.testing.assert_allclose(w_out, [[0.5 + g * 0.5, -0.5 + g * 0.5]], rtol=1e-6)
    grad = g * np.array([0.5, -0.5]) / 2
    np.testing.assert_allclose(
        w_in, [[1.0 + grad[0], grad[1]], [grad[0], 1.0 + grad[1]]], rtol=1e-6
    )


@pytest.mark.parametrize("loss", ["softmax", "hs"])
def test_many_steps_match_reference(loss):
    rng = np.random.default_rng(3)
    n_labels, dim, vocab = 5, 4, 12
    tree = LabelTree.build(np.array([5, 1, 3, 3, 2])) if loss == "hs" else None
    w_in, w_out = init_weights(vocab, n_labels, dim, seed=1, loss=loss)
    w_out += rng.normal(0, 0.3, w_out.shape).astype(np.float32)
    examples = [rng.integers(-1, vocab, rng.integers(0, 6)).tolist() for _ in range(30)]
    rows, offsets = flat(examples), offsets_of(examples)
    labels = rng.integers(0, n_labels, 30)
    ref = ref_train(w_in, w_out, rows, offsets, labels, 0.5, 0.1, loss, tree)
    trained, total = train_examples(w_in, w_out, rows, offsets, labels, 0.5, 0.1, loss, tree)
    assert trained == ref[2] == sum(any(r >= 0 for r in e) for e in examples)
    assert total == pytest.approx(ref[3], rel=1e-5)
    np.testing.assert_allclose(w_in, ref[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(w_out, ref[1], rtol=1e-4, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    vocab=st.integers(1, 10),
    n_labels=st.integers(1, 6),
    dim=st.integers(1, 6),
    loss=st.sampled_from(["softmax", "hs"]),
)
def test_train_property(seed, vocab, n_labels, dim, loss):
    rng = np.random.default_rng(seed)
    w_in, w_out, tree = random_model(rng, vocab, n_labels, dim, loss)
    w_in *= 0.5
    w_out *= 0.5
    examples = [rng.integers(-1, vocab, rng.integers(0, 6)).tolist() for _ in range(6)]
    rows, offsets = flat(examples), offsets_of(examples)
    labels = rng.integers(0, n_labels, len(examples))
    lr0, lr1 = rng.uniform(0, 0.5, 2)
    ref = ref_train(w_in, w_out, rows, offsets, labels, lr0, lr1, loss, tree)
    trained, total = train_examples(w_in, w_out, rows, offsets, labels, lr0, lr1, loss, tree)
    assert trained == ref[2]
    assert total == pytest.approx(ref[3], rel=1e-4, abs=1e-5)
    np.testing.assert_allclose(w_in, ref[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(w_out, ref[1], rtol=1e-4, atol=1e-5)


def test_single_label_models():
    w_in, w_out = init_weights(4, 1, 3, seed=0, loss="hs")
    tree = LabelTree.build(np.array([10]))
    before = (w_in.copy(), w_out.copy())
    trained, loss = train_examples(
        w_in, w_out, np.array([0, 1]), np.array([0, 2]), np.array([0]), 0.1, 0.1, "hs", tree
    )
    assert trained == 1 and loss == 0.0
    assert np.array_equal(w_in, before[0]) and np.array_equal(w_out, before[1])
    for name, t, w in (("hs", tree, w_out), ("softmax", None, np.ones((1, 3), np.float32))):
        labels, scores = predict(w_in, w, np.array([2]), np.array([0, 1]), *no_mates(1), 2, name, t)
        assert labels.tolist() == [[0, -1]] and scores.tolist() == [[1.0, 0.0]]


# ---------------------------------------------------------------- prediction


def random_model(rng, vocab, n_labels, dim, loss):
    w_in = rng.normal(0, 1, (vocab, dim)).astype(np.float32)
    tree = LabelTree.build(rng.integers(0, 20, n_labels)) if loss == "hs" else None
    rows_out = n_labels if loss == "softmax" else max(n_labels - 1, 1)
    return w_in, rng.normal(0, 1, (rows_out, dim)).astype(np.float32), tree


def check_predictions(labels, scores, ref, top):
    """Scores equal the reference probabilities of the labels shown, best first; no label
    left out scores more than the last shown; equal scores rank the lower label first."""
    n_labels = ref.shape[1]
    for i in range(len(ref)):
        if np.isnan(ref[i, 0]):
            assert (labels[i] == -1).all() and (scores[i] == 0).all()
            continue
        shown = min(top, n_labels)
        lab = labels[i, :shown]
        assert len(set(lab.tolist())) == shown and (lab >= 0).all()
        np.testing.assert_allclose(scores[i, :shown], ref[i, lab], rtol=1e-4, atol=1e-6)
        assert (np.diff(scores[i, :shown]) <= 0).all()
        ties = scores[i, 1:shown] == scores[i, : shown - 1]
        assert (lab[1:][ties] > lab[:-1][ties]).all()
        rest = np.setdiff1d(np.arange(n_labels), lab)
        if len(rest):
            assert ref[i, rest].max() <= scores[i, shown - 1] + 1e-5
        assert (labels[i, shown:] == -1).all() and (scores[i, shown:] == 0).all()


@pytest.mark.parametrize("loss", ["softmax", "hs"])
def test_predict_matches_reference(loss):
    rng = np.random.default_rng(7)
    w_in, w_out, tree = random_model(rng, 30, 6, 5, loss)
    reads_a = [rng.integers(-1, 30, rng.integers(0, 8)).tolist() for _ in range(40)]
    reads_b = [rng.integers(-1, 30, rng.integers(0, 8)).tolist() for _ in range(40)]
    reads_a[0], reads_b[0] = [], [-1, -1]  # no known row
    args = (flat(reads_a), offsets_of(reads_a), flat(reads_b), offsets_of(reads_b))
    ref = ref_predict(w_in, w_out, *args, loss, tree)
    labels, scores = predict(w_in, w_out, *args, 3, loss, tree)
    assert labels.shape == scores.shape == (40, 3)
    assert labels.dtype == np.int32 and scores.dtype == np.float32
    check_predictions(labels, scores, ref, 3)
    assert labels[0].tolist() == [-1] * 3
    # all labels: probabilities sum to 1 (for hs: the tree's leaves share the mass)
    _, everything = predict(w_in, w_out, *args, 6, loss, tree)
    known = ~np.isnan(ref[:, 0])
    assert known.sum() > 30
    np.testing.assert_allclose(everything[known].sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("loss", ["softmax", "hs"])
def test_pairs_vote_as_one_read(loss):
    rng = np.random.default_rng(11)
    w_in, w_out, tree = random_model(rng, 20, 4, 3, loss)
    a = [[1, 2, -1], [5], []]
    b = [[3, -1], [], [7, 8]]
    joined = [x + y for x, y in zip(a, b)]
    known = [[r for r in e if r >= 0] for e in joined]
    empty = no_mates(3)
    pair = predict(w_in, w_out, flat(a), offsets_of(a), flat(b), offsets_of(b), 4, loss, tree)
    single = predict(w_in, w_out, flat(joined), offsets_of(joined), *empty, 4, loss, tree)
    clean = predict(w_in, w_out, flat(known), offsets_of(known), *empty, 4, loss, tree)
    for got in (single, clean):  # same rows summed in the same order: the same bytes
        assert np.array_equal(pair[0], got[0]) and np.array_equal(pair[1], got[1])


def test_ties_rank_lower_label_first():
    w_in = np.ones((3, 2), np.float32)
    w_out = np.zeros((5, 2), np.float32)
    w_out[3] = 1.0  # label 3 first, then 0, 1, 2, 4 tied
    labels, scores = predict(
        w_in, w_out, np.array([0, 1]), np.array([0, 2]), *no_mates(1), 5, "softmax"
    )
    assert labels.tolist() == [[3, 0, 1, 2, 4]]
    assert scores[0, 1] == scores[0, 4] and scores[0, 0] > scores[0, 1]


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    vocab=st.integers(1, 15),
    n_labels=st.integers(1, 7),
    dim=st.integers(1, 9),
    top=st.integers(1, 8),
    loss=st.sampled_from(["softmax", "hs"]),
    paired=st.booleans(),
)
def test_predict_property(seed, vocab, n_labels, dim, top, loss, paired):
    rng = np.random.default_rng(seed)
    w_in, w_out, tree = random_model(rng, vocab, n_labels, dim, loss)
    if rng.random() < 0.3:
        w_out[: len(w_out) // 2] = 0.0  # exact ties
    n = int(rng.integers(0, 6))
    a = [rng.integers(-2, vocab, rng.integers(0, 5)).tolist() for _ in range(n)]
    b = [rng.integers(-1, vocab, rng.integers(0, 4)).tolist() if paired else [] for _ in range(n)]
    args = (flat(a), offsets_of(a), flat(b), offsets_of(b))
    labels, scores = predict(w_in, w_out, *args, top, loss, tree)
    assert labels.shape == scores.shape == (n, top)
    check_predictions(labels, scores, ref_predict(w_in, w_out, *args, loss, tree), top)


def test_predict_threads_agree_with_serial():
    rng = np.random.default_rng(5)
    w_in, w_out, tree = random_model(rng, 50, 9, 16, "hs")
    reads = [rng.integers(0, 50, 30).tolist() for _ in range(200)]
    rows, off = flat(reads), offsets_of(reads)
    empty = no_mates(len(off) - 1)
    serial = predict(w_in, w_out, rows, off, *empty, 2, "hs", tree)
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda _: predict(w_in, w_out, rows, off, *empty, 2, "hs", tree), range(8))
        )
    for labels, scores in results:
        assert np.array_equal(labels, serial[0]) and np.array_equal(scores, serial[1])


# ---------------------------------------------------------------- learning


def planted(rng, n, n_labels=3, own=10, shared=20, length=20, own_share=0.25):
    """Each label owns `own` rows; an example mixes its label's rows with shared noise."""
    labels = rng.integers(0, n_labels, n)
    n_own = int(length * own_share)
    own_rows = labels[:, None] * own + rng.integers(0, own, (n, n_own))
    noise = n_labels * own + rng.integers(0, shared, (n, length - n_own))
    rows = np.concatenate([own_rows, noise], axis=1)
    rows = rng.permuted(rows, axis=1).astype(np.int32)
    return rows.ravel(), np.arange(n + 1, dtype=np.int64) * length, labels


@pytest.mark.parametrize("loss", ["softmax", "hs"])
def test_learns_planted_labels(loss):
    rng = np.random.default_rng(0)
    n_labels, vocab = 3, 3 * 10 + 20
    tree = LabelTree.build(np.array([1, 1, 1])) if loss == "hs" else None
    w_in, w_out = init_weights(vocab, n_labels, 16, seed=0, loss=loss)
    rows, off, labels = planted(rng, 3000)
    losses = []
    for epoch in range(3):
        lr0, lr1 = 0.5 * (1 - epoch / 3), 0.5 * (1 - (epoch + 1) / 3)
        trained, total = train_examples(w_in, w_out, rows, off, labels, lr0, lr1, loss, tree)
        assert trained == 3000
        losses.append(total / trained)
    assert losses[-1] < losses[0] < np.log(3) + 0.1
    test_rows, test_off, test_labels = planted(rng, 500)
    empty = no_mates(500)
    got, scores = predict(w_in, w_out, test_rows, test_off, *empty, 1, loss, tree)
    assert (got[:, 0] == test_labels).mean() >= 0.99
    assert scores[:, 0].mean() > 0.8


@pytest.mark.parametrize("loss", ["softmax", "hs"])
def test_training_is_deterministic(loss):
    rng = np.random.default_rng(1)
    rows, off, labels = planted(rng, 300)
    tree = LabelTree.build(np.bincount(labels)) if loss == "hs" else None
    out = []
    for _ in range(2):
        w_in, w_out = init_weights(50, 3, 8, seed=4, loss=loss)
        result = train_examples(w_in, w_out, rows, off, labels, 0.3, 0.0, loss, tree)
        out.append((w_in.tobytes(), w_out.tobytes(), result))
    assert out[0] == out[1]
    w_in2, _ = init_weights(50, 3, 8, seed=5, loss=loss)
    assert w_in2.tobytes() != init_weights(50, 3, 8, seed=4, loss=loss)[0].tobytes()


def test_init_weights_layout():
    w_in, w_out = init_weights(100, 6, 8, seed=0, loss="softmax")
    assert w_in.shape == (100, 8) and w_out.shape == (6, 8)
    assert w_in.dtype == w_out.dtype == np.float32 and not w_out.any()
    assert np.abs(w_in).max() < 1 / 8 and np.abs(w_in).max() > 0.1
    assert init_weights(100, 6, 8, seed=0, loss="hs")[1].shape == (5, 8)
    assert init_weights(100, 1, 8, seed=0, loss="hs")[1].shape == (1, 8)


# ---------------------------------------------------------------- validation


def test_bad_arguments_are_named():
    w_in, w_out = init_weights(10, 3, 4, seed=0, loss="softmax")
    rows, off, labels = np.array([0, 1]), np.array([0, 2]), np.array([0])
    with pytest.raises(ValueError, match="loss must be"):
        train_examples(w_in, w_out, rows, off, labels, 0.1, 0.0, "ns")
    with pytest.raises(ValueError, match="w_in must be a 2-D float32"):
        train_examples(w_in.astype(np.float16), w_out, rows, off, labels, 0.1, 0.0, "softmax")
    with pytest.raises(ValueError, match="below the vocabulary size 10"):
        train_examples(w_in, w_out, np.array([0, 10]), off, labels, 0.1, 0.0, "softmax")
    with pytest.raises(ValueError, match="labels must be in 0..2"):
        train_examples(w_in, w_out, rows, off, np.array([3]), 0.1, 0.0, "softmax")
    with pytest.raises(ValueError, match="one per example"):
        train_examples(w_in, w_out, rows, off, np.array([0, 1]), 0.1, 0.0, "softmax")
    with pytest.raises(ValueError, match="offsets must rise"):
        train_examples(w_in, w_out, rows, np.array([0, 3]), labels, 0.1, 0.0, "softmax")
    with pytest.raises(ValueError, match="needs the label tree"):
        train_examples(w_in, w_out[:2], rows, off, labels, 0.1, 0.0, "hs")
    with pytest.raises(ValueError, match="needs 2"):
        train_examples(w_in, w_out, rows, off, labels, 0.1, 0.0, "hs", LabelTree.build(np.ones(3)))
    with pytest.raises(ValueError, match="learning rates"):
        train_examples(w_in, w_out, rows, off, labels, -0.1, 0.0, "softmax")
    frozen = w_in.copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        train_examples(frozen, w_out, rows, off, labels, 0.1, 0.0, "softmax")
    # prediction reads only: a read-only (memory-mapped) table is fine
    predict(frozen, w_out, rows, off, *no_mates(1), 1, "softmax")
    with pytest.raises(ValueError, match="top must be"):
        predict(w_in, w_out, rows, off, *no_mates(1), 0, "softmax")
    with pytest.raises(ValueError, match="differ in length"):
        predict(w_in, w_out, rows, off, np.zeros(0, np.int32), np.zeros(3, np.int64), 1, "softmax")
