"""A classifier model directory: an embedding model (its input vectors are the k-mer
bucket vectors, so `seqray embed --model` reads it) plus the output layer and the labels.

```
MODEL_DIR/model.json   the embedding model's, plus "classifier": {"version", "labels",
                       "label_weights", "loss"}; "files" lists output.npy too
MODEL_DIR/hash.npz, buckets.npy, vectors.npy, counts.npy   (embed.model)
MODEL_DIR/output.npy   float32 [labels, dim] (softmax) or [labels - 1, dim] (hs: one row
                       per internal node of the Huffman tree built from label_weights)
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..embed.model import META, EmbeddingModel, read_meta
from ..embed.table import read_npy
from ..errors import InputError
from ..io.fs import join
from ..io.writers import WrittenFile
from .supervised import LabelTree

VERSION = 1
OUTPUT = "output.npy"
LOSSES = ("softmax", "hs")
UNCLASSIFIED = "unclassified"  # the label of a read below the score threshold


@dataclass
class ClassifierModel:
    embedding: EmbeddingModel  # hasher + input vectors (one per bucket)
    output: np.ndarray  # float32 [labels, dim] or [labels - 1, dim] (hs)
    labels: list[str]
    loss: str
    label_weights: np.ndarray  # int64[labels]: examples per label (the hs tree's counts)

    def __post_init__(self) -> None:
        self._inputs: np.ndarray | None = None
        self._tree: LabelTree | None = None

    @property
    def dim(self) -> int:
        return self.embedding.dim

    @property
    def tree(self) -> LabelTree | None:
        if self.loss == "hs" and self._tree is None:
            self._tree = LabelTree.build(np.asarray(self.label_weights, np.int64))
        return self._tree

    def inputs(self) -> np.ndarray:
        """The input vectors as float32 (widened once from a float16/bfloat16 table)."""
        if self._inputs is None:
            table = self.embedding.table
            self._inputs = (
                np.asarray(table.vectors)
                if table.dtype == "float32"
                else np.ascontiguousarray(table.as_float32())
            )
        return self._inputs

    def save(self, directory: str, overwrite: bool = False) -> list[WrittenFile]:
        meta = {
            "classifier": {
                "version": VERSION,
                "labels": list(self.labels),
                "label_weights": [int(x) for x in self.label_weights],
                "loss": self.loss,
            }
        }
        out = np.ascontiguousarray(self.output, dtype=np.float32)
        return self.embedding.save(directory, overwrite, {OUTPUT: out}, meta)

    @classmethod
    def load(cls, directory: str, mmap: bool = True) -> ClassifierModel:
        """The classifier in `directory`; errors name the file and what is wrong."""
        meta = read_meta(directory)
        uri = join(directory, META)
        spec = meta.get("classifier")
        if not isinstance(spec, dict):
            raise InputError(
                f"{uri}: an embedding model, not a classifier (seqray classify train "
                "writes one; seqray embed reads this one)"
            )
        if spec.get("version") != VERSION:
            raise InputError(
                f"{uri}: classifier version {spec.get('version')!r}; this seqray reads "
                f"version {VERSION}"
            )
        labels, weights, loss = spec.get("labels"), spec.get("label_weights"), spec.get("loss")
        if (
            not isinstance(labels, list)
            or not labels
            or not all(isinstance(x, str) for x in labels)
            or not isinstance(weights, list)
            or len(weights) != len(labels)
            or loss not in LOSSES
            or OUTPUT not in meta.get("files", {})
        ):
            raise InputError(
                f"{uri}: bad `classifier` entry (labels, label_weights of the same length, "
                f"loss one of {', '.join(LOSSES)}, and {OUTPUT} among the files)"
            )
        embedding = EmbeddingModel.load(directory, mmap=mmap)
        output = read_npy(join(directory, OUTPUT), mmap=mmap)
        rows = len(labels) if loss == "softmax" else max(len(labels) - 1, 1)
        if output.shape != (rows, embedding.dim) or output.dtype != np.float32:
            raise InputError(
                f"{join(directory, OUTPUT)}: {output.dtype} {output.shape}, expected float32 "
                f"({rows}, {embedding.dim}) for {len(labels)} labels ({loss})"
            )
        return cls(embedding, output, labels, loss, np.asarray(weights, np.int64))


def describe(model: ClassifierModel) -> dict[str, Any]:
    """The model's shape, for reports."""
    h = model.embedding.hasher.to_json()
    return {
        "labels": len(model.labels),
        "loss": model.loss,
        "hash": h.get("scheme"),
        "k": model.embedding.hasher.k,
        "buckets": model.embedding.table.size,
        "dim": model.dim,
    }
