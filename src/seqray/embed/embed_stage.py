"""The `embed` pipeline stage: reads → one vector per read (the mean of its L2-normalised
bucket vectors, `vectors.py`), or with `per_token` one array per k-mer token with
sinusoidal positional encodings. The model directory is loaded once per worker (a
stateful stage: `setup`), memory-mapped, and never written.

Paired reads are embedded together: a pair's vector is the mean over both mates' k-mers
(per token: read 1's tokens, then its mate's). The output keeps the read identity
(`source`, `record`) and read 1's `name`; the ordinary `write` stage writes it as Parquet.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from ..errors import ConfigError
from ..io.buffers import values_offsets
from ..io.schema import NAME, RECORD, SEQ, SEQ2, SOURCE, SOURCE_TYPE, numeric_array
from ..pipeline.kinds import READS, TOKEN_ARRAYS, VECTORS, BatchKind
from ..pipeline.outputs import absolute
from ..pipeline.registry import DictAccumulator, FinishContext, MapStage, StageConfig, register
from .model import EmbeddingModel, read_meta
from .vectors import counts, hash_mates, mean_vectors, token_vectors


class EmbedConfig(StageConfig):
    # a model directory (seqray embeddings train); unset: the model a train_embeddings
    # stage before it in the same pipeline writes
    model: str | None = Field(default=None, min_length=1)
    dtype: Literal["float32", "float16"] = "float32"  # of the output vectors
    per_token: bool = False  # one array per k-mer token instead of one per read
    positional: bool = True  # per_token: add sinusoidal positional encodings


class EmbedTally(DictAccumulator):
    """reads, kmers, unknown_kmers (bucket not in the table), empty_reads (no k-mer)."""

    KEYS = ("reads", "kmers", "unknown_kmers", "empty_reads")

    def __init__(self, *args: Any, **kw: Any):
        super().__init__({k: 0 for k in self.KEYS})
        self.update(*args, **kw)

    def __iadd__(self, other: EmbedTally) -> EmbedTally:
        for k in self.KEYS:
            self[k] += other[k]
        return self


@register
class EmbedStage(MapStage):
    """Embeds reads with a k-mer embedding model: a vector per read (mean of its
    L2-normalised bucket vectors; a pair's over both mates' k-mers), or per-token arrays
    with sinusoidal positional encodings; unknown buckets and k-mer-less reads counted."""

    name = "embed"
    Config = EmbedConfig
    config: EmbedConfig
    Accumulator = EmbedTally
    stateful: ClassVar[bool] = True

    def __init__(self, config: EmbedConfig):
        super().__init__(config)
        self._model: EmbeddingModel | None = None
        # model.json, checked where the pipeline is built: a bad model stops the run
        # before it writes anything (the vectors are loaded by each worker's `setup`)
        self.model_dir = absolute(config.model) if config.model else ""  # workers: elsewhere
        self.meta = read_meta(self.model_dir) if config.model else None
        self.trained_dim: int | None = None  # of the model trained in this pipeline

    def link(self, before: list, output: str) -> None:
        from .train_stage import TrainEmbeddingsStage

        if self.config.model:
            return
        trainers = [s for s in before if isinstance(s, TrainEmbeddingsStage)]
        if not trainers:
            raise ConfigError(
                "embed: no model given, and no train_embeddings stage before it to train "
                "one; set `model` to a model directory (seqray embeddings train)"
            )
        self.model_dir = absolute(trainers[-1].model_dir(output))
        self.trained_dim = trainers[-1].config.dim

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_model": None}  # each worker maps the files itself

    @staticmethod
    def summarize(report: dict) -> str:
        share = report["unknown_kmers"] / max(report["kmers"], 1)
        return (
            f"{report['reads']:,} reads embedded ({report['dim']} dimensions, "
            f"{report['dtype']}); {report['empty_reads']:,} without a k-mer (zero vectors); "
            f"{report['unknown_kmers']:,} of {report['kmers']:,} k-mers in unknown buckets "
            f"({share:.2%})"
        )

    @property
    def model(self) -> EmbeddingModel:
        if self._model is None:
            self._model = EmbeddingModel.load(self.model_dir)
        return self._model

    @property
    def dim(self) -> int:
        return int(self.meta["dim"]) if self.meta else int(self.trained_dim or 0)

    def setup(self) -> None:
        self._model = EmbeddingModel.load(self.model_dir)

    def input_paths(self) -> list[str]:
        return [self.model_dir] if self.config.model else []  # else the run writes it

    def takes(self) -> tuple[BatchKind, ...]:
        return (READS,)

    def gives(self, taken: BatchKind) -> BatchKind:
        return TOKEN_ARRAYS if self.config.per_token else VECTORS

    def _vector_type(self) -> pa.DataType:
        value = pa.float16() if self.config.dtype == "float16" else pa.float32()
        return pa.list_(value, self.dim)

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        last = (
            pa.field("token_values", pa.large_list(self._vector_type()), nullable=False)
            if self.config.per_token
            else pa.field("vector", self._vector_type(), nullable=False)
        )
        return pa.schema(
            [
                pa.field(SOURCE, SOURCE_TYPE, nullable=False),
                pa.field(RECORD, pa.int64(), nullable=False),
                pa.field(NAME, pa.large_string(), nullable=False),
                last,
            ]
        )

    def _fixed(self, matrix: np.ndarray) -> pa.FixedSizeListArray:
        dtype = np.float16 if self.config.dtype == "float16" else np.float32
        flat = numeric_array(np.ascontiguousarray(matrix, dtype=dtype).reshape(-1))
        return pa.FixedSizeListArray.from_arrays(flat, self.dim)

    def transform(self, table: pa.Table, acc: EmbedTally, chunk: Any) -> pa.Table:
        model = self.model
        values, offsets = values_offsets(table.column(SEQ))
        mate: dict[str, np.ndarray] = {}
        if SEQ2 in table.column_names:
            mate["values2"], mate["offsets2"] = values_offsets(table.column(SEQ2))
        a, b = hash_mates(model, values, offsets, **mate)
        kmers, unknown, empty = counts(a, b)
        last: pa.Array
        if self.config.per_token:
            arrays, tok_offsets = token_vectors(model, a, b, self.config.positional)
            last = pa.LargeListArray.from_arrays(numeric_array(tok_offsets), self._fixed(arrays))
        else:
            last = self._fixed(mean_vectors(model, a, b))
        acc["reads"] += table.num_rows
        acc["kmers"] += kmers
        acc["unknown_kmers"] += unknown
        acc["empty_reads"] += empty
        columns = [table.column(SOURCE), table.column(RECORD), table.column(NAME), last]
        return pa.Table.from_arrays(columns, schema=self.output_schema(table.schema))

    def finish(self, acc: EmbedTally, ctx: FinishContext) -> dict:
        return {
            "model": self.model_dir,
            "hash": (self.meta or read_meta(self.model_dir))["hash"],
            "dim": self.dim,
            "dtype": self.config.dtype,
            "per_token": self.config.per_token,
            **acc.to_json(),
        }
