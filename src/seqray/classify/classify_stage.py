"""The `classify` pipeline stage: reads → the label (reference) each most likely came
from, with its probability, from a classifier model (`model.py`). The model is loaded once
per worker (a stateful stage: `setup`), memory-mapped, and never written.

A read's k-mers are hashed to table rows (`embed.vectors.hash_mates`); the kernel
(`supervised.predict`) takes the mean of their input vectors and scores every label.
Paired reads vote together: one hidden vector over both mates' k-mers. A read whose best
probability is under `min_score`, or that has no k-mer the model knows, is `unclassified`
(its `score` is still the best probability, 0 without a known k-mer), so a threshold can be
raised later from the same output. With `top` > 1 the N best labels and scores are kept too.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field

from ..embed.model import read_meta
from ..embed.vectors import counts, hash_mates
from ..errors import ConfigError, InputError
from ..io.buffers import values_offsets
from ..io.schema import NAME, RECORD, SEQ, SEQ2, SOURCE, SOURCE_TYPE, numeric_array
from ..pipeline.kinds import PREDICTIONS, READS, BatchKind
from ..pipeline.outputs import absolute
from ..pipeline.registry import DictAccumulator, FinishContext, MapStage, StageConfig, register
from .model import UNCLASSIFIED, ClassifierModel
from .supervised import predict

LABEL, SCORE, TOP_LABELS, TOP_SCORES = "label", "score", "top_labels", "top_scores"


class ClassifyConfig(StageConfig):
    # a classifier directory (seqray classify train); unset: the model a
    # train_classifier stage before it in the same pipeline writes
    model: str | None = Field(default=None, min_length=1)
    top: int = Field(default=1, ge=1)  # labels kept per read (top_labels/top_scores if > 1)
    min_score: float = Field(default=0.0, ge=0.0, le=1.0)  # below it: unclassified


class ClassifyTally(DictAccumulator):
    """reads, kmers, unknown_kmers (bucket not in the table), no_known_kmer (reads without
    a k-mer the model knows), and `labels`: reads per label, `unclassified` included."""

    KEYS = ("reads", "kmers", "unknown_kmers", "no_known_kmer")

    def __init__(self, *args: Any, **kw: Any):
        super().__init__({**{k: 0 for k in self.KEYS}, "labels": {}})
        self.update(*args, **kw)
        self["labels"] = dict(self["labels"])  # never shared with what it was built from

    def __iadd__(self, other: ClassifyTally) -> ClassifyTally:
        for k in self.KEYS:
            self[k] += other[k]
        mine = self["labels"]
        for label, n in other["labels"].items():
            mine[label] = mine.get(label, 0) + n
        return self


def classifier_labels(directory: str) -> list[str]:
    """The label names of the classifier in `directory`, from its model.json (errors name
    the directory: not a model, or an embedding model that is not a classifier)."""
    spec = read_meta(directory).get("classifier")
    labels = spec.get("labels") if isinstance(spec, dict) else None
    if not isinstance(labels, list) or not labels:
        raise InputError(
            f"{directory}: an embedding model, not a classifier (seqray classify train writes one)"
        )
    return [str(x) for x in labels]


@register
class ClassifyStage(MapStage):
    """Classifies reads with a supervised k-mer model: the most likely label and its
    probability (a pair's over both mates' k-mers), `unclassified` under `min_score` or
    without a known k-mer, the `top` best when asked; reads per label in the report."""

    name = "classify"
    Config = ClassifyConfig
    config: ClassifyConfig
    Accumulator = ClassifyTally
    stateful: ClassVar[bool] = True

    def __init__(self, config: ClassifyConfig):
        super().__init__(config)
        self._model: ClassifierModel | None = None
        self.model_dir = absolute(config.model) if config.model else ""  # set by `link`
        self.labels: list[str] = []  # known here when the model is given, else after `setup`
        if config.model:
            # the whole model is checked where the pipeline is built (its arrays memory-
            # mapped, not read): a bad model stops the run before it writes anything
            self._check(ClassifierModel.load(self.model_dir))

    def _check(self, model: ClassifierModel) -> None:
        if UNCLASSIFIED in model.labels:
            raise InputError(
                f"{self.model_dir}: has a label named {UNCLASSIFIED!r}, which `classify` "
                "gives reads it cannot place; rename that label and train again"
            )
        if self.config.top > len(model.labels):
            raise ConfigError(
                f"classify: top is {self.config.top}, but the model in {self.model_dir} has "
                f"{len(model.labels)} label{'s' if len(model.labels) > 1 else ''}"
            )
        self.labels = list(model.labels)

    def link(self, before: list, output: str) -> None:
        if self.config.model:
            return
        from .train_stage import TrainClassifierStage

        trainers = [s for s in before if isinstance(s, TrainClassifierStage)]
        if not trainers:
            raise ConfigError(
                "classify: no model given, and no train_classifier stage before it to train "
                "one; set `model` to a classifier directory (seqray classify train)"
            )
        self.model_dir = absolute(trainers[-1].model_dir(output))

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_model": None}  # each worker maps the files itself

    @property
    def model(self) -> ClassifierModel:
        if self._model is None:
            self.setup()
        assert self._model is not None
        return self._model

    def setup(self) -> None:
        model = ClassifierModel.load(self.model_dir)
        self._check(model)  # a model trained in this run is first seen here
        model.inputs()  # widened once per worker, before any batch (threads share it)
        _ = model.tree
        self._model = model

    def input_paths(self) -> list[str]:
        return [self.model_dir] if self.config.model else []  # else the run writes it

    def takes(self) -> tuple[BatchKind, ...]:
        return (READS,)

    def gives(self, taken: BatchKind) -> BatchKind:
        return PREDICTIONS

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        fields = [
            pa.field(SOURCE, SOURCE_TYPE, nullable=False),
            pa.field(RECORD, pa.int64(), nullable=False),
            pa.field(NAME, pa.large_string(), nullable=False),
            pa.field(LABEL, pa.large_string(), nullable=False),
            pa.field(SCORE, pa.float32(), nullable=False),
        ]
        if self.config.top > 1:
            fields += [
                pa.field(TOP_LABELS, pa.list_(pa.large_string()), nullable=False),
                pa.field(TOP_SCORES, pa.list_(pa.float32()), nullable=False),
            ]
        return pa.schema(fields)

    def transform(self, table: pa.Table, acc: ClassifyTally, chunk: Any) -> pa.Table:
        model = self.model
        values, offsets = values_offsets(table.column(SEQ))
        mate: dict[str, np.ndarray] = {}
        if SEQ2 in table.column_names:
            mate["values2"], mate["offsets2"] = values_offsets(table.column(SEQ2))
        a, b = hash_mates(model.embedding, values, offsets, **mate)
        kmers, unknown, _ = counts(a, b)
        top = self.config.top
        labels, scores = predict(
            model.inputs(), model.output, a.rows, a.offsets, b.rows, b.offsets, top,
            model.loss, model.tree,
        )  # fmt: skip
        n_labels = len(model.labels)
        label_names = [*model.labels, UNCLASSIFIED]
        names = pa.array(label_names, pa.large_string())
        best, score = labels[:, 0], scores[:, 0]
        known = best >= 0
        # unclassified: the index past the model's labels
        chosen = np.where(known & (score >= self.config.min_score), best, n_labels)
        per_label = np.bincount(chosen, minlength=n_labels + 1)
        tally = acc["labels"]
        for i in np.flatnonzero(per_label):  # a loop over labels, not reads
            name = label_names[i]
            tally[name] = tally.get(name, 0) + int(per_label[i])
        acc["reads"] += table.num_rows
        acc["kmers"] += kmers
        acc["unknown_kmers"] += unknown
        acc["no_known_kmer"] += int(np.count_nonzero(~known))
        columns = [
            table.column(SOURCE),
            table.column(RECORD),
            table.column(NAME),
            names.take(numeric_array(chosen.astype(np.int32))),
            numeric_array(np.where(known, score, np.float32(0)).astype(np.float32)),
        ]
        if top > 1:
            columns += _top_columns(names, labels, scores)
        return pa.Table.from_arrays(columns, schema=self.output_schema(table.schema))

    def finish(self, acc: ClassifyTally, ctx: FinishContext) -> dict:
        labels = self.labels or classifier_labels(self.model_dir)
        meta = read_meta(self.model_dir)
        per_label = {name: 0 for name in [*labels, UNCLASSIFIED]}
        per_label.update(acc["labels"])
        unclassified = per_label[UNCLASSIFIED]
        return {
            "model": self.model_dir,
            "labels": len(labels),
            "loss": meta["classifier"]["loss"],
            "top": self.config.top,
            "min_score": self.config.min_score,
            "counts": dict(sorted(per_label.items())),
            "reads": acc["reads"],
            "classified": acc["reads"] - unclassified,
            "unclassified": unclassified,
            "no_known_kmer": acc["no_known_kmer"],
            "kmers": acc["kmers"],
            "unknown_kmers": acc["unknown_kmers"],
        }

    @staticmethod
    def summarize(report: dict) -> str:
        reads = report["reads"]
        ranked = sorted(
            ((n, label) for label, n in report["counts"].items() if label != UNCLASSIFIED),
            key=lambda x: (-x[0], x[1]),
        )
        shown = ", ".join(f"{label} {n:,}" for n, label in ranked[:3] if n)
        return (
            f"{report['classified']:,} of {reads:,} reads classified "
            f"({report['classified'] / max(reads, 1):.2%}; {report['labels']} labels"
            f"{', min score ' + format(report['min_score'], 'g') if report['min_score'] else ''})"
            f"{'; most: ' + shown if shown else ''}; {report['unclassified']:,} unclassified "
            f"({report['no_known_kmer']:,} without a known k-mer)"
        )


def _top_columns(names: pa.Array, labels: np.ndarray, scores: np.ndarray) -> list[pa.Array]:
    """top_labels / top_scores: each read's best labels and scores, best first, the
    kernel's -1 slots (a read without a known k-mer) dropped."""
    keep = labels >= 0
    offsets = np.zeros(len(labels) + 1, np.int32)
    np.cumsum(np.count_nonzero(keep, axis=1), out=offsets[1:])
    off = numeric_array(offsets)
    top_names = names.take(numeric_array(labels[keep].astype(np.int32)))
    return [
        pa.ListArray.from_arrays(off, top_names),
        pa.ListArray.from_arrays(off, numeric_array(scores[keep].astype(np.float32))),
    ]
