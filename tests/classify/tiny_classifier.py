"""Tiny classifier models for tests, over exact canonical 3-mers (`exact_hasher`), and a
plain reference of what `classify` must give: k-mer ids by hand, the mean of the known
k-mers' input vectors, softmax (or the product of sigmoids down the label's Huffman path)."""

from __future__ import annotations

import numpy as np

from seqray.classify.model import ClassifierModel
from seqray.embed.hashing import ExactHasher
from seqray.embed.model import EmbeddingModel
from seqray.embed.table import EmbeddingTable

from ..embed.exact_hasher import kmer_id

K = 3
LABELS = ["alpha", "beta", "gamma"]
# each label owns one 3-mer: its input vector points along the label's own axis
OWNED = {"AAA": [2.0, 0.0, 0.0], "CCC": [0.0, 2.0, 0.0], "ATA": [0.0, 0.0, 2.0]}


def planted_model(loss: str = "softmax") -> ClassifierModel:
    """Three labels, each owning one k-mer (AAA → alpha, CCC → beta, ATA → gamma); every
    other k-mer is unknown. softmax: the output layer is the identity, so a read of only
    AAA scores softmax([2, 0, 0]) for alpha. hs: a fixed [2, 3] output layer."""
    ids = [kmer_id(k) for k in OWNED]
    vectors = np.array(list(OWNED.values()), np.float32)
    table = EmbeddingTable.from_float32(np.array(ids), vectors, "float32", [5, 3, 2])
    embedding = EmbeddingModel(ExactHasher(K), table, {"note": "planted"})
    if loss == "softmax":
        output = np.eye(3, dtype=np.float32)
    else:
        output = np.array([[1.0, -0.5, 0.25], [-0.75, 1.5, 0.5]], np.float32)
    return ClassifierModel(embedding, output, list(LABELS), loss, np.array([5, 3, 2]))


def random_model(
    labels: int = 4, dim: int = 5, loss: str = "softmax", seed: int = 0
) -> ClassifierModel:
    """Random vectors for a random 60 % of the canonical 3-mers, a random output layer."""
    rng = np.random.default_rng(seed)
    space = 4**K
    buckets = np.flatnonzero(rng.random(space) < 0.6).astype(np.uint32)
    vectors = rng.normal(size=(len(buckets), dim)).astype(np.float32)
    table = EmbeddingTable.from_float32(buckets, vectors, "float32", np.ones(len(buckets)))
    rows = labels if loss == "softmax" else max(labels - 1, 1)
    output = (rng.normal(size=(rows, dim)) * 2).astype(np.float32)
    weights = rng.integers(1, 50, labels)
    names = [f"genome_{i}" for i in range(labels)]
    return ClassifierModel(EmbeddingModel(ExactHasher(K), table, {}), output, names, loss, weights)


def kmer_vectors(model: ClassifierModel) -> dict[int, np.ndarray]:
    """bucket id → input vector, from the table as stored."""
    t = model.embedding.table
    return {int(b): np.asarray(v, np.float64) for b, v in zip(t.buckets, t.as_float32())}


def probabilities(model: ClassifierModel, seqs: list[str]) -> np.ndarray | None:
    """Every label's probability for a read made of `seqs` (its mates), float64; None
    when no k-mer of any mate is known."""
    table = kmer_vectors(model)
    found = []
    for s in seqs:
        for i in range(len(s) - K + 1):
            window = s[i : i + K]
            if "N" not in window and kmer_id(window) in table:
                found.append(table[kmer_id(window)])
    if not found:
        return None
    h = np.mean(found, axis=0)
    x = np.asarray(model.output, np.float64) @ h
    if model.loss == "softmax":
        e = np.exp(x - x.max())
        return np.asarray(e / e.sum())
    tree = model.tree
    assert tree is not None
    sig = 1 / (1 + np.exp(-x))
    p = np.ones(len(model.labels))
    for j in range(len(model.labels)):
        for t in range(int(tree.lengths[j])):
            q = sig[tree.points[j, t]]
            p[j] *= q if tree.codes[j, t] else 1 - q
    return p
