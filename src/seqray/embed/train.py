"""Skip-gram training spread over workers: each holds a share of the corpus and trains
replicas of the model on it; the driver merges the replicas at fixed sync points.

Why replicas merged at sync points rather than Hogwild across the cluster: the result must
be the same bytes for a given seed, worker count and thread count. Each of a worker's threads
trains its own replica on its own slice of the corpus (`sgns.train_slice` is seeded by its
arguments); at a sync point every replica's change since the last one is added to the
shared weights — summed in the same order always — so no race touches the weights. Summing
the changes, not averaging the replicas, is what Hogwild would have applied (each update
lands once): a mean would shrink every step by the replica count, and measured on a
small corpus it learnt nothing in two epochs where one replica did. `hogwild`
trades that for one shared replica per worker (threads race, as in word2vec and gensim).

An epoch is `syncs` segments; after each, every replica restarts from the merged weights.
The learning rate decays linearly over all epochs × segments. After each epoch the merged
weights go to a checkpoint: a worker lost mid-epoch (a killed process, a lost node) costs
that epoch only — the pool is rebuilt and the epoch redone from its start, giving the same
weights as a run that lost nothing; a killed driver resumes from the checkpoint (`--resume`).
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import SeqrayError
from ..io.fs import exists, filesystem_for, join, read_json
from ..io.writers import write_json, write_npz
from ..pipeline.progress import Progress
from ..pipeline.registry import Resources, TaskMapper
from .sgns import SgnsParams, init_weights, train_slice
from .vocab import Vocabulary, to_corpus

IDS = "ids"  # the column of bucket-id sentences in the corpus shards
MAX_LOST_WORKERS = 3  # workers lost in one run before training gives up


def read_sentences(
    uris: list[str], ranges: list[tuple[int, int]] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(ids uint32, offsets int64[n+1]) of the sentences in corpus shards, in order; with
    `ranges`, only sentences [start, stop) of each shard."""
    values: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    for i, uri in enumerate(uris):
        fs, path = filesystem_for(uri)
        with fs.open_input_file(path) as f:
            col = pq.read_table(f, columns=[IDS]).column(IDS)
        if ranges is not None:
            start, stop = ranges[i]
            col = col.slice(start, stop - start)
        for chunk in col.chunks:
            arr = chunk.cast(pa.large_list(pa.uint32()))
            off = np.asarray(arr.offsets, dtype=np.int64)
            values.append(np.asarray(arr.values, dtype=np.uint32)[off[0] : off[-1]])
            lengths.append(np.diff(off))
    offsets = np.zeros(sum(len(x) for x in lengths) + 1, np.int64)
    if lengths:
        np.cumsum(np.concatenate(lengths), out=offsets[1:])
    ids = np.concatenate(values) if values else np.empty(0, np.uint32)
    return ids, offsets


def worker_pieces(sentences: list[int], workers: int) -> list[list[tuple[int, int, int]]]:
    """Each worker's share of the corpus: an equal run of sentences in corpus order, as
    (shard index, start, stop) pieces. It depends on the sentences only, never on how the
    chunks cut them into shards, so the model is the same for any chunking."""
    starts = np.concatenate([[0], np.cumsum(sentences)]).astype(np.int64)
    total = int(starts[-1])
    out = []
    for w in range(workers):
        a, b = total * w // workers, total * (w + 1) // workers
        pieces = []
        for i, n in enumerate(sentences):
            lo, hi = max(a, int(starts[i])), min(b, int(starts[i]) + n)
            if lo < hi:
                pieces.append((i, lo - int(starts[i]), hi - int(starts[i])))
        out.append(pieces)
    return out


def balanced_bounds(offsets: np.ndarray, parts: int) -> np.ndarray:
    """Sentence indices cutting the corpus into `parts` runs of about equal tokens."""
    total = int(offsets[-1])
    goals = (np.arange(1, parts) * total) // parts
    cuts = np.searchsorted(offsets, goals, side="left")
    return np.concatenate([[0], cuts, [len(offsets) - 1]]).astype(np.int64)


class CorpusWorker:
    """One training worker: its share of the corpus as vocabulary indices and its slices
    (one per thread, each cut into `syncs` segments)."""

    def __init__(
        self,
        shards: list[tuple[str, int, int]],  # (uri, first sentence, end) pieces, in order
        vocab: Any,  # Shared[Vocabulary]
        params: SgnsParams,
        threads: int,
        syncs: int,
        index: int,
        hogwild: bool = False,
    ):
        voc: Vocabulary = vocab.get()
        ids, offsets = read_sentences([p[0] for p in shards], [(p[1], p[2]) for p in shards])
        self.tokens, self.offsets = to_corpus(voc, ids, offsets)
        self.keep = voc.keep_probs(params.sample)
        self.negatives = voc.negative_table()
        self.params, self.threads, self.syncs = params, threads, syncs
        self.index, self.hogwild = index, hogwild
        # segment s of thread t: sentences [cuts[t][s], cuts[t][s + 1])
        by_thread = balanced_bounds(self.offsets, threads)
        self.cuts = []
        for t in range(threads):
            a, b = int(by_thread[t]), int(by_thread[t + 1])
            local = self.offsets[a : b + 1] - self.offsets[a]
            self.cuts.append(balanced_bounds(local, syncs) + a)

    def words(self) -> int:
        return int(len(self.tokens))

    def train(self, weights: Any, step: int) -> tuple[np.ndarray, np.ndarray, int, float, int]:
        """Trains from `weights` (Shared (w_in, w_out)) on segment `step % syncs` of epoch
        `step // syncs`; returns the summed changes of its replicas, words, loss sum, pairs."""
        w_in, w_out = weights.get()
        segment = step % self.syncs
        # the learning rate decays over epochs × syncs steps: one step is one "epoch" here
        params = replace(self.params, epochs=self.params.epochs * self.syncs)
        seed = self.params.seed * 1_000_003 + self.index
        n = 1 if self.hogwild else self.threads
        replicas = [(np.array(w_in, np.float32), np.array(w_out, np.float32)) for _ in range(n)]
        results: list[Any] = [None] * self.threads

        def work(t: int) -> None:
            rin, rout = replicas[0 if self.hogwild else t]
            a, b = int(self.cuts[t][segment]), int(self.cuts[t][segment + 1])
            results[t] = train_slice(
                rin, rout, self.tokens, self.offsets, self.keep, self.negatives,
                params, step, a, b, seed,
            )  # fmt: skip

        threads = [threading.Thread(target=work, args=(t,)) for t in range(1, self.threads)]
        for th in threads:
            th.start()
        work(0)
        for th in threads:
            th.join()
        # what the replicas learnt: the sum of their changes (summed in thread order, in
        # place: a worker holds its replicas and nothing more of the model's size)
        for rin, rout in replicas:
            rin -= w_in
            rout -= w_out
        delta_in, delta_out = replicas[0]
        for rin, rout in replicas[1:]:
            delta_in += rin
            delta_out += rout
        words = sum(int(r[0]) for r in results)
        loss = sum(float(r[1]) for r in results)
        pairs = sum(int(r[2]) for r in results)
        return delta_in, delta_out, words, loss, pairs


@dataclass
class EpochRecord:
    epoch: int
    words: int
    loss: float  # mean negative log-likelihood per (word, context) pair and its negatives
    seconds: float
    words_per_second: float

    def to_json(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "words": self.words,
            "loss": round(self.loss, 6),
            "seconds": round(self.seconds, 3),
            "words_per_second": round(self.words_per_second, 1),
        }


@dataclass
class Checkpoints:
    """The merged weights after each finished epoch (the latest kept), with the hash of
    the config that made them: a resumed run continues only the same training."""

    directory: str
    config_hash: str

    @property
    def meta_uri(self) -> str:
        return join(self.directory, "checkpoint.json")

    def save(self, epoch: int, w_in: np.ndarray, w_out: np.ndarray, history: list[dict]) -> None:
        name = f"checkpoint-{epoch}.npz"
        written = write_npz(join(self.directory, name), {"w_in": w_in, "w_out": w_out})
        previous = read_json(self.meta_uri) if exists(self.meta_uri) else None
        body = {
            "config_hash": self.config_hash,
            "epoch": epoch,
            "file": name,
            "sha256": written.sha256,
            "history": history,
        }
        write_json(self.meta_uri, body)  # the switch: atomic
        old = previous.get("file") if previous else None
        if isinstance(old, str) and re.fullmatch(r"checkpoint-\d+\.npz", old) and old != name:
            fs, path = filesystem_for(join(self.directory, old))
            try:
                fs.delete_file(path)  # our own previous checkpoint, superseded
            except OSError:
                pass

    def load(self) -> tuple[int, np.ndarray, np.ndarray, list[dict]] | None:
        """(epochs done, w_in, w_out, history) of the latest checkpoint, or None."""
        meta = read_json(self.meta_uri) if exists(self.meta_uri) else None
        if not meta or meta.get("config_hash") != self.config_hash:
            return None
        fs, path = filesystem_for(join(self.directory, meta["file"]))
        try:
            with fs.open_input_file(path) as f:
                data = f.read()
        except OSError:
            return None
        import hashlib

        if hashlib.sha256(data).hexdigest() != meta["sha256"]:
            return None
        arrays = np.load(io.BytesIO(data))
        return int(meta["epoch"]) + 1, arrays["w_in"], arrays["w_out"], meta["history"]


@dataclass
class Trainer:
    """Trains `vocab`'s vectors on the corpus shards, `workers` × `threads` replicas."""

    runner: TaskMapper
    shards: list[str]  # corpus shards in plan order
    vocab: Vocabulary
    params: Any  # SgnsParams; another model's params (with epochs; dim and seed unless `initial`)
    workers: int = 1
    threads: int = 1
    syncs: int = 4
    hogwild: bool = False
    checkpoints: Checkpoints | None = None
    progress: Progress = field(default_factory=Progress)
    worker_class: type = CorpusWorker  # tests inject a worker that dies once
    # another model on the same machinery (the classifier): its workers' arguments from
    # (worker index, its corpus pieces as (uri, start, stop)), its initial (w_in, w_out),
    # and the names its messages and records use
    worker_args: Callable[[int, list[tuple[str, int, int]]], tuple] | None = None
    initial: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None
    stage: str = "train_embeddings"
    unit: str = "words"
    # called after each epoch with (epochs done, w_in): `tune` scores the vectors there
    on_epoch: Callable[[int, np.ndarray], None] | None = None
    history: list[dict] = field(default_factory=list)
    lost_workers: int = 0
    resumed_from: int = 0  # epochs a checkpoint already held

    def _pool(self, pieces: list[list[tuple[int, int, int]]], vocab_ref: Any) -> Any:
        args = []
        for w, mine in enumerate(pieces):
            shards = [(self.shards[i], a, b) for i, a, b in mine]
            if self.worker_args is not None:
                args.append(self.worker_args(w, shards))
            else:
                p = self.params
                args.append((shards, vocab_ref, p, self.threads, self.syncs, w, self.hogwild))
        return self.runner.pool(self.worker_class, args, Resources(num_cpus=self.threads))

    def run(self, sentences: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(w_in, w_out) after training; `sentences`: how many each corpus shard holds."""
        p = self.params
        groups = worker_pieces(sentences, self.workers)
        if self.initial is not None:
            w_in, w_out = self.initial()
        else:
            w_in, w_out = init_weights(len(self.vocab), p.dim, p.seed)
        start = 0
        saved = self.checkpoints.load() if self.checkpoints else None
        if saved is not None:
            start, w_in, w_out, self.history = saved
            self.resumed_from = start
        vocab_ref = self.runner.share(self.vocab) if self.worker_args is None else None
        pool = self._pool(groups, vocab_ref)
        try:
            words_per_epoch = sum(pool.call("words", [()] * pool.size))
            if words_per_epoch == 0:
                raise SeqrayError(
                    f"{self.stage}: no k-mer of the reads is in the vocabulary "
                    "(reads shorter than k, or min_count above every count)"
                )
            total = words_per_epoch * p.epochs
            self.progress.phase(f"{self.stage}: training", total, self.unit)
            epoch = start
            while epoch < p.epochs:
                t0 = time.perf_counter()
                begin = (w_in, w_out)
                try:
                    w_in, w_out, words, loss, pairs = self._epoch(pool, epoch, w_in, w_out)
                except WorkerLostError:
                    self.lost_workers += 1
                    if self.lost_workers > MAX_LOST_WORKERS:
                        raise SeqrayError(
                            f"{self.stage}: {self.lost_workers} training workers were "
                            "lost; giving up (see the Ray logs for why they died)"
                        ) from None
                    pool.close()
                    pool = self._pool(groups, vocab_ref)
                    w_in, w_out = begin  # the epoch again, from its start
                    continue
                seconds = time.perf_counter() - t0
                rec = EpochRecord(epoch + 1, words, loss / max(pairs, 1), seconds, words / seconds)
                self.history.append(rec.to_json())
                if self.checkpoints:
                    self.checkpoints.save(epoch, w_in, w_out, self.history)
                epoch += 1
                if self.on_epoch is not None:
                    self.on_epoch(epoch, w_in)
        finally:
            pool.close()
        return w_in, w_out

    def _epoch(
        self, pool: Any, epoch: int, w_in: np.ndarray, w_out: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, int, float, int]:
        from ..pipeline.runners import WorkerLost

        words, loss, pairs = 0, 0.0, 0
        done_before = sum(h["words"] for h in self.history)
        for segment in range(self.syncs):
            t0 = time.perf_counter()
            shared = self.runner.share((w_in, w_out))
            step = epoch * self.syncs + segment
            try:
                got = pool.call("train", [(shared, step)] * pool.size)
            except WorkerLost as exc:
                raise WorkerLostError(str(exc)) from None
            w_in = _plus(w_in, [g[0] for g in got])
            w_out = _plus(w_out, [g[1] for g in got])
            seg_words = sum(g[2] for g in got)
            seg_pairs = sum(g[4] for g in got)
            words, loss, pairs = words + seg_words, loss + sum(g[3] for g in got), pairs + seg_pairs
            rate = seg_words / max(time.perf_counter() - t0, 1e-9)
            self.progress.update(done_before + words)
            mean_loss = sum(g[3] for g in got) / max(seg_pairs, 1)
            self.progress.detail(
                f"epoch {epoch + 1} · {rate:,.0f} {self.unit}/s · loss {mean_loss:.4f}"
            )
        return w_in, w_out, words, loss, pairs


class WorkerLostError(Exception):
    """Internal: an epoch lost a worker and must be redone."""


def _plus(base: np.ndarray, deltas: list[np.ndarray]) -> np.ndarray:
    """`base` plus every worker's changes, added in worker order (deterministic)."""
    out = np.array(base, np.float32)
    for d in deltas:
        out += d
    return out


def describe(params: SgnsParams) -> dict[str, Any]:
    """The training settings as JSON (for the model's metadata)."""
    return json.loads(json.dumps(asdict(params)))
