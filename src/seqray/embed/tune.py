"""Searching embedding settings with Ray Tune: each trial trains a model on the reads
(k, hash bits, dim, window from the search space) and is scored, after every epoch, by the
held-out accuracy of a logistic regression on its read vectors against the user's labels.
ASHA stops the trials that fall behind early; the best setting is then trained for real.

Reads are labelled by name (a TSV: read name ↦ label, the name being the header's first
word). A fixed fifth of the labelled reads, chosen by a hash of the read's position, is held
out; the regression learns on the rest. Every read (labelled or not) is in the corpus the
embeddings learn from — they are unsupervised; the labels only judge them.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import ConfigError, InputError
from ..hashing import mix64
from ..io.buffers import values_offsets
from ..io.fs import filesystem_for
from ..io.readers import open_chunk
from ..io.schema import NAME, SEQ
from ..io.sources import plan_chunks
from .corpus import CORPUS_SCHEMA
from .hashing import hasher_for_reads
from .model import EmbeddingModel
from .sgns import SgnsParams
from .table import EmbeddingTable
from .vectors import read_vectors
from .vocab import Vocabulary

HELD_OUT = 5  # one read in HELD_OUT is scored, the others train the regression


@dataclass
class LabelledReads:
    """Reads in memory with their labels (-1: none) and which are held out."""

    values: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray  # int32 index into `names`, -1 for a read the TSV does not label
    names: list[str]  # the labels
    held_out: np.ndarray  # bool

    def split(self) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the labelled reads that train the regression, and those scored."""
        labelled = self.labels >= 0
        return np.flatnonzero(labelled & ~self.held_out), np.flatnonzero(labelled & self.held_out)


def read_labels(path: str) -> dict[str, str]:
    """name ↦ label from a two-column TSV (a header line `name<TAB>label` is allowed)."""
    fs, p = filesystem_for(path)
    try:
        with fs.open_input_stream(p) as f:
            text = f.read().decode()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the labels: {exc}") from None
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise InputError(f"{path}: line {n}: expected `name<TAB>label`, got {line!r}")
        if n == 1 and parts == ["name", "label"]:
            continue
        if parts[0] in out and out[parts[0]] != parts[1]:
            raise InputError(f"{path}: line {n}: read {parts[0]} has two labels")
        out[parts[0]] = parts[1]
    return out


def load_labelled(paths: list[str], labels_path: str, min_labels: int = 2) -> LabelledReads:
    """The reads of `paths` (each mate apart for pairs is not supported: single reads) with
    their labels from the TSV."""
    chunks, _ = plan_chunks(paths, None, chunk_bytes=1 << 40)
    seqs: list[pa.ChunkedArray] = []
    names: list[str] = []
    for ch in chunks:
        for table in open_chunk(ch):
            seqs.append(table.column(SEQ))
            names.extend(
                n.split(maxsplit=1)[0] if n else "" for n in table.column(NAME).to_pylist()
            )
    if not names:
        raise InputError(f"{', '.join(paths)}: no reads")
    column = pa.chunked_array([c for s in seqs for c in s.chunks], pa.large_binary())
    values, offsets = values_offsets(column)
    table = read_labels(labels_path)
    label_names = sorted(set(table.values()))
    index = {lab: i for i, lab in enumerate(label_names)}
    labels = np.array([index.get(table.get(n, ""), -1) for n in names], np.int32)
    found = np.unique(labels[labels >= 0])
    if len(found) < min_labels:
        raise InputError(
            f"{labels_path}: {int((labels >= 0).sum())} of {len(names)} reads are labelled, "
            f"with {len(found)} distinct labels; scoring needs at least {min_labels}"
        )
    positions = np.arange(len(names), dtype=np.uint64)
    held = (mix64(positions + np.uint64(1)) % np.uint64(HELD_OUT)) == 0
    return LabelledReads(values, offsets, labels, label_names, held)


def score_vectors(x: np.ndarray, data: LabelledReads, seed: int = 0) -> float:
    """Held-out accuracy of a logistic regression on read vectors `x`."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

    train, test = data.split()
    if not len(train) or not len(test):
        raise ConfigError("tune: too few labelled reads to hold some out")
    # standardised: mean-pooled vectors share a large common direction that would
    # otherwise swamp the regression's regularised weights
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    model.fit(x[train], data.labels[train])
    return float(model.score(x[test], data.labels[test]))


def train_and_score(
    setting: dict[str, Any],
    data: LabelledReads,
    base: SgnsParams,
    threads: int,
    report: Any = None,
    min_count: int = 1,
) -> float:
    """Trains one setting on all the reads and scores it after every epoch (each score
    goes to `report(epoch, accuracy)`); returns the last score."""
    from ..pipeline.runners.local import LocalRunner
    from .train import Trainer

    params = replace(base, dim=int(setting["dim"]), window=int(setting["window"]))
    hasher = hasher_for_reads(
        setting.get("hash", "lsh"), int(setting["k"]), int(setting.get("hash_bits", 20)),
        data.values, data.offsets, base.seed,
    )  # fmt: skip
    ids, id_offsets = hasher.hash_reads(data.values, data.offsets)
    uniq, counts = np.unique(ids, return_counts=True)
    vocab = Vocabulary.from_counts(uniq.astype(np.uint32), counts.astype(np.int64), min_count)
    if len(vocab) == 0:
        raise ConfigError(f"tune: no k-mer bucket occurs {min_count} times at k={setting['k']}")
    scores: list[float] = []
    with tempfile.TemporaryDirectory(prefix="seqray-tune-") as tmp:
        from ..io.formats.parquet import ParquetShardWriter

        uri = os.path.join(tmp, "corpus.parquet")
        w = ParquetShardWriter(uri, CORPUS_SCHEMA)
        sentences = pa.LargeListArray.from_arrays(
            pa.array(id_offsets, pa.int64()), pa.array(ids, pa.uint32())
        )
        w.write(pa.Table.from_arrays([sentences], schema=CORPUS_SCHEMA))
        w.commit()

        def on_epoch(epoch: int, w_in: np.ndarray) -> None:
            table = EmbeddingTable.from_float32(vocab.buckets, w_in, "float32", vocab.counts)
            x, _, _ = read_vectors(EmbeddingModel(hasher, table), data.values, data.offsets)
            scores.append(score_vectors(x, data, base.seed))
            if report is not None:
                report(epoch, scores[-1])

        trainer = Trainer(
            LocalRunner(threads), [uri], vocab, params, threads=threads, on_epoch=on_epoch
        )
        trainer.run([len(id_offsets) - 1])
    return scores[-1]


def search(
    data: LabelledReads,
    space: dict[str, list[Any]],
    base: SgnsParams,
    trials: int,
    threads: int,
    seed: int = 0,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Ray Tune over `space` (each key a list of choices), `trials` samples, ASHA on the
    per-epoch accuracy; returns the best setting and every trial's last result. Trials run
    side by side where the Ray cluster has CPUs for them (`threads` each)."""
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    # a trial no node can hold would wait forever
    biggest = max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")), default=0)
    if threads > biggest:
        raise ConfigError(
            f"tune: each trial asks for {threads} CPUs (--threads), but no node of the Ray "
            f"cluster has that many (the most a node has: {biggest:g}); lower --threads"
        )

    def trainable(config: dict[str, Any], data: LabelledReads) -> None:
        def report(epoch: int, accuracy: float) -> None:
            tune.report({"accuracy": accuracy, "epoch": epoch})

        train_and_score(config, data, base, threads, report)

    scheduler = ASHAScheduler(
        time_attr="epoch", max_t=base.epochs, grace_period=1, reduction_factor=2
    )
    with tempfile.TemporaryDirectory(prefix="seqray-tune-") as storage:
        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(trainable, data=data), {"cpu": threads}),
            param_space={key: tune.choice(values) for key, values in space.items()},
            tune_config=tune.TuneConfig(
                metric="accuracy",
                mode="max",
                num_samples=trials,
                scheduler=scheduler,
                search_alg=BasicVariantGenerator(random_state=seed),
            ),
            run_config=tune.RunConfig(storage_path=storage, name="tune", verbose=0),
        )
        grid = tuner.fit()
        rows = []
        for r in (grid[i] for i in range(len(grid))):
            if r.error is not None:
                raise ConfigError(f"tune: a trial failed ({r.config}): {r.error}")
            config, metrics = r.config or {}, r.metrics or {}
            rows.append(
                {
                    **{key: config[key] for key in space},
                    "accuracy": metrics.get("accuracy"),
                    "epochs": metrics.get("epoch"),
                }
            )
    # best first; among equal scores the smaller table (hash bits), then the smaller k
    rows.sort(key=lambda row: (-(row["accuracy"] or 0.0), row.get("hash_bits", 0), row["k"]))
    return {key: rows[0][key] for key in space}, rows
