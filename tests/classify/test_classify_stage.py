"""The `classify` stage in a pipeline: labels and scores against hand-computed softmax
values on a planted model and against a plain NumPy reference on a random one (softmax and
hs), `unclassified` below min-score or without a known k-mer, top-N columns, pairs voting
together, the per-label counts in the report and the run's counters, bad models refused
before anything runs, and the model round trip."""

from __future__ import annotations

import glob
import math
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seqray.classify.classify_stage import ClassifyStage, ClassifyTally
from seqray.classify.model import UNCLASSIFIED, ClassifierModel
from seqray.errors import ConfigError, InputError
from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline
from seqray.pipeline.registry import stage_class

from ..embed.exact_hasher import tiny_model
from .tiny_classifier import planted_model, probabilities, random_model


def _fastq(path, seqs: list[str], prefix: str = "r") -> str:
    with open(path, "w") as f:
        for i, s in enumerate(seqs):
            f.write(f"@{prefix}{i} x\n{s}\n+\n{'I' * len(s)}\n")
    return str(path)


def _run(out, model_dir, read: dict, chunk_bytes: int = 4_000, runner="local", **classify):
    cfg = {
        "output": str(out),
        "run": {"runner": runner, "chunk_bytes": chunk_bytes},
        "stages": [
            {"read": read},
            {"classify": {"model": str(model_dir), **classify}},
            {"write": {"format": "parquet", "path": "predictions"}},
        ],
    }
    return run_pipeline(parse_config(cfg))


def _output(out) -> pa.Table:
    parts = sorted(glob.glob(str(out / "predictions" / "part-*.parquet")))
    return pa.concat_tables(pq.read_table(p) for p in parts)


def _softmax(x: list[float]) -> np.ndarray:
    e = np.exp(np.array(x) - max(x))
    return np.asarray(e / e.sum())


# reads on the planted model (AAA → alpha, CCC → beta, ATA → gamma, all else unknown)
PLANTED = [
    "AAAAA",  # 3 × AAA: h = (2, 0, 0)
    "CCCCCC",  # 4 × CCC: h = (0, 2, 0)
    "AAAAAACCCC",  # 4 × AAA, AAC and ACC unknown, 2 × CCC: h = (4/3, 2/3, 0)
    "ATATA",  # ATA, TAT (= ATA reverse-complemented), ATA: h = (0, 0, 2)
    "GTGTGTG",  # GTG / TGT only: no known k-mer
    "AC",  # shorter than k
    "NNNAAANNN",  # one AAA between Ns
]
BEST = ["alpha", "beta", "alpha", "gamma", UNCLASSIFIED, UNCLASSIFIED, "alpha"]
E2 = math.exp(2) / (math.exp(2) + 2)  # softmax([2, 0, 0])[0]
MIXED = _softmax([4 / 3, 2 / 3, 0])


@pytest.fixture
def planted_dir(tmp_path):
    d = tmp_path / "model"
    planted_model().save(str(d))
    return d


def test_planted_reads_get_their_labels_and_softmax_scores(tmp_path, planted_dir):
    fq = _fastq(tmp_path / "r.fq", PLANTED * 30)
    result = _run(tmp_path / "out", planted_dir, {"paths": [fq]}, chunk_bytes=300)
    got = _output(tmp_path / "out")
    assert len(glob.glob(str(tmp_path / "out" / "predictions" / "part-*"))) > 3  # chunks
    assert got.column_names == ["source", "record", "name", "label", "score"]
    assert got.schema.field("label").type == pa.large_string()
    assert got.schema.field("score").type == pa.float32()
    assert got.column("record").to_pylist() == list(range(len(PLANTED) * 30))
    assert got.column("name").to_pylist()[:2] == ["r0 x", "r1 x"]
    assert got.column("label").to_pylist() == BEST * 30
    want = [E2, E2, MIXED[0], E2, 0, 0, E2]
    np.testing.assert_allclose(got.column("score").to_numpy(), want * 30, rtol=1e-6)

    rep = result.reports["classify"]
    assert rep["counts"] == {"alpha": 90, "beta": 30, "gamma": 30, UNCLASSIFIED: 60}
    assert list(rep["counts"]) == sorted(rep["counts"])
    assert (rep["reads"], rep["classified"], rep["unclassified"]) == (210, 150, 60)
    assert rep["no_known_kmer"] == 60
    # k-mers: 3 + 4 + 8 + 3 + 5 + 0 + 1 (the Ns leave one window) per round
    assert (rep["kmers"], rep["unknown_kmers"]) == (24 * 30, 7 * 30)
    assert (rep["labels"], rep["loss"], rep["top"], rep["min_score"]) == (3, "softmax", 1, 0.0)
    assert rep["model"] == str(planted_dir)
    assert result.counters["classify"].measures["classified_out"] == 150
    assert stage_class("classify") is ClassifyStage
    line = ClassifyStage.summarize(rep)
    assert "150 of 210 reads classified (71.43%; 3 labels)" in line
    assert "most: alpha 90, beta 30, gamma 30" in line
    assert "60 unclassified (60 without a known k-mer)" in line


def test_min_score_leaves_weak_reads_unclassified_with_their_score(tmp_path, planted_dir):
    fq = _fastq(tmp_path / "r.fq", PLANTED)
    threshold = (MIXED[0] + E2) / 2  # between the mixed read's score and the pure reads'
    result = _run(tmp_path / "out", planted_dir, {"paths": [fq]}, min_score=threshold)
    got = _output(tmp_path / "out")
    want = ["alpha", "beta", UNCLASSIFIED, "gamma", UNCLASSIFIED, UNCLASSIFIED, "alpha"]
    assert got.column("label").to_pylist() == want
    assert got.column("score").to_numpy()[2] == pytest.approx(MIXED[0], rel=1e-6)
    rep = result.reports["classify"]
    assert rep["counts"][UNCLASSIFIED] == 3 and rep["no_known_kmer"] == 2
    assert "min score" in ClassifyStage.summarize(rep)


def test_top_n_labels_and_scores(tmp_path, planted_dir):
    fq = _fastq(tmp_path / "r.fq", PLANTED)
    _run(tmp_path / "out", planted_dir, {"paths": [fq]}, top=3)
    got = _output(tmp_path / "out")
    assert got.column_names[-2:] == ["top_labels", "top_scores"]
    assert got.schema.field("top_labels").type == pa.list_(pa.large_string())
    assert got.schema.field("top_scores").type == pa.list_(pa.float32())
    tops = got.column("top_labels").to_pylist()
    scores = got.column("top_scores").to_pylist()
    # the pure reads: their own label, then the two others tied (lower label index first)
    assert tops[0] == ["alpha", "beta", "gamma"] and tops[3] == ["gamma", "alpha", "beta"]
    np.testing.assert_allclose(scores[0], [E2, (1 - E2) / 2, (1 - E2) / 2], rtol=1e-6)
    assert tops[2] == ["alpha", "beta", "gamma"]
    np.testing.assert_allclose(scores[2], MIXED, rtol=1e-6)
    assert tops[4] == tops[5] == [] and scores[4] == scores[5] == []  # no known k-mer
    assert [t[0] if t else UNCLASSIFIED for t in tops] == got.column("label").to_pylist()


def test_mates_vote_together(tmp_path, planted_dir):
    # read 1 alone says alpha (3 × AAA); its mate says beta (5 × CCC): the pair is the
    # mean over all 8 k-mers, h = (3·2, 5·2, 0) / 8, so beta wins
    r1 = _fastq(tmp_path / "r1.fq", ["AAAAA", "AAAAA", "GTGTG", "AC"], "p")
    r2 = _fastq(tmp_path / "r2.fq", ["CCCCCCC", "GTGT", "CCCCC", "A"], "p")
    result = _run(tmp_path / "out", planted_dir, {"paths": [r1], "mate_paths": [r2]})
    got = _output(tmp_path / "out")
    assert got.column("label").to_pylist() == ["beta", "alpha", "beta", UNCLASSIFIED]
    pair = _softmax([6 / 8, 10 / 8, 0])
    np.testing.assert_allclose(got.column("score").to_numpy(), [pair[1], E2, E2, 0], rtol=1e-6)
    assert result.reports["classify"]["no_known_kmer"] == 1


def _random_reads(n: int, seed: int, max_len: int = 40) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice("ACGTN") for _ in range(rng.randint(0, max_len))) for _ in range(n)]


@pytest.mark.parametrize("loss", ["softmax", "hs"])
def test_random_model_matches_a_numpy_reference(tmp_path, loss):
    model = random_model(labels=5, dim=6, loss=loss, seed=3)
    model.save(str(tmp_path / "model"))
    seqs, mates = _random_reads(80, 1), _random_reads(80, 2)
    r1, r2 = _fastq(tmp_path / "r1.fq", seqs), _fastq(tmp_path / "r2.fq", mates)
    read = {"paths": [r1], "mate_paths": [r2]}
    result = _run(tmp_path / "out", tmp_path / "model", read, chunk_bytes=1_000, top=3)
    got = _output(tmp_path / "out")
    labels, scores = [], []
    for s, m in zip(seqs, mates):
        p = probabilities(model, [s, m])
        if p is None:
            labels.append([]), scores.append([])
        else:
            order = np.argsort(-p, kind="stable")[:3]
            labels.append([model.labels[i] for i in order]), scores.append(p[order])
    assert got.column("top_labels").to_pylist() == labels
    for have, want in zip(got.column("top_scores").to_pylist(), scores):
        np.testing.assert_allclose(have, want, rtol=2e-5, atol=1e-6)
    assert got.column("label").to_pylist() == [t[0] if t else UNCLASSIFIED for t in labels]
    counts = result.reports["classify"]["counts"]
    assert sum(counts.values()) == 80 and set(counts) == {*model.labels, UNCLASSIFIED}
    for name in model.labels:
        assert counts[name] == sum(1 for t in labels if t and t[0] == name)
    if loss == "hs":  # every label's probability, summed: one
        p = probabilities(model, [seqs[0] + "AAAAAAA", mates[0]])
        assert p is not None and p.sum() == pytest.approx(1.0)


def test_a_non_classifier_model_is_refused_before_the_run(tmp_path):
    fq = _fastq(tmp_path / "r.fq", PLANTED)
    tiny_model(k=3, dim=3).save(str(tmp_path / "embedding"))
    with pytest.raises(InputError, match="embedding.model.json: an embedding model, not a"):
        _run(tmp_path / "out", tmp_path / "embedding", {"paths": [fq]})
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty: not an embedding model directory"):
        _run(tmp_path / "out", tmp_path / "empty", {"paths": [fq]})
    assert not (tmp_path / "out").exists()


def test_top_beyond_the_labels_and_a_reserved_label_are_refused(tmp_path, planted_dir):
    fq = _fastq(tmp_path / "r.fq", PLANTED)
    with pytest.raises(ConfigError, match="top is 4, but the model in .*model has 3 labels"):
        _run(tmp_path / "out", planted_dir, {"paths": [fq]}, top=4)
    with pytest.raises(ConfigError, match="min_score"):
        _run(tmp_path / "out", planted_dir, {"paths": [fq]}, min_score=1.5)
    model = planted_model()
    model.labels[1] = UNCLASSIFIED
    model.save(str(tmp_path / "reserved"))
    with pytest.raises(InputError, match="reserved: has a label named 'unclassified'"):
        _run(tmp_path / "out", tmp_path / "reserved", {"paths": [fq]})
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("loss", ["softmax", "hs"])
def test_model_round_trip(tmp_path, loss):
    model = random_model(labels=6, dim=4, loss=loss, seed=5)
    model.save(str(tmp_path / "m"))
    back = ClassifierModel.load(str(tmp_path / "m"))
    assert (back.labels, back.loss) == (model.labels, loss)
    np.testing.assert_array_equal(back.output, model.output)
    np.testing.assert_array_equal(back.label_weights, model.label_weights)
    np.testing.assert_array_equal(back.inputs(), model.inputs())
    np.testing.assert_array_equal(back.embedding.table.buckets, model.embedding.table.buckets)
    if loss == "hs":
        assert back.tree is not None and model.tree is not None
        for name in ("codes", "points", "lengths"):
            np.testing.assert_array_equal(getattr(back.tree, name), getattr(model.tree, name))
    else:
        assert back.tree is None


def test_tally_merges_and_survives_json():
    a = ClassifyTally(reads=3, kmers=10, unknown_kmers=2, no_known_kmer=1, labels={"x": 2})
    b = ClassifyTally.from_json(
        {"reads": 4, "kmers": 5, "unknown_kmers": 0, "no_known_kmer": 0, "labels": {"x": 1, "y": 3}}
    )
    a += b
    assert a.to_json() == {
        "reads": 7,
        "kmers": 15,
        "unknown_kmers": 2,
        "no_known_kmer": 1,
        "labels": {"x": 3, "y": 3},
    }
    assert b["labels"] == {"x": 1, "y": 3}  # the merged-in tally is not changed
    assert ClassifyTally()["labels"] == {} and ClassifyTally()["labels"] is not a["labels"]


@pytest.mark.integration
def test_both_runners_write_the_same_predictions(tmp_path, ray_cluster):
    model = random_model(labels=4, dim=5, loss="hs", seed=7)
    model.save(str(tmp_path / "model"))
    fq = _fastq(tmp_path / "r.fq", _random_reads(300, 9, max_len=60))
    written = {}
    for runner in ("local", "ray"):
        out = tmp_path / runner
        result = _run(out, tmp_path / "model", {"paths": [fq]}, runner=runner, top=2)
        assert result.reports["classify"]["reads"] == 300
        written[runner] = {
            p.name: p.read_bytes() for p in sorted((out / "predictions").glob("part-*"))
        }
    assert len(written["local"]) > 1 and written["local"] == written["ray"]


def test_same_input_same_bytes_and_chunking_changes_nothing(tmp_path):
    random_model(labels=4, dim=5, loss="hs", seed=11).save(str(tmp_path / "model"))
    fq = _fastq(tmp_path / "r.fq", _random_reads(120, 4))

    def run(name: str, chunk_bytes: int) -> tuple[dict, pa.Table]:
        out = tmp_path / name
        _run(out, tmp_path / "model", {"paths": [fq]}, chunk_bytes=chunk_bytes, top=2)
        files = {p.name: p.read_bytes() for p in sorted((out / "predictions").glob("part-*"))}
        return files, _output(out)

    first, table = run("a", 1_500)
    again, _ = run("b", 1_500)
    _, one_chunk = run("c", 1 << 20)
    assert len(first) > 2 and first == again
    assert table.equals(one_chunk)


def test_classify_takes_the_model_a_train_classifier_stage_writes(tmp_path):
    import seqray.classify.train_stage  # noqa: F401  (registers train_classifier)
    from seqray.pipeline.definition import Pipeline

    fa = tmp_path / "a.fa"
    fa.write_text(">a\nACGTACGTAC\n")
    cfg = {
        "output": str(tmp_path / "out"),
        "stages": [
            {"read": {"paths": [str(tmp_path / "r.fq")]}},
            {"train_classifier": {"references": {"alpha": [str(fa)]}, "directory": "m"}},
            {"classify": {"top": 2}},
            {"write": {"format": "parquet", "path": "predictions"}},
        ],
    }
    stage = Pipeline.from_config(parse_config(cfg)).stages[1]
    assert isinstance(stage, ClassifyStage)
    assert stage.model_dir == str(tmp_path / "out" / "m")
    assert stage.input_paths() == []  # the run writes it: not an input
    del cfg["stages"][1]
    with pytest.raises(ConfigError, match="no train_classifier stage before it"):
        Pipeline.from_config(parse_config(cfg))
