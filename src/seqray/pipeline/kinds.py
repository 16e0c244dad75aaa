"""Batch kinds: what the rows of a batch are (reads, token rows, vectors, …).

Each stage says which kinds it takes and which it gives; the pipeline checks the chain when
it is built, and counts each stage's rows plus the measures of their kind (bases of reads,
tokens of token rows, values of vectors) for the run summary and the manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..io.buffers import values_offsets
from ..io.schema import SEQ, SEQ2


@dataclass(frozen=True)
class BatchKind:
    name: str  # in configs, errors and the manifest
    rows: str  # what a row is called in the run summary
    required: tuple[str, ...]  # columns every batch of this kind has
    measure: Callable[[pa.Table], dict[str, int]]  # its counts beyond rows

    def __str__(self) -> str:
        return self.name

    def missing(self, schema: pa.Schema) -> list[str]:
        """The required columns a schema lacks (a stage's declared output is checked)."""
        return [c for c in self.required if c not in schema.names]


def _bases(table: pa.Table) -> dict[str, int]:
    n = 0
    for c in (SEQ, SEQ2):
        if c in table.column_names:
            _, offsets = values_offsets(table.column(c))
            n += int(offsets[-1]) if len(offsets) else 0
    return {"bases": n}


def _list_values(column: str, measure: str) -> Callable[[pa.Table], dict[str, int]]:
    def count(table: pa.Table) -> dict[str, int]:
        col = table.column(column)
        return {measure: int(pc.sum(pc.list_value_length(col)).as_py() or 0) if len(col) else 0}

    return count


def _tokens(table: pa.Table) -> dict[str, int]:
    """Tokens of token rows; padding (attention mask 0) does not count."""
    if "attention_mask" not in table.column_names:
        return _list_values("input_ids", "tokens")(table)
    mask = pc.list_flatten(table.column("attention_mask"))
    return {"tokens": int(pc.sum(mask.cast(pa.int64())).as_py() or 0) if len(mask) else 0}


def _vector_values(table: pa.Table) -> dict[str, int]:
    t = table.schema.field("vector").type
    dim = t.list_size if isinstance(t, pa.FixedSizeListType) else 0
    return {"values": len(table) * dim}


def _kmer_total(table: pa.Table) -> dict[str, int]:
    counts = table.column("count")
    return {"kmer_occurrences": int(np.sum(counts.to_numpy())) if len(counts) else 0}


def _classified(table: pa.Table) -> dict[str, int]:
    """Rows given a label (not `unclassified`)."""
    from ..classify.model import UNCLASSIFIED  # lazily: the classifier pulls in numba

    labels = table.column("label")
    return {"classified": len(labels) - int(pc.sum(pc.equal(labels, UNCLASSIFIED)).as_py() or 0)}


READS = BatchKind("reads", "reads", (SEQ,), _bases)
TOKENS = BatchKind("tokens", "token rows", ("input_ids",), _tokens)
VECTORS = BatchKind("vectors", "vectors", ("vector",), _vector_values)
TOKEN_ARRAYS = BatchKind(
    "token_arrays", "token rows", ("token_values",), _list_values("token_values", "tokens")
)
KMER_COUNTS = BatchKind("kmer_counts", "k-mers", ("kmer", "count"), _kmer_total)
PREDICTIONS = BatchKind("predictions", "reads", ("label", "score"), _classified)

KINDS: dict[str, BatchKind] = {
    k.name: k for k in (READS, TOKENS, VECTORS, TOKEN_ARRAYS, KMER_COUNTS, PREDICTIONS)
}
ANY: tuple[BatchKind, ...] = tuple(KINDS.values())


def names(kinds: tuple[BatchKind, ...]) -> str:
    """`reads`, `reads or tokens`: for messages."""
    return " or ".join(k.name for k in kinds)
