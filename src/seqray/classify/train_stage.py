"""The `train_classifier` pipeline stage: a supervised k-mer classifier trained on reference
genomes (fragments sampled on the fly, with noise) and/or the run's reads labelled by a TSV,
written as a model directory (`seqray classify predict --model` and the `classify` stage
load it; so does `seqray embed`, which reads its input vectors).

All the work is in `prepare`, before the main pass: (1) the labels (reference labels and
the TSV's); (2) the references, read whole; (3) the hasher (for LSH, planes fitted to
reference k-mers, or to a read sample when there are no references); (4) with a TSV, a pass
that writes each labelled read's bucket ids; (5) the vocabulary: every bucket of the
references' and labelled reads' k-mers seen `min_count` times; (6) training on the runner's
workers (`train.py`), checkpointed per epoch; (7) the model is saved. Steps are kept in the
run's state, so `--resume` continues after a crash. The main pass hands the reads on
unchanged, so a `classify` stage may follow in the same pipeline.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator

from ..embed.corpus import count_buckets
from ..embed.hashing import KmerHasher, hasher_for_reads, hasher_from
from ..embed.model import ARRAY_FILES, META, EmbeddingModel
from ..embed.table import EmbeddingTable
from ..embed.train import Checkpoints, Trainer
from ..embed.tune import read_labels
from ..embed.vocab import Vocabulary, merge_counts
from ..errors import ConfigError
from ..io.buffers import values_offsets
from ..io.fs import join, read_npz
from ..io.writers import WrittenFile, write_npz
from ..pipeline.kinds import READS, BatchKind
from ..pipeline.outputs import Target, absolute
from ..pipeline.progress import Progress
from ..pipeline.registry import FinishContext, MapStage, PrepareContext, StageConfig, register
from ..tokenize.sample import TrainingSample, merge_samples
from .corpus import ExampleSink, NameLabels, label_counts
from .fragments import Noise, References
from .model import OUTPUT, ClassifierModel
from .references import check_label, load_references
from .supervised import LabelTree, init_weights
from .train import ClassifierParams, ClassifierSetup, ClassifierWorker

MODEL_DIR = "classifier_model"  # the model's place under a pipeline's output
SOFTMAX_LABELS = 64  # loss auto: a full softmax up to this many labels, else hs


class TrainClassifierConfig(StageConfig):
    references: dict[str, list[str]] = Field(default_factory=dict)  # label → FASTA files
    label_per_record: bool = False  # each reference record is a label (its name)
    labels: str | None = Field(default=None, min_length=1)  # TSV read name → label
    # defaults from docs/benchmarks.md (read classification): exact 13-mers, noise-free
    # fragments, 10 epochs classified held-out reads best at every error rate measured
    k: int = Field(default=13, ge=1, le=32)
    hash: Literal["lsh", "fnv", "exact"] = "exact"
    hash_bits: int = Field(default=22, ge=1, le=32)  # lsh: bits per id; fnv: 2^bits buckets
    buckets: int | None = Field(default=None, ge=1, le=2**32)  # fnv: overrides hash_bits
    dim: int = Field(default=16, ge=1, le=4096)
    epochs: int = Field(default=10, ge=1, le=1000)
    lr: float = Field(default=0.5, gt=0)
    loss: Literal["auto", "softmax", "hs"] = "auto"
    fragment: int = Field(default=150, ge=1)  # length of reference fragments
    noise: str = "0"  # SUB or SUB,INDEL per-base rates of the fragments' mutations
    # fragments per epoch; default: the references' bases / fragment, at least 1000/label
    fragments: int | None = Field(default=None, ge=1)
    min_count: int = Field(default=1, ge=1)
    seed: int = Field(default=0, ge=0)
    workers: int = Field(default=1, ge=1)
    threads: int | None = Field(default=None, ge=1)  # per worker; default as train_embeddings
    syncs: int | None = Field(default=None, ge=1, le=1000)
    sample_reads: int = Field(default=10_000, ge=1)  # lsh without references: read sample
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"  # stored input vectors
    directory: str = MODEL_DIR  # under the run's output; "" puts the model at its root

    @field_validator("noise")
    @classmethod
    def _noise(cls, v: str) -> str:
        Noise.parse(v)
        return v

    @field_validator("references")
    @classmethod
    def _refs(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for label, paths in v.items():
            if not paths:
                raise ValueError(f"reference {label!r} has no files")
        return v


@register
class TrainClassifierStage(MapStage):
    """Trains a supervised k-mer classifier (fastText-style) on reference genomes and/or
    labelled reads."""

    name = "train_classifier"
    writes_output = True  # the model
    Config = TrainClassifierConfig
    config: TrainClassifierConfig

    @staticmethod
    def summarize(report: dict) -> str:
        last = report["epochs"][-1] if report.get("epochs") else {}
        return (
            f"{report['labels']} labels, {report['vocabulary']:,} buckets × {report['dim']} "
            f"({report['hash']}, k={report['k']}, {report['loss']}); "
            f"{report['trained_examples']:,} examples trained "
            f"({report['examples_per_second']:,.0f}/s), final loss {last.get('loss', 0):.4f}"
        )

    def __init__(self, config: TrainClassifierConfig):
        super().__init__(config)
        if not config.references and not config.labels:
            raise ConfigError(
                "train_classifier: give reference genomes (references / --reference "
                "LABEL=FASTA) or labelled reads (labels / --labels TSV), or both"
            )
        for label in config.references:
            if not config.label_per_record:
                check_label(label, "train_classifier: references")
        self.references = {k: [absolute(p) for p in v] for k, v in config.references.items()}
        self.labels_tsv = absolute(config.labels) if config.labels else None
        self.files: list[Any] = []
        self.report: dict[str, Any] = {}

    def needs_prepare(self) -> bool:
        return True

    def takes(self) -> tuple[BatchKind, ...]:
        return (READS,)

    def input_paths(self) -> list[str]:
        tsv = [self.labels_tsv] if self.labels_tsv else []
        return [p for paths in self.references.values() for p in paths] + tsv

    def model_dir(self, output: str) -> str:
        return join(output, self.config.directory) if self.config.directory else output

    def targets(self, output: str, paired: bool, label: str) -> list[Target]:
        where = self.model_dir(output)
        names = (*ARRAY_FILES, OUTPUT, META)
        return [Target(join(where, name), "file", label) for name in names]

    def transform(self, table: pa.Table, acc: Any, chunk: Any) -> pa.Table:
        return table

    def _hasher(self, ctx: PrepareContext, state: str, refs: References | None) -> KmerHasher:
        c = self.config
        values, offsets = np.empty(0, np.uint8), np.zeros(1, np.int64)
        if c.hash == "lsh" and refs is not None:
            values, offsets = refs.values, refs.offsets
        elif c.hash == "lsh":  # planes fitted to a read sample (the same for any chunking)
            sample = TrainingSample(join(state, "sample"), ctx.source_order, c.sample_reads)
            outcomes = ctx.scan(sample)
            uris = [s.uri for o in outcomes for s in o.shards_of(TrainingSample.name)]
            seqs = merge_samples(uris, c.sample_reads)
            values, offsets = values_offsets(pa.array(seqs, pa.large_binary()))
        return hasher_for_reads(c.hash, c.k, c.hash_bits, values, offsets, c.seed, c.buckets)

    def _labels(self) -> tuple[dict[str, str], list[str]]:
        table = read_labels(self.labels_tsv) if self.labels_tsv else {}
        for label in set(table.values()):
            check_label(label, f"{self.labels_tsv}")
        return table, sorted(set(table.values()))

    def prepare(self, ctx: PrepareContext) -> None:
        c = self.config
        saved = ctx.load_prepared("classifier-model")
        if saved is not None:
            self.files = [WrittenFile(**f) for f in saved["files"]]
            self.report = saved["report"]
            return
        state = ctx.state_dir("train_classifier")
        progress = ctx.progress or Progress()
        tsv, tsv_labels = self._labels()
        refs = load_references(self.references, c.label_per_record, tsv_labels)
        labels = refs.labels
        has_refs = int(refs.values.size) > 0
        prepared = ctx.load_prepared("classifier-examples")
        if prepared is None:
            hasher = self._hasher(ctx, state, refs if has_refs else None)
            shards: list[str] = []
            files: list[Any] = []
            if tsv:
                sink = ExampleSink(join(state, "examples"), hasher, NameLabels(tsv, labels))
                outcomes = ctx.scan(sink)
                recs = [s for o in outcomes for s in o.shards_of(ExampleSink.name)]
                shards = [s.uri for s in recs]
                files = [f for s in recs for f in s.files]
            hash_file = write_npz(join(state, "hash.npz"), hasher.arrays())
            prepared = {"hasher": hasher.to_json(), "shards": shards}
            ctx.save_prepared("classifier-examples", [*files, hash_file], prepared)
        else:
            hasher = hasher_from(prepared["hasher"], read_npz(join(state, "hash.npz")))
        shards = prepared["shards"]
        # the vocabulary: buckets of the references' k-mers and of the labelled reads'
        parts = []
        if has_refs:
            ids, _ = hasher.hash_reads(refs.values, refs.offsets)
            parts.append(np.unique(ids, return_counts=True))
        per_shard: list[int] = []
        if shards:
            e_ids, e_counts, per_shard, _ = count_buckets(ctx.runner, shards)
            parts.append((e_ids, e_counts))
        ids, counts = merge_counts([(a.astype(np.uint32), b.astype(np.int64)) for a, b in parts])
        vocab = Vocabulary.from_counts(ids, counts, c.min_count)
        if len(vocab) == 0:
            raise ConfigError(
                f"train_classifier: no k-mer bucket (k={c.k}) occurs {c.min_count} times in "
                "the references and labelled reads"
            )
        examples = label_counts(shards, len(labels)) if shards else np.zeros(len(labels), np.int64)
        bases = refs.bases_per_label() if has_refs else np.zeros(len(labels), np.int64)
        n_fragments = 0
        if has_refs:
            n_fragments = c.fragments or max(
                int(refs.values.size) // c.fragment, 1000 * int(np.count_nonzero(bases))
            )
        # examples per label per epoch: the hs tree's weights (fragments: labels uniformly)
        per_label = n_fragments // max(int(np.count_nonzero(bases)), 1)
        weights = examples + np.where(bases > 0, per_label, 0)
        unused = [lab for lab, w in zip(labels, weights, strict=True) if w == 0]
        if unused:
            raise ConfigError(
                f"train_classifier: no training example for label(s) {', '.join(unused[:5])}"
                f"{' …' if len(unused) > 5 else ''} (no reference bases, no labelled read)"
            )
        loss = (
            c.loss if c.loss != "auto" else ("softmax" if len(labels) <= SOFTMAX_LABELS else "hs")
        )
        tree = LabelTree.build(weights) if loss == "hs" else None
        params = ClassifierParams(
            dim=c.dim, epochs=c.epochs, lr=c.lr, loss=loss, fragment=c.fragment,
            noise=Noise.parse(c.noise), fragments=n_fragments, seed=c.seed,
        )  # fmt: skip
        setup = ClassifierSetup(hasher, vocab.buckets, refs if has_refs else None, tree, params)
        threads = c.threads or ctx.runner.worker_cpus(c.workers)
        syncs = c.syncs or max(4, 2 * c.workers * threads)
        setup_ref = ctx.runner.share(setup)
        trainer = Trainer(
            ctx.runner,
            shards,
            vocab,
            params,
            workers=c.workers,
            threads=threads,
            syncs=syncs,
            checkpoints=Checkpoints(join(state, "checkpoints"), ctx.config_hash),
            progress=progress,
            worker_class=ClassifierWorker,
            worker_args=lambda w, mine: (mine, setup_ref, c.workers, threads, syncs, w),
            initial=lambda: init_weights(len(vocab), len(labels), c.dim, c.seed, loss),
            stage="train_classifier",
            unit="examples",
        )
        w_in, w_out = trainer.run(per_shard)
        trained = sum(h["words"] for h in trainer.history)
        seconds = sum(h["seconds"] for h in trainer.history)
        training = {
            **asdict(params),
            "noise": params.noise.to_json(),
            "workers": c.workers,
            "threads": threads,
            "syncs": syncs,
            "min_count": c.min_count,
            "label_per_record": c.label_per_record,
        }
        table = EmbeddingTable.from_float32(vocab.buckets, w_in, c.dtype, vocab.counts)
        model = ClassifierModel(
            EmbeddingModel(hasher, table, training), w_out, labels, loss, weights
        )
        self.files = model.save(self.model_dir(ctx.output), overwrite=True)
        self.report = {
            "model": self.model_dir(ctx.output),
            "labels": len(labels),
            "loss": loss,
            "hash": c.hash,
            "k": c.k,
            "id_space": hasher.id_space(),
            "vocabulary": len(vocab),
            "dim": c.dim,
            "dtype": c.dtype,
            "reference_bases": {lab: int(b) for lab, b in zip(labels, bases, strict=True) if b},
            "labelled_reads": {lab: int(n) for lab, n in zip(labels, examples, strict=True) if n},
            "fragments_per_epoch": n_fragments,
            "trained_examples": trained,
            "examples_per_second": round(trained / seconds, 1) if seconds else 0.0,
            "epochs": [_in_examples(h) for h in trainer.history],
            "resumed_from_epoch": trainer.resumed_from,
            "lost_workers": trainer.lost_workers,
            "training": training,
            "table_bytes": int(table.vectors.nbytes + table.buckets.nbytes + w_out.nbytes),
        }
        listed = [f.__dict__ for f in self.files]
        ctx.save_prepared("classifier-model", self.files, {"files": listed, "report": self.report})

    def finish(self, acc: Any, ctx: FinishContext) -> dict[str, Any]:
        for f in self.files:
            ctx.record(f)
        return self.report


def _in_examples(record: dict[str, Any]) -> dict[str, Any]:
    """An epoch record of the trainer, its words called what they are here: examples."""
    names = {"words": "examples", "words_per_second": "examples_per_second"}
    return {names.get(k, k): v for k, v in record.items()}
