"""Tiny models for tests, over exact canonical k-mer ids (`hashing.ExactHasher`): the id
of a k-mer is its canonical 2-bit code, so a test computes every read's ids by hand
(`kmer_id`)."""

from __future__ import annotations

import numpy as np

from seqray.embed.hashing import ExactHasher
from seqray.embed.model import EmbeddingModel
from seqray.embed.table import EmbeddingTable


def kmer_id(kmer: str) -> int:
    """The canonical code of one k-mer, by hand (A=0 C=1 G=2 T=3, first base high)."""
    comp = {"A": "T", "C": "G", "G": "C", "T": "A"}
    rc = "".join(comp[c] for c in reversed(kmer))
    code = lambda s: sum("ACGT".index(c) << (2 * (len(s) - 1 - i)) for i, c in enumerate(s))  # noqa: E731
    return min(code(kmer), code(rc))


def tiny_model(
    k: int = 3, dim: int = 4, keep: float = 0.6, dtype: str = "float32", seed: int = 0
) -> EmbeddingModel:
    """A model over a random `keep` share of the canonical k-mers (the rest are unknown),
    with random vectors (some of them scaled, so normalisation matters)."""
    rng = np.random.default_rng(seed)
    space = 4**k
    buckets = np.flatnonzero(rng.random(space) < keep).astype(np.uint32)
    matrix = rng.normal(size=(len(buckets), dim)).astype(np.float32) * rng.uniform(
        0.1, 5, size=(len(buckets), 1)
    ).astype(np.float32)
    counts = rng.integers(1, 100, len(buckets))
    table = EmbeddingTable.from_float32(buckets, matrix, dtype, counts)
    return EmbeddingModel(ExactHasher(k), table, {"note": "test"})
