"""The classifier on the embedding trainer: fragments split exactly among workers, threads
and sync points; a run is the same bytes for a layout; a driver interrupted between epochs
resumes from the checkpoint to the weights of a run that was not interrupted."""

from __future__ import annotations

import numpy as np
import pytest

from seqray.classify.fragments import Noise, References
from seqray.classify.supervised import init_weights
from seqray.classify.train import ClassifierParams, ClassifierSetup, ClassifierWorker, split
from seqray.embed.hashing import hasher_for_reads
from seqray.embed.train import Checkpoints, Trainer
from seqray.embed.vocab import Vocabulary
from seqray.pipeline.runners.local import LocalRunner

from .simulated import genomes


def _setup(fragments=900, epochs=3):
    refs = References.build((f"g{i}", [g.encode()]) for i, g in enumerate(genomes(3, 3000, 5)))
    hasher = hasher_for_reads("exact", 8, 16, refs.values, refs.offsets, 0, None)
    ids, _ = hasher.hash_reads(refs.values, refs.offsets)
    buckets = np.unique(ids).astype(np.uint32)
    params = ClassifierParams(16, epochs, 0.5, "softmax", 80, Noise(0.02, 0.01), fragments, 7)
    return ClassifierSetup(hasher, buckets, refs, None, params), Vocabulary(
        buckets, np.ones(len(buckets), np.int64)
    )


def test_split_is_exact():
    for total in (0, 1, 7, 1000, 1001):
        for parts in (1, 2, 3, 7):
            assert sum(split(total, parts, i) for i in range(parts)) == total


def _trainer(runner, setup, vocab, workers, threads, **kw) -> Trainer:
    ref = runner.share(setup)
    syncs = 4
    return Trainer(
        runner, [], vocab, setup.params, workers=workers, threads=threads, syncs=syncs,
        worker_class=ClassifierWorker,
        worker_args=lambda w, mine: (mine, ref, workers, threads, syncs, w),
        initial=lambda: init_weights(len(vocab), 3, 16, 7, "softmax"),
        stage="train_classifier", unit="examples", **kw,
    )  # fmt: skip


def test_every_fragment_is_trained_once_per_epoch_and_runs_repeat():
    setup, vocab = _setup(fragments=901)
    runner = LocalRunner(2)
    t = _trainer(runner, setup, vocab, workers=2, threads=2)
    a_in, a_out = t.run([])
    assert [h["words"] for h in t.history] == [901] * 3
    b_in, b_out = _trainer(runner, setup, vocab, workers=2, threads=2).run([])
    assert a_in.tobytes() == b_in.tobytes() and a_out.tobytes() == b_out.tobytes()
    # another layout samples other fragments: another (equally valid) model
    c_in, _ = _trainer(runner, setup, vocab, workers=1, threads=1).run([])
    assert c_in.tobytes() != a_in.tobytes()


class _StopAfter:
    """A progress sink that interrupts the driver once `n` epochs are checkpointed."""

    def __init__(self, checkpoints, n):
        self.checkpoints, self.n = checkpoints, n

    def phase(self, *a, **k):
        pass

    def detail(self, *a, **k):
        pass

    def update(self, done, reads=None):
        saved = self.checkpoints.load()
        if saved is not None and saved[0] >= self.n:
            raise KeyboardInterrupt


def test_interrupted_training_resumes_from_the_checkpoint(tmp_path):
    setup, vocab = _setup()
    runner = LocalRunner(2)
    whole_in, whole_out = _trainer(runner, setup, vocab, 1, 2).run([])
    ck = Checkpoints(str(tmp_path / "ck"), "h")
    with pytest.raises(KeyboardInterrupt):
        _trainer(runner, setup, vocab, 1, 2, checkpoints=ck, progress=_StopAfter(ck, 1)).run([])
    t = _trainer(runner, setup, vocab, 1, 2, checkpoints=ck)
    got_in, got_out = t.run([])
    assert t.resumed_from == 1
    assert got_in.tobytes() == whole_in.tobytes() and got_out.tobytes() == whole_out.tobytes()
