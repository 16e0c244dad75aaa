"""`seqray classify predict` end to end on tiny FASTQs and a planted classifier: the output
layout, labels and per-label counts in the summary and manifest, --top/--min-score/--mate,
foreign files beside the outputs left alone, and bad models or options as clear errors."""

from __future__ import annotations

import glob
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seqray.cli.main import main

from ..classify.tiny_classifier import planted_model
from ..conftest import assert_user_error, flat
from ..embed.exact_hasher import tiny_model

READS = ["AAAAA", "CCCCCC", "ATATA", "GTGTGTG", "AAAAAAAAC"]  # alpha beta gamma - alpha


def _fastq(path, seqs, prefix="r"):
    path.write_text("".join(f"@{prefix}{i}\n{s}\n+\n{'I' * len(s)}\n" for i, s in enumerate(seqs)))
    return str(path)


@pytest.fixture
def model_dir(tmp_path):
    d = tmp_path / "model"
    planted_model().save(str(d))
    return d


def _predictions(out) -> pa.Table:
    parts = sorted(glob.glob(str(out / "predictions" / "part-*.parquet")))
    return pa.concat_tables(pq.read_table(p) for p in parts)


def test_predict_end_to_end(tmp_path, model_dir, capsys):
    fq = _fastq(tmp_path / "r.fq", READS)
    out = tmp_path / "out"
    args = ["classify", "predict", fq, "--model", str(model_dir), "-o", str(out)]
    assert main([*args, "--runner", "local", "--top", "2", "--quiet"]) == 0
    err = flat(capsys.readouterr().err)
    assert "4 of 5 reads classified (80.00%; 3 labels); most: alpha 2, beta 1, gamma 1" in err
    table = _predictions(out)
    assert table.column_names == [
        "source", "record", "name", "label", "score", "top_labels", "top_scores"
    ]  # fmt: skip
    assert table.column("label").to_pylist() == [
        "alpha", "beta", "gamma", "unclassified", "alpha"
    ]  # fmt: skip
    assert table.column("top_labels").to_pylist()[1] == ["beta", "alpha"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"]
    report = manifest["reports"]["classify"]
    assert report["counts"] == {"alpha": 2, "beta": 1, "gamma": 1, "unclassified": 1}
    assert (report["top"], report["classified"]) == (2, 4)

    # a foreign file beside the outputs: --overwrite refuses and removes nothing
    (out / "predictions" / "notes.txt").write_text("mine")
    before = sorted(p.name for p in (out / "predictions").iterdir())
    assert main([*args, "--runner", "local", "--overwrite", "--quiet"]) == 1
    assert_user_error(capsys.readouterr().err, "notes.txt")
    assert sorted(p.name for p in (out / "predictions").iterdir()) == before
    assert (out / "predictions" / "notes.txt").read_text() == "mine"
    # the model directory is never written
    model_time = max(p.stat().st_mtime_ns for p in model_dir.iterdir())
    assert model_time < (out / "manifest.json").stat().st_mtime_ns


def test_pairs_min_score_and_overwrite(tmp_path, model_dir, capsys):
    # the pair's mates disagree (3 × AAA, 5 × CCC): together they say beta, with
    # softmax([0.75, 1.25, 0])[1] = 0.5283; a min score of 0.6 leaves it unclassified
    r1 = _fastq(tmp_path / "r1.fq", ["AAAAA", "AAAAA"], "p")
    r2 = _fastq(tmp_path / "r2.fq", ["CCCCCCC", "AAAAA"], "p")
    out = tmp_path / "out"
    args = ["classify", "predict", r1, "--mate", r2, "--model", str(model_dir), "-o", str(out)]
    assert main([*args, "--runner", "local", "--quiet"]) == 0
    assert _predictions(out).column("label").to_pylist() == ["beta", "alpha"]
    assert _predictions(out).column("score").to_numpy()[0] == pytest.approx(0.52825, abs=1e-5)
    assert main([*args, "--runner", "local", "--quiet", "--min-score", "0.6"]) == 1
    assert_user_error(capsys.readouterr().err, "--overwrite")
    assert main([*args, "--runner", "local", "--quiet", "--min-score", "0.6", "--overwrite"]) == 0
    assert _predictions(out).column("label").to_pylist() == ["unclassified", "alpha"]
    report = json.loads((out / "manifest.json").read_text())["reports"]["classify"]
    assert report["min_score"] == 0.6 and report["counts"]["unclassified"] == 1


def test_bad_models_and_options_are_clear_errors(tmp_path, model_dir, capsys):
    fq = _fastq(tmp_path / "r.fq", READS)
    embedding = tmp_path / "embedding"
    tiny_model(k=3, dim=3).save(str(embedding))
    out = tmp_path / "out"
    base = ["classify", "predict", fq, "-o", str(out), "--runner", "local", "--quiet"]
    assert main([*base, "--model", str(embedding)]) == 1
    assert_user_error(capsys.readouterr().err, "an embedding model, not a classifier")
    assert main([*base, "--model", str(tmp_path / "nowhere")]) == 1
    assert_user_error(capsys.readouterr().err, "nowhere: not an embedding model directory")
    assert main([*base, "--model", str(model_dir), "--top", "5"]) != 0
    assert_user_error(capsys.readouterr().err, "has 3 labels")
    assert main([*base, "--model", str(model_dir), "--min-score", "2"]) == 2
    assert_user_error(capsys.readouterr().err, "--min-score")
    assert not out.exists()
