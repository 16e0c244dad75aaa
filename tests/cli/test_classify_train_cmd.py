"""`seqray classify train` → `seqray classify predict` end to end on simulated genomes (reads
of known origin), the classifier's vectors through `seqray embed`, a train → classify
pipeline in one config, and usage errors that name the option."""

from __future__ import annotations

import glob
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seqray.cli.main import main
from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline

from ..classify.simulated import genomes, reads, write_fasta, write_fastq
from ..conftest import assert_user_error, flat

LABELS = ["alpha", "beta", "gamma"]
FAST = ["--k", "10", "--dim", "16", "--epochs", "3", "--fragments", "3000", "--threads", "2"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("cls")
    gs = genomes(3, 6000, seed=11)
    refs = [str(write_fasta(d / f"{lab}.fa", [(f"{lab}_chr", g)])) for lab, g in zip(LABELS, gs)]
    seqs, truth = reads(gs, 300, seed=12, error=0.02)
    write_fastq(d / "reads.fq", seqs)
    return d, refs, truth


def _predictions(out) -> pa.Table:
    parts = sorted(glob.glob(str(out / "predictions" / "part-*.parquet")))
    return pa.concat_tables(pq.read_table(p) for p in parts)


def test_train_then_predict(tmp_path, data, capsys):
    d, refs, truth = data
    model = tmp_path / "model"
    spec = [f"--reference={lab}={path}" for lab, path in zip(LABELS, refs)]
    assert main(["classify", "train", *spec, "-o", str(model), *FAST, "--quiet"]) == 0
    err = flat(capsys.readouterr().err + capsys.readouterr().out)
    meta = json.loads((model / "model.json").read_text())
    assert meta["classifier"]["labels"] == LABELS
    assert set(meta["files"]) >= {"output.npy", "vectors.npy", "hash.npz"}
    out = tmp_path / "pred"
    args = ["classify", "predict", str(d / "reads.fq"), "--model", str(model), "-o", str(out)]
    assert main([*args, "--quiet"]) == 0
    got = _predictions(out).column("label").to_pylist()
    assert np.mean(np.array(got) == np.array(LABELS)[truth]) >= 0.95
    counts = json.loads((out / "manifest.json").read_text())["reports"]["classify"]["counts"]
    assert sum(counts.values()) == len(truth)
    # the classifier's input vectors are k-mer embeddings
    vecs = tmp_path / "vecs"
    assert main(["embed", str(d / "reads.fq"), "--model", str(model), "-o", str(vecs)]) == 0
    table = pq.read_table(vecs / "vectors")
    assert table.num_rows == len(truth) and table.schema.field("vector").type.list_size == 16
    del err


def test_train_and_classify_in_one_pipeline(tmp_path, data):
    d, refs, truth = data
    stage = {"references": {lab: [p] for lab, p in zip(LABELS, refs)}, "k": 10, "dim": 16}
    cfg = {
        "output": str(tmp_path / "out"),
        "stages": [
            {"read": {"paths": [str(d / "reads.fq")]}},
            {"train_classifier": {**stage, "epochs": 3, "fragments": 3000}},
            {"classify": {"min_score": 0.5}},
            {"write": {"format": "parquet", "path": "predictions"}},
        ],
    }
    result = run_pipeline(parse_config(cfg))
    assert result.reports["train_classifier"]["labels"] == 3
    table = _predictions(tmp_path / "out")
    labels = np.array(table.column("label").to_pylist())
    assert np.mean(labels == np.array(LABELS)[truth]) >= 0.95
    assert (tmp_path / "out" / "classifier_model" / "output.npy").exists()


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        ([], ["--reference"]),
        (["reads.fq"], ["--labels"]),
        (["--labels", "l.tsv"], ["INPUT"]),
        (["--reference", "nolabel.fa"], ["--reference", "LABEL=FASTA"]),
        (["--reference", "a=x.fa", "--noise", "0.7,0.5"], ["--noise"]),
    ],
)
def test_usage_errors(tmp_path, capsys, args, needles):
    code = main(["classify", "train", *args, "-o", str(tmp_path / "m")])
    assert code != 0
    assert_user_error(capsys.readouterr().err, *needles)
    assert not (tmp_path / "m" / "model.json").exists()


def test_foreign_file_in_model_dir_is_kept(tmp_path, data, capsys):
    _, refs, _ = data
    model = tmp_path / "model"
    model.mkdir()
    (model / "output.npy").write_bytes(b"mine")
    spec = [f"--reference={lab}={path}" for lab, path in zip(LABELS, refs)]
    code = main(["classify", "train", *spec, "-o", str(model), *FAST, "--overwrite", "--quiet"])
    assert code != 0
    assert (model / "output.npy").read_bytes() == b"mine"
    assert "output.npy" in flat(capsys.readouterr().err)
