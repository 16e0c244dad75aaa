"""Distributed skip-gram training: byte-identical results for a seed and a layout (workers ×
threads), whatever the runner; a worker killed mid-epoch and a driver interrupted between
epochs both end with the weights of a run that lost nothing."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seqray.embed.corpus import CORPUS_SCHEMA
from seqray.embed.sgns import SgnsParams
from seqray.embed.train import (
    Checkpoints,
    CorpusWorker,
    Trainer,
    balanced_bounds,
    read_sentences,
    worker_pieces,
)
from seqray.embed.vocab import Vocabulary
from seqray.io.formats.parquet import ParquetShardWriter
from seqray.pipeline.progress import Progress
from seqray.pipeline.runners.local import LocalRunner


def _corpus(tmp_path, shards=3, sentences=60, seed=1) -> tuple[list[str], Vocabulary]:
    """Sentences over two planted 'topics' of bucket ids (0..19 and 100..119)."""
    rng = np.random.default_rng(seed)
    uris, all_ids = [], []
    for s in range(shards):
        lengths = rng.integers(5, 40, sentences)
        rows = []
        for n in lengths:
            base = 0 if rng.random() < 0.5 else 100
            rows.append((base + rng.integers(0, 20, n)).astype(np.uint32))
        all_ids.extend(rows)
        uri = str(tmp_path / f"corpus-{s}.parquet")
        w = ParquetShardWriter(uri, CORPUS_SCHEMA)
        arr = pa.array([r.tolist() for r in rows], pa.large_list(pa.uint32()))
        w.write(pa.Table.from_arrays([arr], schema=CORPUS_SCHEMA))
        w.commit()
        uris.append(uri)
    ids, counts = np.unique(np.concatenate(all_ids), return_counts=True)
    return uris, Vocabulary.from_counts(ids.astype(np.uint32), counts.astype(np.int64), 1)


def _params(epochs=2, seed=3) -> SgnsParams:
    return SgnsParams(
        dim=16, window=3, negatives=3, epochs=epochs, lr=0.05, min_lr=5e-6, sample=0.0, seed=seed
    )


def _train(runner, uris, vocab, **kw):
    params = kw.pop("params", _params())
    t = Trainer(runner, uris, vocab, params, **kw)
    w_in, w_out = t.run([pq.read_metadata(u).num_rows for u in uris])
    return t, w_in, w_out


def test_read_sentences_round_trip(tmp_path):
    uris, _ = _corpus(tmp_path, shards=2, sentences=5)
    ids, offsets = read_sentences(uris)
    assert offsets[0] == 0 and offsets[-1] == len(ids) and len(offsets) == 11
    first = pq.read_table(uris[0]).column("ids").to_pylist()
    assert ids[offsets[0] : offsets[1]].tolist() == first[0]


def test_balanced_bounds_cut_by_tokens():
    offsets = np.array([0, 10, 20, 30, 40], np.int64)  # four sentences of 10
    assert balanced_bounds(offsets, 2).tolist() == [0, 2, 4]
    assert balanced_bounds(offsets, 1).tolist() == [0, 4]
    assert balanced_bounds(np.array([0, 0], np.int64), 3)[-1] == 1


def test_same_layout_same_bytes_and_it_learns(tmp_path):
    uris, vocab = _corpus(tmp_path)
    runner = LocalRunner(2)
    _, a, _ = _train(runner, uris, vocab, workers=2, threads=2)
    _, b, _ = _train(runner, uris, vocab, workers=2, threads=2)
    assert a.tobytes() == b.tobytes()
    _, c, _ = _train(runner, uris, vocab, workers=1, threads=1)
    assert a.tobytes() != c.tobytes()  # the layout is part of what determines the result
    # the planted topics: vectors within a topic are closer than across
    v = a / np.linalg.norm(a, axis=1, keepdims=True)
    topic = vocab.buckets >= 100
    sim = v @ v.T
    within = sim[np.ix_(topic, topic)].mean() + sim[np.ix_(~topic, ~topic)].mean()
    across = 2 * sim[np.ix_(topic, ~topic)].mean()
    assert within - across > 0.3


class _StopAfter(Progress):
    """Interrupts the driver once `n` epochs have been checkpointed (as a Ctrl-C would)."""

    def __init__(self, checkpoints: Checkpoints, n: int):
        self.checkpoints, self.n = checkpoints, n

    def update(self, done, reads=None):
        saved = self.checkpoints.load()
        if saved is not None and saved[0] >= self.n:
            raise KeyboardInterrupt


def test_interrupted_driver_resumes_from_the_checkpoint(tmp_path):
    uris, vocab = _corpus(tmp_path)
    runner = LocalRunner(2)
    params = _params(epochs=3)
    _, whole, _ = _train(runner, uris, vocab, params=params, workers=2, threads=1)
    ck = Checkpoints(str(tmp_path / "ck"), "hash-1")
    with pytest.raises(KeyboardInterrupt):
        _train(
            runner, uris, vocab, params=params, workers=2, threads=1,
            checkpoints=ck, progress=_StopAfter(ck, 1),
        )  # fmt: skip
    assert ck.load() is not None and ck.load()[0] == 1
    t, resumed, _ = _train(runner, uris, vocab, params=params, workers=2, threads=1, checkpoints=ck)
    assert t.resumed_from == 1 and len(t.history) == 3
    assert resumed.tobytes() == whole.tobytes()
    # another config's checkpoint is not taken
    assert Checkpoints(str(tmp_path / "ck"), "hash-2").load() is None


class DiesOnce(CorpusWorker):
    """A worker whose process dies at its first `train` of epoch 2 (once: a marker file)."""

    marker = ""

    def train(self, weights, step):
        if step == self.syncs and self.index == 1 and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(1)  # the process dies, as under SIGKILL or the OOM killer
        return super().train(weights, step)


@pytest.mark.integration
def test_worker_killed_mid_epoch_loses_nothing(tmp_path, ray_cluster):
    from seqray.pipeline.runners.ray import RayRunner

    uris, vocab = _corpus(tmp_path)
    params = _params(epochs=3)
    _, local, _ = _train(LocalRunner(2), uris, vocab, params=params, workers=2, threads=1)

    class Dies(DiesOnce):
        marker = str(tmp_path / "died")

    t, w, _ = _train(
        RayRunner(), uris, vocab, params=params, workers=2, threads=1, worker_class=Dies
    )
    assert os.path.exists(tmp_path / "died")
    assert t.lost_workers == 1
    assert w.tobytes() == local.tobytes()  # and Ray gives what the local runner gives


@pytest.mark.integration
def test_a_pool_the_cluster_cannot_hold_is_refused(tmp_path, ray_cluster):
    from seqray.errors import ConfigError
    from seqray.pipeline.runners.ray import RayRunner

    uris, vocab = _corpus(tmp_path, shards=3, sentences=5)
    with pytest.raises(ConfigError, match="no node of the Ray cluster has that many"):
        _train(RayRunner(), uris, vocab, workers=1, threads=64)
    with pytest.raises(ConfigError, match="use fewer workers or threads"):
        _train(RayRunner(), uris, vocab, workers=3, threads=1)  # 2 CPUs in the test cluster


def test_the_model_does_not_depend_on_the_shards(tmp_path):
    """Workers take equal runs of sentences in corpus order, whatever the shards (the
    chunks) that hold them: one shard or three give the same bytes."""
    uris, vocab = _corpus(tmp_path / "three", shards=3)
    ids, offsets = read_sentences(uris)
    one = tmp_path / "one.parquet"
    w = ParquetShardWriter(str(one), CORPUS_SCHEMA)
    rows = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(ids, pa.uint32()))
    w.write(pa.Table.from_arrays([rows], schema=CORPUS_SCHEMA))
    w.commit()
    runner = LocalRunner(2)
    _, a, _ = _train(runner, uris, vocab, workers=2, threads=1)
    _, b, _ = _train(runner, [str(one)], vocab, workers=2, threads=1)
    assert a.tobytes() == b.tobytes()


def test_worker_pieces_split_sentences_evenly():
    assert worker_pieces([3, 4, 3], 2) == [[(0, 0, 3), (1, 0, 2)], [(1, 2, 4), (2, 0, 3)]]
    assert worker_pieces([10], 3) == [[(0, 0, 3)], [(0, 3, 6)], [(0, 6, 10)]]
    assert worker_pieces([1], 2) == [[], [(0, 0, 1)]]
