"""The `train_embeddings` pipeline stage: LSHvec-style k-mer embeddings trained on the
run's reads, written as a model directory (`seqray embed --model` loads it).

All the work is in `prepare`, before the main pass: (1) for LSH, hyperplanes are fitted to
k-mers of a sample of reads (the bottom-k by identity hash, `tokenize/sample.py`: the same
for any chunking); (2) a pass hashes every read into a sentence of bucket ids
(`corpus.py`); (3) buckets are counted and those seen `min_count` times form the
vocabulary; (4) skip-gram training runs on the runner's workers (`train.py`), with a
checkpoint per epoch; (5) the model is saved. Each step's result is kept in the run's
state, so `--resume` after a crash continues from the last one done. The main pass
hands the reads on unchanged, so an `embed` stage may follow in the same pipeline.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from ..errors import ConfigError
from ..io.buffers import values_offsets
from ..io.fs import join, read_npz
from ..io.writers import WrittenFile, write_npz
from ..pipeline.kinds import READS, BatchKind
from ..pipeline.outputs import Target
from ..pipeline.progress import Progress
from ..pipeline.registry import (
    FinishContext,
    MapStage,
    PrepareContext,
    StageConfig,
    register,
)
from ..tokenize.sample import TrainingSample, merge_samples
from .corpus import CorpusSink, count_buckets
from .hashing import KmerHasher, hasher_for_reads, hasher_from
from .model import ARRAY_FILES, META, EmbeddingModel
from .sgns import SgnsParams
from .table import EmbeddingTable
from .train import Checkpoints, Trainer
from .vocab import Vocabulary

MODEL_DIR = "embedding_model"  # the model's place under a pipeline's output


class TrainEmbeddingsConfig(StageConfig):
    # defaults from docs/benchmarks.md (k-mer embeddings): for short reads, mean-pooled
    # vectors of exact 8-mers classified reads best of every k and hash measured
    k: int = Field(default=8, ge=1, le=32)
    hash: Literal["lsh", "fnv", "exact"] = "exact"
    hash_bits: int = Field(default=20, ge=1, le=32)  # lsh: bits per id; fnv: 2^bits buckets
    buckets: int | None = Field(default=None, ge=1, le=2**32)  # fnv: overrides hash_bits
    dim: int = Field(default=100, ge=1, le=4096)
    window: int = Field(default=5, ge=1, le=100)
    negatives: int = Field(default=5, ge=1, le=100)
    epochs: int = Field(default=5, ge=1, le=1000)
    min_count: int = Field(default=2, ge=1)
    sample: float = Field(default=1e-3, ge=0)  # frequent-token subsampling threshold
    lr: float = Field(default=0.025, gt=0)
    seed: int = Field(default=0, ge=0)
    workers: int = Field(default=1, ge=1)  # training workers (Ray actors on the Ray runner)
    # per worker; default: the CPUs the runner has, shared among the workers (on Ray: what
    # a node holds), decided when the run starts and recorded with the model
    threads: int | None = Field(default=None, ge=1)
    # merge points per epoch; default: twice the replicas (workers × threads), at least 4
    # (fewer merges of more replicas learn less per epoch)
    syncs: int | None = Field(default=None, ge=1, le=1000)
    hogwild: bool = False  # threads share one replica per worker: faster, not reproducible
    sample_reads: int = Field(default=10_000, ge=1)  # reads whose k-mers fit the LSH planes
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    directory: str = MODEL_DIR  # under the run's output; "" puts the model at its root
    # the search that chose these settings (`seqray embeddings tune` sets it): kept in
    # model.json's `training` and in the run's report
    search: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _check(self):
        if self.hash == "exact" and self.k > 16:
            raise ValueError(
                f"hash exact keeps one row per canonical k-mer: k must be <= 16, got {self.k} "
                "(use hash lsh or fnv for longer k-mers)"
            )
        return self

    def params(self) -> SgnsParams:
        return SgnsParams(
            dim=self.dim,
            window=self.window,
            negatives=self.negatives,
            epochs=self.epochs,
            lr=self.lr,
            min_lr=self.lr * 1e-4,
            sample=self.sample,
            seed=self.seed,
        )


@register
class TrainEmbeddingsStage(MapStage):
    """Trains k-mer bucket embeddings (skip-gram, negative sampling) on the reads."""

    name = "train_embeddings"
    writes_output = True  # the model
    Config = TrainEmbeddingsConfig
    config: TrainEmbeddingsConfig

    @staticmethod
    def summarize(report: dict) -> str:
        last = report["epochs"][-1] if report.get("epochs") else {}
        return (
            f"{report['vocabulary']:,} buckets × {report['dim']} ({report['hash']}, "
            f"k={report['k']}) from {report['tokens']:,} k-mers; "
            f"{report['trained_words']:,} words trained, "
            f"{report['words_per_second']:,.0f} words/s, final loss {last.get('loss', 0):.4f}"
        )

    def __init__(self, config: TrainEmbeddingsConfig):
        super().__init__(config)
        self.files: list[Any] = []
        self.report: dict[str, Any] = {}

    def needs_prepare(self) -> bool:
        return True

    def takes(self) -> tuple[BatchKind, ...]:
        return (READS,)

    def model_dir(self, output: str) -> str:
        return join(output, self.config.directory) if self.config.directory else output

    def targets(self, output: str, paired: bool, label: str) -> list[Target]:
        where = self.model_dir(output)
        return [Target(join(where, name), "file", label) for name in (*ARRAY_FILES, META)]

    def transform(self, table: pa.Table, acc: Any, chunk: Any) -> pa.Table:
        return table

    def _hasher(self, ctx: PrepareContext, state: str) -> KmerHasher:
        c = self.config
        values, offsets = np.empty(0, np.uint8), np.zeros(1, np.int64)
        if c.hash == "lsh":  # planes fitted to k-mers of a read sample (the same for any chunking)
            sample = TrainingSample(join(state, "sample"), ctx.source_order, c.sample_reads)
            outcomes = ctx.scan(sample)
            uris = [s.uri for o in outcomes for s in o.shards_of(TrainingSample.name)]
            seqs = merge_samples(uris, c.sample_reads)
            values, offsets = values_offsets(pa.array(seqs, pa.large_binary()))
        return hasher_for_reads(c.hash, c.k, c.hash_bits, values, offsets, c.seed, c.buckets)

    def prepare(self, ctx: PrepareContext) -> None:
        c = self.config
        saved = ctx.load_prepared("embedding-model")  # an interrupted run's finished model
        if saved is not None:
            self.files = [WrittenFile(**f) for f in saved["files"]]
            self.report = saved["report"]
            return
        state = ctx.state_dir("train_embeddings")
        corpus = ctx.load_prepared("embedding-corpus")
        if corpus is None:
            hasher = self._hasher(ctx, state)
            outcomes = ctx.scan(CorpusSink(join(state, "corpus"), hasher))
            shards = [s for o in outcomes for s in o.shards_of(CorpusSink.name)]
            files = [f for s in shards for f in s.files]
            hash_file = write_npz(join(state, "hash.npz"), hasher.arrays())
            corpus = {
                "hasher": hasher.to_json(),
                "shards": [s.uri for s in shards],
            }
            ctx.save_prepared("embedding-corpus", [*files, hash_file], corpus)
        else:
            hasher = hasher_from(corpus["hasher"], read_npz(join(state, "hash.npz")))
        ids, counts, per_shard, n_tokens = count_buckets(ctx.runner, corpus["shards"])
        vocab = Vocabulary.from_counts(ids, counts, c.min_count)
        if len(vocab) == 0:
            raise ConfigError(
                f"train_embeddings: no k-mer bucket occurs {c.min_count} times in the reads "
                f"({n_tokens:,} k-mers of k={c.k}); lower min_count or give more reads"
            )
        params = c.params()
        threads = c.threads or ctx.runner.worker_cpus(c.workers)
        syncs = c.syncs or max(4, 2 * c.workers * threads)
        trainer = Trainer(
            ctx.runner,
            corpus["shards"],
            vocab,
            params,
            workers=c.workers,
            threads=threads,
            syncs=syncs,
            hogwild=c.hogwild,
            checkpoints=Checkpoints(join(state, "checkpoints"), ctx.config_hash),
            progress=ctx.progress or Progress(),
        )
        w_in, _ = trainer.run(per_shard)
        trained = sum(h["words"] for h in trainer.history)
        seconds = sum(h["seconds"] for h in trainer.history)
        training = {
            **asdict(params),
            "workers": c.workers,
            "threads": threads,
            "syncs": syncs,
            "hogwild": c.hogwild,
            "min_count": c.min_count,
        }
        if c.search is not None:
            training["search"] = c.search
        table = EmbeddingTable.from_float32(vocab.buckets, w_in, c.dtype, vocab.counts)
        model = EmbeddingModel(hasher, table, training)
        # the run's claim on its targets was checked before the first read (a previous
        # model here was this output's own, and --overwrite was given to replace it)
        self.files = model.save(self.model_dir(ctx.output), overwrite=True)
        self.report = {
            "model": self.model_dir(ctx.output),
            "hash": c.hash,
            "k": c.k,
            "hash_bits": c.hash_bits if c.hash == "lsh" else None,
            "id_space": hasher.id_space(),
            "buckets_seen": int(len(ids)),
            "vocabulary": len(vocab),
            "dim": c.dim,
            "dtype": c.dtype,
            "sentences": sum(per_shard),
            "tokens": n_tokens,
            "trained_words": trained,
            "words_per_second": round(trained / seconds, 1) if seconds else None,
            "epochs": trainer.history,
            "resumed_from_epoch": trainer.resumed_from,
            "lost_workers": trainer.lost_workers,
            "training": training,
            "table_bytes": int(table.vectors.nbytes + table.buckets.nbytes),
        }
        listed = [f.__dict__ for f in self.files]
        ctx.save_prepared("embedding-model", self.files, {"files": listed, "report": self.report})

    def finish(self, acc: Any, ctx: FinishContext) -> dict[str, Any]:
        for f in self.files:
            ctx.record(f)
        return self.report
