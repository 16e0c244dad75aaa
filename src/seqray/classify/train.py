"""Supervised training (fastText's supervised mode, as fastDNA and LSHvec's classifier) on
the embedding trainer's machinery (`embed.train.Trainer`: workers as Ray actors or
threads, a replica per thread, changes summed at sync points, a checkpoint per epoch).

Each worker trains on (1) fragments sampled on the fly from the reference genomes, with
mutation noise (`fragments.py`), seeded by (seed, step, worker, thread), so a run is the
same bytes for a seed, worker count and thread count; and (2) its equal run of the labelled
reads' examples, if any. A step's fragments are hashed with the model's hasher and mapped to
vocabulary rows; k-mers whose bucket is not in the vocabulary are skipped, as they are when
predicting. The learning rate falls linearly to zero over all epochs × syncs steps.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..embed.hashing import KmerHasher
from ..embed.rows import BucketRows
from ..errors import ConfigError
from ..hashing import mix64
from .corpus import read_examples
from .fragments import Noise, References, sample_fragments
from .supervised import LabelTree, train_examples


@dataclass(frozen=True)
class ClassifierParams:
    dim: int
    epochs: int
    lr: float
    loss: str  # softmax | hs
    fragment: int  # fragment length
    noise: Noise
    fragments: int  # sampled per epoch, over all workers
    seed: int

    def __post_init__(self) -> None:
        if self.loss not in ("softmax", "hs"):
            raise ConfigError(f"loss must be softmax or hs, got {self.loss!r}")


@dataclass
class ClassifierSetup:
    """What every worker needs once (shared through the object store on Ray)."""

    hasher: KmerHasher
    buckets: np.ndarray  # the vocabulary: sorted bucket ids, row = rank
    references: References | None
    tree: LabelTree | None
    params: ClassifierParams


def split(total: int, parts: int, i: int) -> int:
    """Part i of `total` cut into `parts` near-equal integers."""
    return total * (i + 1) // parts - total * i // parts


class ClassifierWorker:
    """One training worker: its labelled examples (as rows) and its share of the fragments."""

    def __init__(
        self,
        pieces: list[tuple[str, int, int]],
        setup: Any,  # Shared[ClassifierSetup]
        workers: int,
        threads: int,
        syncs: int,
        index: int,
    ):
        s: ClassifierSetup = setup.get()
        self.setup, self.rows = s, BucketRows(s.buckets)
        self.workers, self.threads, self.syncs, self.index = workers, threads, syncs, index
        ids, self.offsets, self.labels = read_examples(pieces)
        self.tokens = self.rows.rows(ids).astype(np.int32)
        # thread t's examples in segment g: [cuts[t][g], cuts[t][g + 1])
        n = len(self.labels)
        self.cuts = []
        for t in range(threads):
            a = n * t // threads
            b = n * (t + 1) // threads
            self.cuts.append([a + (b - a) * g // syncs for g in range(syncs + 1)])

    def _fragments(self, thread: int, segment: int) -> int:
        p = self.setup.params
        if self.setup.references is None:
            return 0
        mine = split(p.fragments, self.workers, self.index)
        return split(split(mine, self.threads, thread), self.syncs, segment)

    def words(self) -> int:
        """Examples per epoch (fragments and labelled reads)."""
        frags = sum(self._fragments(t, g) for t in range(self.threads) for g in range(self.syncs))
        return frags + len(self.labels)

    def _lr(self, step: int) -> tuple[float, float]:
        p = self.setup.params
        total = p.epochs * self.syncs
        return p.lr * (1 - step / total), p.lr * (1 - (step + 1) / total)

    def train(self, weights: Any, step: int) -> tuple[np.ndarray, np.ndarray, int, float, int]:
        """Trains replicas of `weights` (Shared (w_in, w_out)) on step `step`'s examples;
        returns their summed changes, examples, loss sum, examples."""
        s, p = self.setup, self.setup.params
        w_in, w_out = weights.get()
        segment = step % self.syncs
        lr0, lr1 = self._lr(step)
        replicas = [
            (np.array(w_in, np.float32), np.array(w_out, np.float32)) for _ in range(self.threads)
        ]
        results: list[tuple[int, float]] = [(0, 0.0)] * self.threads

        def work(t: int) -> None:
            rin, rout = replicas[t]
            done, loss = 0, 0.0
            n = self._fragments(t, segment)
            if n and s.references is not None:
                seed = int(
                    mix64(
                        mix64(mix64(np.uint64(p.seed)) ^ np.uint64(step))
                        ^ np.uint64(self.index * 65_537 + t)
                    )
                )
                values, offsets, labels = sample_fragments(
                    s.references, n, p.fragment, p.noise, seed
                )
                ids, id_offsets = s.hasher.hash_reads(values, offsets)
                rows = self.rows.rows(ids).astype(np.int32)
                d, l_ = train_examples(
                    rin, rout, rows, id_offsets, labels, lr0, lr1, p.loss, s.tree
                )
                done, loss = done + d, loss + l_
            a, b = self.cuts[t][segment], self.cuts[t][segment + 1]
            if b > a:
                lo, hi = self.offsets[a], self.offsets[b]
                d, l_ = train_examples(
                    rin, rout, self.tokens[lo:hi], self.offsets[a : b + 1] - lo,
                    self.labels[a:b], lr0, lr1, p.loss, s.tree,
                )  # fmt: skip
                done, loss = done + d, loss + l_
            results[t] = (done, loss)

        errors: list[BaseException] = []

        def guarded(t: int) -> None:
            try:
                work(t)
            except BaseException as exc:  # raised again in the caller's thread
                errors.append(exc)

        threads = [threading.Thread(target=guarded, args=(t,)) for t in range(1, self.threads)]
        for th in threads:
            th.start()
        guarded(0)
        for th in threads:
            th.join()
        if errors:
            raise errors[0]
        for rin, rout in replicas:
            rin -= w_in
            rout -= w_out
        delta_in, delta_out = replicas[0]
        for rin, rout in replicas[1:]:
            delta_in += rin
            delta_out += rout
        examples = sum(r[0] for r in results)
        return delta_in, delta_out, examples, sum(r[1] for r in results), examples
