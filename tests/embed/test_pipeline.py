"""train_embeddings → embed → write in one pipeline, single-end and paired, after QC: both
runners write the same bytes (the model's files included), the vectors are the model's
read vectors, and a resumed run takes the finished model instead of training again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from seqray.embed.model import EmbeddingModel
from seqray.embed.vectors import read_vectors
from seqray.io.buffers import values_offsets
from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline

from ..conftest import killed_before_manifest


def _genome_reads(path: Path, n: int, seed: int, mate: Path | None = None) -> None:
    """Reads (and mates) from a random 3 kb genome, so that k-mers repeat."""
    rng = np.random.default_rng(seed)
    genome = rng.choice(list("ACGT"), 3000)
    outs = [path.open("w")] + ([mate.open("w")] if mate else [])
    for i in range(n):
        start = int(rng.integers(0, 2700))
        for m, f in enumerate(outs):
            a = start + 150 * m
            seq = "".join(genome[a : a + int(rng.integers(60, 120))])
            f.write(f"@r{i}/{m + 1}\n{seq}\n+\n{'I' * len(seq)}\n")
    for f in outs:
        f.close()


TRAIN = {"k": 9, "hash_bits": 12, "dim": 8, "epochs": 2, "min_count": 1, "threads": 2}


def _files(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "manifest.json" and "_seqray" not in p.parts
    }


def _config(out: Path, read: dict, **train) -> dict:
    return {
        "output": str(out),
        "run": {"chunk_bytes": 4000, "block_bases": 3000},
        "stages": [
            {"read": read},
            {"qc": {"length_required": 20}},
            {"train_embeddings": {**TRAIN, **train}},
            {"embed": {}},
            {"write": {"format": "parquet", "path": "vectors"}},
        ],
    }


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["se", "pe"])
def test_train_then_embed_on_both_runners(tmp_path, ray_cluster, kind):
    if kind == "se":
        _genome_reads(tmp_path / "se.fq", 200, seed=3)
        read = {"paths": [str(tmp_path / "se.fq")]}
    else:
        _genome_reads(tmp_path / "p_1.fq", 150, seed=4, mate=tmp_path / "p_2.fq")
        read = {"paths": [str(tmp_path / "p_1.fq")], "mate_paths": [str(tmp_path / "p_2.fq")]}
    written = {}
    for runner in ("local", "ray"):
        out = tmp_path / runner
        result = run_pipeline(parse_config(_config(out, read)), runner=runner)
        assert result.reports["train_embeddings"]["vocabulary"] > 0
        written[runner] = _files(out)
    assert written["local"] == written["ray"]
    assert "embedding_model/vectors.npy" in written["local"]
    # the vectors are the model's read vectors of the QC'd reads, in read order
    out = tmp_path / "local"
    model = EmbeddingModel.load(str(out / "embedding_model"))
    got = pq.read_table(out / "vectors")
    assert got.column("vector").type.list_size == TRAIN["dim"]
    if kind == "se":
        from seqray.io.readers import open_chunk
        from seqray.io.sources import plan_chunks

        chunks, _ = plan_chunks(read["paths"], None, chunk_bytes=1 << 30)
        names = got.column("name").to_pylist()
        reads = {r["name"]: r["seq"] for t in open_chunk(chunks[0]) for r in t.to_pylist()}
        values, offsets = values_offsets(
            __import__("pyarrow").array([reads[n] for n in names], "large_binary")
        )
        want, _, _ = read_vectors(model, values, offsets)
        have = np.array(got.column("vector").to_pylist(), np.float32)
        np.testing.assert_allclose(have, want, rtol=1e-6, atol=1e-7)


def test_resume_takes_the_finished_model(tmp_path):
    fq = tmp_path / "se.fq"
    _genome_reads(fq, 120, seed=8)
    out = tmp_path / "out"
    cfg = _config(out, {"paths": [str(fq)]}, threads=1)
    fresh = run_pipeline(parse_config(_config(tmp_path / "fresh", {"paths": [str(fq)]}, threads=1)))
    with killed_before_manifest():  # the run dies after training
        run_pipeline(parse_config(cfg), runner="local")
    model = (out / "embedding_model" / "vectors.npy").read_bytes()
    assert model == (tmp_path / "fresh" / "embedding_model" / "vectors.npy").read_bytes()
    again = run_pipeline(parse_config(cfg), runner="local", resume=True)
    assert (out / "embedding_model" / "vectors.npy").read_bytes() == model
    reused = {p["stage"]: p["reused"] for p in again.prepare}
    assert reused["train_embeddings"] is True
    assert (
        again.reports["train_embeddings"]["vocabulary"]
        == (fresh.reports["train_embeddings"]["vocabulary"])
    )


def test_embed_without_a_model_needs_a_trainer_before_it(tmp_path):
    from seqray.errors import ConfigError
    from seqray.pipeline.definition import Pipeline

    cfg = {
        "output": str(tmp_path / "o"),
        "stages": [{"read": {"paths": ["x.fq"]}}, {"embed": {}}, {"write": {"format": "parquet"}}],
    }
    with pytest.raises(ConfigError, match="no train_embeddings stage before it"):
        Pipeline.from_config(parse_config(cfg))
