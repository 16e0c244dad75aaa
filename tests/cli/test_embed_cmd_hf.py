"""`seqray embed --backend hf` end to end on a tiny FASTQ and a tiny DNABERT-style model
built here: vectors (and per-token arrays) equal HFEmbedder's, the summary line, the
report; options of the other backend, pairs, an unknown output format and a missing model
refused with a clear message (exit 2 for usage, 1 for the model)."""

from __future__ import annotations

import glob
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seqray.cli.main import main
from seqray.embed.hf.embedder import HFEmbedder

from ..conftest import assert_user_error, flat, write_random_fastq
from ..embed.hf.models import dnabert


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return dnabert(tmp_path_factory.mktemp("hf") / "dnabert")


def _table(out) -> pa.Table:
    parts = sorted(glob.glob(str(out / "vectors" / "part-*.parquet")))
    return pa.concat_tables(pq.read_table(p) for p in parts)


def _seqs(fq) -> list[bytes]:
    return [s.encode() for s in fq.read_text().splitlines()[1::4]]


def test_embed_hf_end_to_end(tmp_path, model_dir, capsys):
    fq = write_random_fastq(tmp_path / "r.fq", 30, max_len=100)
    out = tmp_path / "out"
    window = ["--max-length", "24", "--overlap", "4", "--batch-tokens", "100"]
    args = ["embed", str(fq), "--backend", "hf", "--model", str(model_dir), "-o", str(out)]
    assert main([*args, *window, "--pooling", "cls", "--dtype", "float16", "--runner", "local",
                 "--quiet"]) == 0  # fmt: skip
    err = flat(capsys.readouterr().err)
    assert "30 reads embedded with" in err and "cls pooling, 32 dimensions, float16" in err
    table = _table(out)
    assert table.column_names == ["source", "record", "name", "vector"]
    assert table.column("name").to_pylist() == [f"read{i} c={i % 7}" for i in range(30)]
    vecs = table.column("vector").combine_chunks()
    assert vecs.type.value_type == pa.float16()
    emb = HFEmbedder(str(model_dir), pooling="cls", max_length=24, overlap=4, batch_tokens=100)
    got = vecs.values.to_numpy().reshape(30, 32).astype(np.float32)
    np.testing.assert_allclose(got, emb.embed(_seqs(fq)), rtol=2e-3, atol=2e-3)  # float16
    report = json.loads((out / "manifest.json").read_text())["reports"]["embed"]
    assert report["backend"] == "hf" and report["sequences"] == 30 and report["windowed"] > 0

    out2 = tmp_path / "tokens"
    tokens = ["--pooling", "tokens", "--format", "parquet", "--runner", "local", "--quiet"]
    assert main([*args[:-1], str(out2), *tokens]) == 0
    t = _table(out2)
    assert t.column_names == ["source", "record", "name", "token_values"]
    lengths = [len(x) for x in t.column("token_values").to_pylist()]
    assert lengths == [max(len(s) - 2, 0) for s in _seqs(fq)]  # one per 3-mer


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--pooling", "mean"], "--pooling: for --backend hf only"),
        (["--backend", "hf", "--per-token"], "--per-token: for --backend lsh only"),
        (["--backend", "hf", "--mate", "r2.fq"], "--mate: --backend hf embeds single reads"),
        (["--backend", "hf", "--pooling", "max"], "--pooling"),
        (["--backend", "hf", "--precision", "int8"], "--precision"),
        (["--backend", "hf", "--format", "csv"], "--format"),
    ],
)
def test_usage_errors(tmp_path, model_dir, capsys, extra, message):
    fq = write_random_fastq(tmp_path / "r.fq", 3)
    args = ["embed", str(fq), "--model", str(model_dir), "-o", str(tmp_path / "out"), *extra]
    assert main([*args, "--runner", "local", "--quiet"]) == 2
    assert_user_error(capsys.readouterr().err, message)
    assert not (tmp_path / "out" / "vectors").exists()


def test_missing_model_is_a_clear_error(tmp_path, capsys):
    fq = write_random_fastq(tmp_path / "r.fq", 3)
    missing = tmp_path / "nowhere"
    args = ["embed", str(fq), "--backend", "hf", "--model", str(missing), "-o", str(tmp_path / "o")]
    assert main([*args, "--runner", "local", "--quiet"]) == 1
    assert_user_error(capsys.readouterr().err, str(missing), "no such model directory")
