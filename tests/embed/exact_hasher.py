"""A test-only k-mer hasher with the KmerHasher interface of seqray.embed.hashing: the
bucket id of a k-mer is its exact canonical 2-bit code (seqray.kmers.encode), so a test
can compute every read's ids by hand. `install` makes EmbeddingModel.load build it from
a model.json whose hash scheme is "test-exact" (other schemes go to the real loader)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from seqray.embed import model as model_module
from seqray.embed.model import EmbeddingModel
from seqray.embed.table import EmbeddingTable
from seqray.kmers.encode import window_codes

SCHEME = "test-exact"


class ExactTestHasher:
    scheme: ClassVar[str] = SCHEME

    def __init__(self, k: int):
        assert 1 <= k <= 16
        self.k = k

    def id_space(self) -> int:
        return 4**self.k

    def hash_reads(self, values: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        codes, valid, win = window_codes(values, offsets, self.k, canonical=True)
        cum = np.zeros(len(valid) + 1, np.int64)
        np.cumsum(valid, out=cum[1:])
        return codes[valid].astype(np.uint32), cum[win]

    def to_json(self) -> dict:
        return {"scheme": SCHEME, "k": self.k, "version": 1}

    def arrays(self) -> dict[str, np.ndarray]:
        return {"check": np.arange(3, dtype=np.int64)}  # round-trips through hash.npz


def kmer_id(kmer: str) -> int:
    """The canonical code of one k-mer, by hand (A=0 C=1 G=2 T=3, first base high)."""
    comp = {"A": "T", "C": "G", "G": "C", "T": "A"}
    rc = "".join(comp[c] for c in reversed(kmer))
    code = lambda s: sum("ACGT".index(c) << (2 * (len(s) - 1 - i)) for i, c in enumerate(s))  # noqa: E731
    return min(code(kmer), code(rc))


def install(monkeypatch) -> None:
    real = model_module.load_hasher

    def load(meta: dict, arrays: dict[str, np.ndarray]):
        if meta.get("scheme") == SCHEME:
            assert list(arrays["check"]) == [0, 1, 2]
            return ExactTestHasher(int(meta["k"]))
        return real(meta, arrays)

    monkeypatch.setattr(model_module, "load_hasher", load)


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
    return EmbeddingModel(ExactTestHasher(k), table, {"note": "test"})
