"""The `embed` pipeline stage: reads → one vector per read, or per-token arrays.

Two backends. `lsh` (default): a seqray k-mer embedding model; a read's vector is the mean
of its L2-normalised bucket vectors (`vectors.py`), or with `per_token` one array per
k-mer token with sinusoidal positional encodings; paired reads are embedded together (a
pair's vector is the mean over both mates' k-mers; per token: read 1's, then its mate's).
`hf`: a local Hugging Face encoder (`hf/`), pooled (`cls`, `mean`) or per token
(`pooling: tokens`); paired input is refused (embed R1 and R2 files as separate inputs):
a transformer has no single right way to take two mates.

The model is loaded once per worker (a stateful stage: `setup`; on Ray an actor pool, a
GPU per actor for `device: cuda`) and never written. The output keeps the read identity
(`source`, `record`) and read 1's `name`, in input order; the `write` stage writes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from ..errors import ConfigError
from ..io.buffers import values_offsets
from ..io.schema import NAME, RECORD, SEQ, SEQ2, SOURCE, SOURCE_TYPE, numeric_array
from ..pipeline.kinds import READS, TOKEN_ARRAYS, VECTORS, BatchKind
from ..pipeline.outputs import absolute
from ..pipeline.registry import (
    DictAccumulator,
    FinishContext,
    MapStage,
    Resources,
    StageConfig,
    register,
)
from .hf.files import ModelDir, check_model_dir
from .model import EmbeddingModel, read_meta
from .vectors import counts, hash_mates, mean_vectors, token_vectors

if TYPE_CHECKING:
    from .hf.embedder import HFEmbedder

HF_KEYS = ("pooling", "max_length", "overlap", "batch_tokens", "precision", "device")


class EmbedConfig(StageConfig):
    # a model directory (seqray embeddings train); unset: the model a train_embeddings
    # stage before it in the same pipeline writes
    model: str | None = Field(default=None, min_length=1)
    dtype: Literal["float32", "float16"] = "float32"  # of the output vectors
    backend: Literal["lsh", "hf"] = "lsh"
    # lsh only
    per_token: bool = False  # one array per k-mer token instead of one per read
    positional: bool = True  # per_token: add sinusoidal positional encodings
    # hf only (unset: the defaults in `hf_options`)
    pooling: Literal["cls", "mean", "tokens"] | None = None  # default mean
    max_length: int | None = Field(default=None, ge=2)  # tokens a window holds, specials in
    overlap: int | None = Field(default=None, ge=0)  # tokens shared by consecutive windows
    batch_tokens: int | None = Field(default=None, ge=1)  # padded tokens a batch holds
    precision: Literal["auto", "float32", "float16", "bfloat16"] | None = None  # compute
    device: str | None = Field(default=None, min_length=1)  # auto | cpu | cuda[:i]

    @model_validator(mode="after")
    def _backend_keys(self) -> EmbedConfig:
        if self.backend == "hf":
            lsh = [
                k
                for k, v in (("per_token", self.per_token), ("positional", not self.positional))
                if v
            ]
            if lsh:
                raise ValueError(
                    f"{', '.join(lsh)}: backend lsh only (backend hf: pooling: tokens for "
                    "per-token arrays; a transformer has its own positions)"
                )
            if not self.model:
                raise ValueError("backend hf needs `model`: a local Hugging Face model directory")
        else:
            hf = [k for k in HF_KEYS if getattr(self, k) is not None]
            if hf:
                raise ValueError(f"{', '.join(hf)}: backend hf only (set backend: hf)")
        return self

    def hf_options(self) -> dict[str, Any]:
        """HFEmbedder's keyword options (None: its default)."""
        return {k: getattr(self, k) for k in HF_KEYS}


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


class HFTally(DictAccumulator):
    """backend hf: sequences, their tokens, windows run, sequences cut into windows,
    sequences without a token, padded batch tokens and padding among them; `workers`:
    the device and precision each worker ran on → sequences it embedded."""

    KEYS = ("sequences", "tokens", "windows", "windowed", "empty", "batch_tokens", "padding")

    def __init__(self, *args: Any, **kw: Any):
        super().__init__({k: 0 for k in self.KEYS}, workers={})
        self.update(*args, **kw)

    def __iadd__(self, other: HFTally) -> HFTally:
        for k in self.KEYS:
            self[k] += other[k]
        for k, n in other["workers"].items():
            self["workers"][k] = self["workers"].get(k, 0) + n
        return self


@register
class EmbedStage(MapStage):
    """Embeds reads with a seqray k-mer model (lsh: mean of L2-normalised bucket vectors,
    a pair's over both mates' k-mers, or per-token arrays with sinusoidal positions) or a
    local Hugging Face encoder (hf: cls or mean pooled, or per-token arrays)."""

    name = "embed"
    Config = EmbedConfig
    config: EmbedConfig
    Accumulator = EmbedTally
    stateful: ClassVar[bool] = True

    def __init__(self, config: EmbedConfig):
        super().__init__(config)
        self._model: EmbeddingModel | None = None
        self._hf: HFEmbedder | None = None
        self.hf_dir: ModelDir | None = None
        # model.json (config.json for hf), checked where the pipeline is built: a bad
        # model stops the run before it writes anything (workers load it in `setup`)
        self.model_dir = absolute(config.model) if config.model else ""  # workers: elsewhere
        self.meta = None
        if config.backend == "hf":
            self.hf_dir = check_model_dir(self.model_dir)
        elif config.model:
            self.meta = read_meta(self.model_dir)
        self.trained_dim: int | None = None  # of the model trained in this pipeline

    @property
    def hf(self) -> bool:
        return self.config.backend == "hf"

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
        # each worker maps the files (loads the model) itself
        return {**self.__dict__, "_model": None, "_hf": None}

    def new_accumulator(self) -> Any:
        return HFTally() if self.hf else EmbedTally()

    def accumulator_from_json(self, data: Any) -> Any:
        return HFTally.from_json(data) if self.hf else EmbedTally.from_json(data)

    @staticmethod
    def summarize(report: dict) -> str:
        if report.get("backend") == "hf":
            return (
                f"{report['sequences']:,} reads embedded with {report['model']} "
                f"({report['pooling']} pooling, {report['dim']} dimensions, {report['dtype']}"
                f"; {report['device']}, {report['precision']}); {report['tokens']:,} tokens, "
                f"{report['windowed']:,} reads cut into windows, "
                f"{report['padding_share']:.1%} padding"
            )
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
    def embedder(self) -> HFEmbedder:
        if self._hf is None:
            self.setup()
        assert self._hf is not None
        return self._hf

    @property
    def dim(self) -> int:
        if self.hf_dir is not None:
            return self.hf_dir.dim
        return int(self.meta["dim"]) if self.meta else int(self.trained_dim or 0)

    def setup(self) -> None:
        if self.hf:
            from .hf.embedder import HFEmbedder

            # torch runs on the worker's CPUs (one forward at a time, `HFEmbedder`)
            self._hf = HFEmbedder(self.model_dir, threads=self.threads, **self.config.hf_options())
        else:
            self._model = EmbeddingModel.load(self.model_dir)

    def default_resources(self) -> Resources:
        """hf on a GPU (device cuda, or auto where this machine's torch sees one): a GPU
        per worker, so Ray gives each actor of the pool its own."""
        if not self.hf:
            return Resources()
        device = self.config.device or "auto"
        if device.startswith("cuda"):
            return Resources(num_gpus=1)
        if device == "auto" and _driver_sees_gpu():
            return Resources(num_gpus=1)
        return Resources()

    def input_paths(self) -> list[str]:
        return [self.model_dir] if self.config.model else []  # else the run writes it

    def targets(self, output: str, paired: bool, label: str) -> list:
        if paired and self.hf:
            raise ConfigError(_PAIRS)
        return []

    def takes(self) -> tuple[BatchKind, ...]:
        return (READS,)

    def _per_token(self) -> bool:
        return self.config.pooling == "tokens" if self.hf else self.config.per_token

    def gives(self, taken: BatchKind) -> BatchKind:
        return TOKEN_ARRAYS if self._per_token() else VECTORS

    def _vector_type(self) -> pa.DataType:
        value = pa.float16() if self.config.dtype == "float16" else pa.float32()
        return pa.list_(value, self.dim)

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        if self.hf and SEQ2 in schema.names:
            raise ConfigError(_PAIRS)
        last = (
            pa.field("token_values", pa.large_list(self._vector_type()), nullable=False)
            if self._per_token()
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

    def transform(self, table: pa.Table, acc: Any, chunk: Any) -> pa.Table:
        last = self._hf_column(table, acc) if self.hf else self._lsh_column(table, acc)
        columns = [table.column(SOURCE), table.column(RECORD), table.column(NAME), last]
        return pa.Table.from_arrays(columns, schema=self.output_schema(table.schema))

    def _hf_column(self, table: pa.Table, acc: HFTally) -> pa.Array:
        embedder = self.embedder
        values, offsets = values_offsets(table.column(SEQ))
        out = embedder.embed_arrays(values, offsets)
        for k in HFTally.KEYS:
            acc[k] += getattr(out.stats, k)
        worker = f"{embedder.device} {embedder.precision}"
        acc["workers"][worker] = acc["workers"].get(worker, 0) + table.num_rows
        if out.vectors is not None:
            return self._fixed(out.vectors)
        assert out.values is not None and out.offsets is not None
        return pa.LargeListArray.from_arrays(numeric_array(out.offsets), self._fixed(out.values))

    def _lsh_column(self, table: pa.Table, acc: EmbedTally) -> pa.Array:
        model = self.model
        values, offsets = values_offsets(table.column(SEQ))
        mate: dict[str, np.ndarray] = {}
        if SEQ2 in table.column_names:
            mate["values2"], mate["offsets2"] = values_offsets(table.column(SEQ2))
        a, b = hash_mates(model, values, offsets, **mate)
        kmers, unknown, empty = counts(a, b)
        acc["reads"] += table.num_rows
        acc["kmers"] += kmers
        acc["unknown_kmers"] += unknown
        acc["empty_reads"] += empty
        if self.config.per_token:
            arrays, tok_offsets = token_vectors(model, a, b, self.config.positional)
            return pa.LargeListArray.from_arrays(numeric_array(tok_offsets), self._fixed(arrays))
        return self._fixed(mean_vectors(model, a, b))

    def finish(self, acc: Any, ctx: FinishContext) -> dict:
        if self.hf:
            workers = acc["workers"]
            return {
                "backend": "hf",
                "model": self.model_dir,
                "dim": self.dim,
                "dtype": self.config.dtype,
                "pooling": self.config.pooling or "mean",
                "device": ", ".join(sorted({w.split(" ")[0] for w in workers})) or "none",
                "precision": ", ".join(sorted({w.split(" ")[1] for w in workers})) or "none",
                "padding_share": acc["padding"] / max(acc["batch_tokens"], 1),
                **acc.to_json(),
            }
        return {
            "backend": "lsh",
            "model": self.model_dir,
            "hash": (self.meta or read_meta(self.model_dir))["hash"],
            "dim": self.dim,
            "dtype": self.config.dtype,
            "per_token": self.config.per_token,
            **acc.to_json(),
        }


_PAIRS = (
    "embed: backend hf takes single reads, not pairs: give the R1 and R2 files as separate "
    "inputs (each read is embedded on its own), or merge the mates first"
)


def _driver_sees_gpu() -> bool:
    """Whether torch sees a CUDA GPU here (the driver): only asked for backend hf with
    device auto, so torch is imported only then."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())
