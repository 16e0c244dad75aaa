"""One interface over every embedding backend: sequences in, one vector per sequence out.

The pipeline's `embed` stage works on Arrow batches; `seqray serve` and the Python API
embed lists of sequences. Both go through an `Embedder`, so a vector served over HTTP is
the vector `seqray embed` writes for the same sequence and model.

Backends: `lsh` (a seqray k-mer embedding model: `seqray embeddings train`, any hash) and
`hf` (a local Hugging Face model directory, `embed/hf/`).
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

import numpy as np

from ..errors import ConfigError

Backend = Literal["lsh", "hf"]
BACKENDS: tuple[str, ...] = ("lsh", "hf")


class Embedder(Protocol):
    """A loaded model. `embed` takes upper-case sequences (bytes) and gives float32
    [n, dim] in their order; sequences the model cannot take raise InputError naming the
    sequence's index."""

    backend: str
    model: str  # the model directory, as given
    dim: int

    def embed(self, sequences: list[bytes]) -> np.ndarray: ...


class KmerEmbedder:
    """A seqray k-mer embedding model: a sequence's vector is the mean of its k-mers'
    L2-normalised bucket vectors (`vectors.py`), as the `embed` stage computes it."""

    backend = "lsh"

    def __init__(self, model_dir: str):
        from .model import EmbeddingModel

        self.model = model_dir
        self._model = EmbeddingModel.load(model_dir)
        self.dim = int(self._model.dim)

    def embed(self, sequences: list[bytes]) -> np.ndarray:
        from .vectors import read_vectors

        lengths = np.fromiter((len(s) for s in sequences), np.int64, len(sequences))
        offsets = np.zeros(len(sequences) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        values = np.frombuffer(b"".join(sequences), np.uint8)
        vectors, _, _ = read_vectors(self._model, values, offsets)
        return vectors


def load_embedder(model_dir: str, backend: str = "lsh", **options: Any) -> Embedder:
    """The embedder of `backend` for the model in `model_dir`; `options` are the
    backend's (hf: pooling, max_length, overlap, batch_tokens, precision, device, threads)."""
    if backend == "lsh":
        if options:
            raise ConfigError(f"backend lsh takes no options ({', '.join(sorted(options))})")
        return KmerEmbedder(model_dir)
    if backend == "hf":
        from .hf.embedder import HFEmbedder

        return HFEmbedder(model_dir, **options)
    raise ConfigError(f"unknown embedding backend {backend!r}; allowed: {', '.join(BACKENDS)}")
