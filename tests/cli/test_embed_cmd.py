"""`seqray embed` and `seqray embeddings export` end to end on a tiny FASTQ and a tiny
saved model (test hasher): the output layout, foreign files beside the outputs left
alone, bad models and refused overwrites as clear errors (exit 1)."""

from __future__ import annotations

import glob
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seqray.cli.main import main
from seqray.embed.model import EmbeddingModel

from ..conftest import assert_user_error, flat, write_random_fastq
from ..embed.exact_hasher import tiny_model


@pytest.fixture
def model_dir(tmp_path, monkeypatch):
    d = tmp_path / "model"
    tiny_model(k=3, dim=4).save(str(d))
    return d


def test_embed_end_to_end(tmp_path, model_dir, capsys):
    fq = write_random_fastq(tmp_path / "r.fq", 40, max_len=50)
    out = tmp_path / "out"
    out.mkdir()
    args = ["embed", str(fq), "--model", str(model_dir), "-o", str(out), "--runner", "local"]
    assert main([*args, "--dtype", "float16", "--quiet"]) == 0
    assert "40 reads embedded (4 dimensions, float16)" in flat(capsys.readouterr().err)
    parts = glob.glob(str(out / "vectors" / "part-*.parquet"))
    table = pa.concat_tables(pq.read_table(p) for p in sorted(parts))
    assert table.column_names == ["source", "record", "name", "vector"]
    assert table.schema.field("vector").type.value_type == pa.float16()
    assert table.column("name").to_pylist() == [f"read{i} c={i % 7}" for i in range(40)]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["reports"]["embed"]["reads"] == 40

    # a foreign file beside the outputs: --overwrite refuses and removes nothing
    (out / "vectors" / "notes.txt").write_text("mine")
    before = sorted(p.name for p in (out / "vectors").iterdir())
    assert main([*args, "--overwrite", "--quiet"]) == 1
    assert_user_error(capsys.readouterr().err, "notes.txt")
    assert sorted(p.name for p in (out / "vectors").iterdir()) == before
    assert (out / "vectors" / "notes.txt").read_text() == "mine"
    # the model directory is never written
    assert (model_dir / "model.json").stat().st_mtime_ns < (
        out / "manifest.json"
    ).stat().st_mtime_ns


def test_embed_per_token(tmp_path, model_dir):
    fq = write_random_fastq(tmp_path / "r.fq", 10, max_len=20)
    out = tmp_path / "out"
    args = ["embed", str(fq), "--model", str(model_dir), "-o", str(out), "--per-token"]
    assert main([*args, "--runner", "local", "--quiet"]) == 0
    t = pq.read_table(glob.glob(str(out / "vectors" / "part-*.parquet"))[0])
    assert t.column_names == ["source", "record", "name", "token_values"]


@pytest.mark.parametrize("broken", ["missing", "empty", "bad-json", "truncated"])
def test_bad_model_dir_is_a_clear_error(tmp_path, model_dir, capsys, broken):
    fq = write_random_fastq(tmp_path / "r.fq", 5)
    bad = tmp_path / "bad"
    want = "not an embedding model directory"
    if broken == "empty":
        bad.mkdir()
    elif broken == "bad-json":
        bad.mkdir()
        (bad / "model.json").write_text("{")
        want = "model.json: not a readable JSON file"
    elif broken == "truncated":
        bad = model_dir
        (bad / "buckets.npy").write_bytes(b"\x93NUMPY")
        want = "buckets.npy: 6 bytes, but model.json records"
    args = ["embed", str(fq), "--model", str(bad), "-o", str(tmp_path / "out")]
    assert main([*args, "--runner", "local", "--quiet"]) == 1
    assert_user_error(capsys.readouterr().err, want)
    assert main(["embeddings", "export", str(bad), "--word2vec", str(tmp_path / "v.txt")]) == 1
    assert_user_error(capsys.readouterr().err, want)
    assert not (tmp_path / "v.txt").exists()


def test_export(tmp_path, model_dir, capsys):
    from gensim.models import KeyedVectors

    w2v, pq_path = tmp_path / "v.bin", tmp_path / "v.parquet"
    args = ["embeddings", "export", str(model_dir), "--word2vec", str(w2v), "--binary"]
    assert main([*args, "--parquet", str(pq_path)]) == 0
    model = EmbeddingModel.load(str(model_dir))
    kv = KeyedVectors.load_word2vec_format(str(w2v), binary=True)
    assert np.array_equal(kv.vectors, model.table.as_float32())
    assert pq.read_table(pq_path).column("bucket").to_pylist() == model.table.buckets.tolist()
    capsys.readouterr()

    w2v.write_bytes(b"someone's")
    assert main(args) == 1
    assert_user_error(capsys.readouterr().err, "v.bin: already exists")
    assert w2v.read_bytes() == b"someone's"

    own = model_dir / "vectors.npy"
    size = own.stat().st_size
    assert main(["embeddings", "export", str(model_dir), "--parquet", str(own)]) == 1
    assert_user_error(capsys.readouterr().err, "the model's own")
    assert own.stat().st_size == size
    assert main(["embeddings", "export", str(model_dir)]) == 2
