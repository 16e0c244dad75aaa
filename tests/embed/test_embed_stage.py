"""The `embed` stage in a pipeline (local runner): output kind, schema and identity
columns, vectors equal to `read_vectors` over the same reads, pairs embedded together,
per-token arrays, counters in the report, and a bad model refused before anything runs."""

from __future__ import annotations

import glob

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seqray.embed.embed_stage import EmbedStage
from seqray.errors import InputError
from seqray.io.buffers import values_offsets
from seqray.io.parse import ReadOptions
from seqray.io.sources import plan_chunks
from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline
from seqray.pipeline.registry import stage_class

from ..conftest import write_random_fastq, write_random_pairs
from .exact_hasher import tiny_model


@pytest.fixture
def model_dir(tmp_path, monkeypatch):
    d = tmp_path / "model"
    tiny_model(k=3, dim=5, dtype="float16").save(str(d))
    return d


def _reads(*paths) -> pa.Table:
    from seqray.cli.common import iter_chunk_tables

    chunks, _ = plan_chunks([str(p) for p in paths])
    return pa.concat_tables(t for _, t in iter_chunk_tables(chunks, ReadOptions()))


def _run(out, model_dir, read: dict, **embed):
    cfg = {
        "output": str(out),
        "run": {"runner": "local", "chunk_bytes": 4_000},
        "stages": [
            {"read": read},
            {"embed": {"model": str(model_dir), **embed}},
            {"write": {"format": "parquet", "path": "vectors"}},
        ],
    }
    return run_pipeline(parse_config(cfg))


def _output(out) -> pa.Table:
    parts = sorted(glob.glob(str(out / "vectors" / "part-*.parquet")))
    assert len(parts) > 1  # several chunks
    return pa.concat_tables(pq.read_table(p) for p in parts)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_embed_stage_writes_read_vectors(tmp_path, model_dir, dtype):
    from seqray.embed.model import EmbeddingModel
    from seqray.embed.vectors import read_vectors

    fq = write_random_fastq(tmp_path / "r.fq", 120, max_len=40)
    result = _run(tmp_path / "out", model_dir, {"paths": [str(fq)]}, dtype=dtype)
    got = _output(tmp_path / "out")
    assert got.column_names == ["source", "record", "name", "vector"]
    vtype = got.schema.field("vector").type
    assert vtype.list_size == 5
    assert vtype.value_type == (pa.float16() if dtype == "float16" else pa.float32())
    reads = _reads(fq)
    assert got.column("record").to_pylist() == list(range(120))
    assert got.column("name").to_pylist() == reads.column("name").to_pylist()
    assert set(got.column("source").to_pylist()) == {str(fq)}
    model = EmbeddingModel.load(str(model_dir))
    want, unknown, empty = read_vectors(model, *values_offsets(reads.column("seq")))
    vec = np.array(got.column("vector").to_pylist(), np.float32)
    np.testing.assert_array_equal(vec, want.astype(dtype).astype(np.float32))
    rep = result.reports["embed"]
    assert (rep["reads"], rep["unknown_kmers"], rep["empty_reads"]) == (120, unknown, empty)
    assert empty > 0 and unknown > 0
    assert rep["kmers"] == len(model.hasher.hash_reads(*values_offsets(reads.column("seq")))[0])
    assert stage_class("embed") is EmbedStage
    line = EmbedStage.summarize(rep)
    assert f"{empty:,} without a k-mer" in line and f"{unknown:,} of" in line


def test_embed_stage_counts_kmers(tmp_path, model_dir):
    fq = tmp_path / "r.fq"
    fq.write_text("@a\nACGTN\n+\nIIIII\n@b\nAC\n+\nII\n@c\nAAAAAA\n+\nIIIIII\n")
    cfg = {
        "output": str(tmp_path / "out"),
        "run": {"runner": "local"},
        "stages": [
            {"read": {"paths": [str(fq)]}},
            {"embed": {"model": str(model_dir)}},
            {"write": {"format": "parquet", "path": "vectors"}},
        ],
    }
    rep = run_pipeline(parse_config(cfg)).reports["embed"]
    assert (rep["reads"], rep["kmers"], rep["empty_reads"]) == (3, 2 + 0 + 4, 1)


def test_pairs_are_embedded_together(tmp_path, model_dir):
    from seqray.embed.model import EmbeddingModel
    from seqray.embed.vectors import read_vectors

    r1, r2 = tmp_path / "r1.fq", tmp_path / "r2.fq"
    write_random_pairs(r1, r2, 80)
    _run(tmp_path / "out", model_dir, {"paths": [str(r1)], "mate_paths": [str(r2)]})
    got = _output(tmp_path / "out")
    reads = _reads(r1)
    mates = _reads(r2)
    model = EmbeddingModel.load(str(model_dir))
    want, _, _ = read_vectors(
        model, *values_offsets(reads.column("seq")), *values_offsets(mates.column("seq"))
    )
    assert got.column("name").to_pylist() == reads.column("name").to_pylist()
    np.testing.assert_array_equal(np.array(got.column("vector").to_pylist(), np.float32), want)


def test_per_token_arrays(tmp_path, model_dir):
    from seqray.embed.model import EmbeddingModel
    from seqray.embed.vectors import token_arrays

    fq = write_random_fastq(tmp_path / "r.fq", 150, max_len=30)
    result = _run(tmp_path / "out", model_dir, {"paths": [str(fq)]}, per_token=True)
    got = _output(tmp_path / "out")
    assert got.column_names == ["source", "record", "name", "token_values"]
    reads = _reads(fq)
    model = EmbeddingModel.load(str(model_dir))
    arrays, offsets, _, _ = token_arrays(model, *values_offsets(reads.column("seq")))
    col = got.column("token_values").combine_chunks()
    assert np.diff(np.asarray(col.offsets)).tolist() == np.diff(offsets).tolist()
    np.testing.assert_array_equal(np.array(col.flatten().to_pylist(), np.float32), arrays)
    assert result.reports["embed"]["kmers"] == len(arrays)


def test_a_bad_model_is_refused_before_the_run(tmp_path, monkeypatch):
    fq = write_random_fastq(tmp_path / "r.fq", 5)
    (tmp_path / "notamodel").mkdir()
    with pytest.raises(InputError, match="notamodel: not an embedding model directory"):
        _run(tmp_path / "out", tmp_path / "notamodel", {"paths": [str(fq)]})
    assert not (tmp_path / "out").exists()
