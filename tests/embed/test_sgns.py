"""SGNS training: word2vec init, determinism, GIL release, and that it learns planted
structure as gensim's Word2Vec does on the same corpus."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from seqray.embed.sgns import SgnsParams, init_weights, train_slice
from seqray.embed.vocab import Vocabulary, to_corpus
from seqray.errors import SeqrayError

TOPIC = 20  # tokens per topic


def topic_corpus(n_sentences: int = 1500, length: int = 20, seed: int = 0):
    """Two disjoint topics of TOPIC bucket ids each (far-apart uint32 ids plus noise ids
    that min_count drops); each sentence draws all its tokens from one topic."""
    rng = np.random.default_rng(seed)
    topic_ids = [
        np.arange(TOPIC, dtype=np.uint32) * 7 + 1000,
        np.arange(TOPIC, dtype=np.uint32) * 11 + 3_000_000_000,
    ]
    which = rng.integers(0, 2, n_sentences)
    ids = np.empty((n_sentences, length), np.uint32)
    for t in (0, 1):
        rows = np.flatnonzero(which == t)
        ids[rows] = rng.choice(topic_ids[t], (len(rows), length))
    ids = ids.ravel()
    noise = rng.random(len(ids)) < 0.01  # singletons: below min_count, dropped by to_corpus
    ids[noise] = 50_000 + np.flatnonzero(noise).astype(np.uint32)
    offsets = np.arange(n_sentences + 1, dtype=np.int64) * length
    return ids, offsets, topic_ids


def build(ids, offsets):
    uniq, counts = np.unique(ids, return_counts=True)
    vocab = Vocabulary.from_counts(uniq, counts, min_count=2)
    tokens, tok_offsets = to_corpus(vocab, ids, offsets)
    return vocab, tokens, tok_offsets


def train(vocab, tokens, offsets, params, seed=0):
    w_in, w_out = init_weights(len(vocab), params.dim, params.seed)
    keep = vocab.keep_probs(params.sample)
    table = vocab.negative_table()
    losses = []
    for epoch in range(params.epochs):
        words, loss, pairs = train_slice(
            w_in, w_out, tokens, offsets, keep, table, params, epoch, 0, len(offsets) - 1, seed
        )
        assert words == offsets[-1]
        losses.append(loss / pairs)
    return w_in, w_out, losses


def separation(vectors: np.ndarray, groups: list[np.ndarray]) -> tuple[float, float]:
    """Mean cosine of distinct tokens within a topic, and across topics."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sim = unit @ unit.T
    label = np.empty(len(vectors), int)
    for g, rows in enumerate(groups):
        label[rows] = g
    same = label[:, None] == label[None, :]
    off_diagonal = ~np.eye(len(vectors), dtype=bool)
    return float(sim[same & off_diagonal].mean()), float(sim[~same].mean())


PARAMS = SgnsParams(dim=16, window=5, negatives=5, epochs=3, sample=1e-3, seed=3)


def test_init_weights_uniform_inputs_zero_outputs():
    w_in, w_out = init_weights(500, 50, seed=1)
    assert w_in.dtype == np.float32 and w_out.dtype == np.float32
    assert w_in.shape == w_out.shape == (500, 50)
    assert not w_out.any()
    assert np.abs(w_in).max() < 1 / 50
    # uniform on (-1/dim, 1/dim): mean 0, standard deviation (2/dim) / sqrt(12)
    assert abs(float(w_in.mean())) < 1e-3 and w_in.std() == pytest.approx(2 / 50 / 12**0.5, 0.05)
    again, _ = init_weights(500, 50, seed=1)
    assert np.array_equal(w_in, again)


def test_params_validate_and_default_min_lr():
    assert SgnsParams(lr=0.05).min_lr == pytest.approx(0.05 * 1e-4)
    with pytest.raises(SeqrayError, match="--dim"):
        SgnsParams(dim=0)
    with pytest.raises(SeqrayError, match="--negatives"):
        SgnsParams(negatives=-1)


def test_learns_planted_topics_and_loss_falls():
    ids, offsets, topic_ids = topic_corpus()
    vocab, tokens, tok_offsets = build(ids, offsets)
    assert len(vocab) == 2 * TOPIC  # the noise singletons were dropped
    w_in, _, losses = train(vocab, tokens, tok_offsets, PARAMS)
    groups = [vocab.index(t) for t in topic_ids]
    within, across = separation(w_in, groups)
    assert within > 0.9 and within - across > 0.6, (within, across)
    assert losses[-1] < losses[0] < 6 * np.log(2)  # below the untrained loss, and falling


def test_same_arguments_give_identical_bytes_and_seeds_differ():
    ids, offsets, _ = topic_corpus(n_sentences=300)
    vocab, tokens, tok_offsets = build(ids, offsets)
    a_in, a_out, _ = train(vocab, tokens, tok_offsets, PARAMS, seed=5)
    b_in, b_out, _ = train(vocab, tokens, tok_offsets, PARAMS, seed=5)
    assert a_in.tobytes() == b_in.tobytes() and a_out.tobytes() == b_out.tobytes()
    c_in, _, _ = train(vocab, tokens, tok_offsets, PARAMS, seed=6)
    assert not np.array_equal(a_in, c_in)


def test_threads_on_replicas_match_sequential_runs():
    ids, offsets, _ = topic_corpus(n_sentences=400)
    vocab, tokens, tok_offsets = build(ids, offsets)
    keep = vocab.keep_probs(PARAMS.sample)
    table = vocab.negative_table()
    halves = [(0, 200), (200, 400)]

    def run(replica, lo, hi, seed):
        train_slice(*replica, tokens, tok_offsets, keep, table, PARAMS, 0, lo, hi, seed)

    sequential = [init_weights(len(vocab), PARAMS.dim, 1) for _ in halves]
    for replica, (lo, hi) in zip(sequential, halves):
        run(replica, lo, hi, 9)
    threaded = [init_weights(len(vocab), PARAMS.dim, 1) for _ in halves]
    pool = [
        threading.Thread(target=run, args=(replica, lo, hi, 9))
        for replica, (lo, hi) in zip(threaded, halves)
    ]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    for (s_in, s_out), (t_in, t_out) in zip(sequential, threaded):
        assert s_in.tobytes() == t_in.tobytes() and s_out.tobytes() == t_out.tobytes()
    # the two halves start from different sentences, so they draw different randoms
    assert not np.array_equal(sequential[0][0], sequential[1][0])


def test_kernel_releases_the_gil():
    """While one thread trains, the main thread keeps running Python: with the GIL held
    for the whole slice, its samples would show one gap as long as the training."""
    ids, offsets, _ = topic_corpus(n_sentences=60_000, seed=1)
    vocab, tokens, tok_offsets = build(ids, offsets)
    keep = vocab.keep_probs(PARAMS.sample)
    table = vocab.negative_table()
    params = SgnsParams(dim=64, epochs=1)
    w_in, w_out = init_weights(len(vocab), params.dim, 0)
    train_slice(w_in, w_out, tokens, tok_offsets, keep, table, params, 0, 0, 10, 0)  # JIT
    span: list[float] = []

    def work() -> None:
        t0 = time.perf_counter()
        train_slice(w_in, w_out, tokens, tok_offsets, keep, table, params, 0, 0, 60_000, 0)
        span.append(time.perf_counter() - t0)

    worker = threading.Thread(target=work)
    samples = [time.perf_counter()]
    worker.start()
    while worker.is_alive():
        samples.append(time.perf_counter())
    worker.join()
    longest_gap = float(np.diff(samples).max())
    assert span[0] > 0.05  # long enough to tell
    assert longest_gap < span[0] / 2, (longest_gap, span[0])


def test_hogwild_threads_on_shared_arrays_still_learn():
    ids, offsets, topic_ids = topic_corpus()
    vocab, tokens, tok_offsets = build(ids, offsets)
    keep = vocab.keep_probs(PARAMS.sample)
    table = vocab.negative_table()
    w_in, w_out = init_weights(len(vocab), PARAMS.dim, 0)
    n = len(tok_offsets) - 1
    for epoch in range(PARAMS.epochs):
        pool = [
            threading.Thread(
                target=train_slice,
                args=(w_in, w_out, tokens, tok_offsets, keep, table, PARAMS, epoch, lo, hi, lo),
            )
            for lo, hi in ((0, n // 2), (n // 2, n))
        ]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    within, across = separation(w_in, [vocab.index(t) for t in topic_ids])
    assert within > 0.9 and within - across > 0.6, (within, across)


def test_agrees_with_gensim_on_planted_topics():
    gensim_models = pytest.importorskip("gensim.models")
    ids, offsets, topic_ids = topic_corpus()
    vocab, tokens, tok_offsets = build(ids, offsets)
    w_in, _, _ = train(vocab, tokens, tok_offsets, PARAMS)
    sentences = [[str(x) for x in tokens[a:b]] for a, b in zip(tok_offsets[:-1], tok_offsets[1:])]
    model = gensim_models.Word2Vec(
        sentences,
        vector_size=PARAMS.dim,
        window=PARAMS.window,
        negative=PARAMS.negatives,
        sg=1,
        hs=0,
        min_count=1,
        sample=PARAMS.sample,
        epochs=PARAMS.epochs,
        workers=1,
        seed=PARAMS.seed,
    )
    theirs = np.stack([model.wv[str(i)] for i in range(len(vocab))])
    groups = [vocab.index(t) for t in topic_ids]
    ours_within, ours_across = separation(w_in, groups)
    gensim_within, gensim_across = separation(theirs, groups)
    assert gensim_within - gensim_across > 0.6, (gensim_within, gensim_across)
    assert ours_within - ours_across > 0.6, (ours_within, ours_across)
    # nearest-topic assignment of every token agrees with the truth in both models
    for vectors in (w_in, theirs):
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        centroids = np.stack([unit[g].mean(axis=0) for g in groups])
        assigned = np.argmax(unit @ centroids.T, axis=1)
        truth = np.empty(len(vocab), int)
        for g, rows in enumerate(groups):
            truth[rows] = g
        assert np.array_equal(assigned, truth)


def test_bad_arrays_are_refused():
    vocab = Vocabulary(np.arange(3, dtype=np.uint32), np.array([2, 2, 2]))
    params = SgnsParams(dim=4, epochs=1)
    w_in, w_out = init_weights(3, 4, 0)
    keep = vocab.keep_probs(0.0)
    table = vocab.negative_table(size=30)
    tokens = np.array([0, 1, 2, 3], np.int32)  # row 3 does not exist
    offsets = np.array([0, 4], np.int64)
    with pytest.raises(ValueError, match="rows in 0..2"):
        train_slice(w_in, w_out, tokens, offsets, keep, table, params, 0, 0, 1, 0)
    with pytest.raises(ValueError, match="float32"):
        train_slice(
            w_in.astype(np.float64), w_out, tokens[:3], offsets, keep, table, params, 0, 0, 1, 0
        )
    with pytest.raises(ValueError, match="outside"):
        train_slice(w_in, w_out, tokens[:3], offsets, keep, table, params, 0, 0, 2, 0)
    with pytest.raises(ValueError, match="offsets"):
        bad = np.array([0, 4], np.int64)  # past the 3 tokens given
        train_slice(w_in, w_out, tokens[:3], bad, keep, table, params, 0, 0, 1, 0)
