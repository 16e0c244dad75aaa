"""The `embed` stage with backend hf in a pipeline: vectors (and per-token arrays) equal
HFEmbedder's for the same reads, identity columns and input order kept over several
chunks, the report, the output dtype, the Ray runner's Parquet byte-identical to the local
runner's; config errors (keys of the other backend, no model, pairs) and incomplete model
directories refused before anything runs, each with a clear message."""

from __future__ import annotations

import glob
import json
import shutil
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seqray.embed.hf.embedder import HFEmbedder
from seqray.errors import ConfigError, InputError
from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline

from ...conftest import write_random_fastq, write_random_pairs

HF = {"backend": "hf", "max_length": 24, "overlap": 4, "batch_tokens": 200}


def _config(out, model, paths, mate_paths=None, threads=None, **embed) -> dict:
    read: dict = {"paths": [str(p) for p in paths]}
    if mate_paths:
        read["mate_paths"] = [str(p) for p in mate_paths]
    run: dict = {"runner": "local", "chunk_bytes": 6_000, "block_bases": 2_000}
    if threads:
        run["num_cpus"] = threads
    return {
        "output": str(out),
        "run": run,
        "stages": [
            {"read": read},
            {"embed": {"model": str(model), **embed}},
            {"write": {"format": "parquet", "path": "vectors"}},
        ],
    }


def _run(out, model, paths, runner=None, **kw):
    return run_pipeline(parse_config(_config(out, model, paths, **kw)), runner=runner)


def _output(out) -> pa.Table:
    parts = sorted(glob.glob(str(out / "vectors" / "part-*.parquet")))
    assert len(parts) > 1  # several chunks
    return pa.concat_tables(pq.read_table(p) for p in parts)


def _reads(fq) -> tuple[list[str], list[bytes]]:
    lines = fq.read_text().splitlines()
    return [n[1:] for n in lines[0::4]], [s.encode() for s in lines[1::4]]


@pytest.mark.parametrize("pooling", ["cls", "mean", "tokens"])
def test_stage_writes_the_embedder_vectors(tmp_path, hf_models, pooling):
    fq = write_random_fastq(tmp_path / "r.fq", 60, max_len=120)
    model = hf_models["dnabert"]
    result = _run(tmp_path / "out", model, [fq], pooling=pooling, **HF)
    table = _output(tmp_path / "out")
    names, seqs = _reads(fq)
    assert table.column("name").to_pylist() == names
    assert table.column("record").to_pylist() == list(range(60))
    emb = HFEmbedder(str(model), pooling=pooling, max_length=24, overlap=4, batch_tokens=200)
    report = result.reports["embed"]
    if pooling == "tokens":
        assert table.column_names == ["source", "record", "name", "token_values"]
        values, offsets = emb.embed_tokens(seqs)
        col = table.column("token_values").combine_chunks()
        assert np.diff(col.offsets.to_numpy()).tolist() == np.diff(offsets).tolist()
        got = col.values.flatten().to_numpy().reshape(-1, emb.dim)
        np.testing.assert_allclose(got, values, rtol=1e-5, atol=1e-6)
    else:
        assert table.column_names == ["source", "record", "name", "vector"]
        vecs = table.column("vector").combine_chunks()
        assert vecs.type == pa.list_(pa.float32(), 32)
        got = vecs.values.to_numpy().reshape(-1, emb.dim)
        np.testing.assert_allclose(got, emb.embed(seqs), rtol=1e-5, atol=1e-6)
    tokens = sum(max(len(s) - 2, 0) for s in seqs)
    assert report["backend"] == "hf" and report["pooling"] == pooling
    assert report["model"] == str(model) and report["dim"] == 32
    assert report["sequences"] == 60 and report["tokens"] == tokens
    assert report["windowed"] == sum(len(s) - 2 > 22 for s in seqs) > 0
    assert report["windows"] > 60 and 0 < report["padding_share"] < 1
    assert report["device"] == "cpu" and report["precision"] == "float32"


def test_float16_output_and_protein_model(tmp_path, hf_models):
    rng = np.random.default_rng(0)
    fa = tmp_path / "p.fa"
    seqs = [
        "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), rng.integers(1, 80))) for _ in range(30)
    ]
    fa.write_text("".join(f">p{i}\n{s}\n" for i, s in enumerate(seqs)))
    cfg = _config(tmp_path / "out", hf_models["esm"], [fa], backend="hf", dtype="float16")
    cfg["stages"][0]["read"]["alphabet"] = "protein"
    cfg["run"]["chunk_bytes"] = 1_000
    run_pipeline(parse_config(cfg))
    vecs = _output(tmp_path / "out").column("vector").combine_chunks()
    assert vecs.type.value_type == pa.float16()
    want = HFEmbedder(str(hf_models["esm"])).embed([s.encode() for s in seqs])
    got = vecs.values.to_numpy().reshape(-1, 32).astype(np.float32)
    np.testing.assert_allclose(got, want.astype(np.float16).astype(np.float32), rtol=1e-3)


def test_tokenizer_model_on_threads(tmp_path, hf_models):
    """A model whose own tokenizer does the work (Nucleotide-Transformer-style), with
    batches of reads on two threads: the tokenizer calls must not collide."""
    fq = write_random_fastq(tmp_path / "r.fq", 80, max_len=90)
    _run(tmp_path / "out", hf_models["nt"], [fq], threads=2, backend="hf", pooling="cls")
    got = _output(tmp_path / "out").column("vector").combine_chunks()
    want = HFEmbedder(str(hf_models["nt"]), pooling="cls").embed(_reads(fq)[1])
    np.testing.assert_allclose(got.values.to_numpy().reshape(-1, 32), want, rtol=1e-5, atol=1e-6)


@pytest.mark.integration
def test_ray_runner_gives_the_local_runner_files(tmp_path, hf_models, ray_cluster):
    fq = write_random_fastq(tmp_path / "r.fq", 80, max_len=150)
    written = {}
    for runner in ("local", "ray"):
        out = tmp_path / runner
        _run(out, hf_models["dnabert"], [fq], runner=runner, threads=1, pooling="mean", **HF)
        parts = sorted(glob.glob(str(out / "vectors" / "part-*.parquet")))
        assert len(parts) > 1
        written[runner] = {p.split("/")[-1]: open(p, "rb").read() for p in parts}
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["reports"]["embed"]["sequences"] == 80
    assert written["local"] == written["ray"]


@pytest.mark.parametrize(
    "embed, message",
    [
        ({"backend": "hf", "per_token": True}, "per_token: backend lsh only"),
        ({"backend": "hf", "positional": False}, "positional: backend lsh only"),
        ({"pooling": "mean", "device": "cpu"}, "pooling, device: backend hf only"),
        ({"backend": "hf", "pooling": "max"}, "pooling"),
        ({"backend": "hf", "overlap": -1}, "overlap"),
        ({"backend": "hf", "batch_tokens": 0}, "batch_tokens"),
        ({"backend": "hf", "precision": "int8"}, "precision"),
    ],
)
def test_bad_options_are_config_errors(tmp_path, hf_models, embed, message):
    cfg = _config(tmp_path / "out", hf_models["dnabert"], [tmp_path / "r.fq"], **embed)
    with pytest.raises(ConfigError, match=message):
        parse_config(cfg)


def test_hf_needs_a_model(tmp_path):
    cfg = _config(tmp_path / "out", "x", [tmp_path / "r.fq"], backend="hf")
    del cfg["stages"][1]["embed"]["model"]
    with pytest.raises(ConfigError, match="backend hf needs `model`"):
        parse_config(cfg)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"max_length": 65}, "max_length 65: the model takes at most 64 tokens"),
        ({"max_length": 2}, "leaves no room"),
        ({"max_length": 10, "overlap": 8}, "overlap 8: must be below the 8 tokens of a window"),
        ({"device": "cuda:0"}, "device cuda:0: torch sees no CUDA GPU"),
        ({"device": "gpu"}, "not a torch device"),
    ],
)
def test_bad_embedder_options(tmp_path, hf_models, options, message):
    import torch

    if options.get("device", "").startswith("cuda") and torch.cuda.is_available():
        pytest.skip("this machine has a GPU: device cuda is valid here")
    with pytest.raises(ConfigError, match=message):
        HFEmbedder(str(hf_models["dnabert"]), **options)


def test_pairs_are_refused_before_the_run(tmp_path, hf_models):
    r1, r2 = write_random_pairs(tmp_path / "a_1.fq", tmp_path / "a_2.fq", 10)
    cfg = _config(tmp_path / "out", hf_models["dnabert"], [r1], mate_paths=[r2], backend="hf")
    with pytest.raises(ConfigError, match="backend hf takes single reads, not pairs"):
        run_pipeline(parse_config(cfg))
    assert not (tmp_path / "out" / "vectors").exists()


@pytest.mark.parametrize(
    "broken, message",
    [
        ("missing", "no such model directory"),
        ("config", "config.json is missing"),
        ("bad-config", "config.json: not a readable JSON file"),
        ("weights", "the model weights are missing"),
        ("tokenizer", "the tokenizer is missing"),
        ("truncated", "the model could not be loaded"),
    ],
)
def test_incomplete_model_dirs_are_clear_errors(tmp_path, hf_models, broken, message):
    fq = write_random_fastq(tmp_path / "r.fq", 5)
    bad = tmp_path / "model"
    if broken != "missing":
        shutil.copytree(hf_models["dnabert"], bad)
    if broken == "config":
        (bad / "config.json").unlink()
    elif broken == "bad-config":
        (bad / "config.json").write_text("{")
    elif broken == "weights":
        (bad / "model.safetensors").unlink()
    elif broken == "tokenizer":
        for name in ("vocab.txt", "tokenizer.json"):
            (bad / name).unlink()
    elif broken == "truncated":
        data = (bad / "model.safetensors").read_bytes()
        (bad / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=message) as err:
        _run(tmp_path / "out", bad, [fq], backend="hf")
    assert str(bad) in str(err.value)
    assert not glob.glob(str(tmp_path / "out" / "vectors" / "*.parquet"))


def test_import_does_not_load_torch():
    """The CLI and the driver stay fast: the stage module imports no torch."""
    import subprocess

    code = (
        "import sys, seqray.embed.embed_stage, seqray.cli.embed_cmd; "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("device, gpus", [("cuda", 1), ("cuda:0", 1), ("cpu", 0), ("auto", None)])
def test_gpu_workers_ask_for_a_gpu(tmp_path, hf_models, device, gpus):
    """device cuda: each worker (a Ray actor) asks for one GPU; auto: where the driver's
    torch sees one; cpu: none. A `resources` key replaces the hints."""
    import torch

    from seqray.pipeline.definition import Pipeline

    cfg = _config(tmp_path / "out", hf_models["dnabert"], [tmp_path / "r.fq"], backend="hf",
                  device=device)  # fmt: skip
    pipeline = Pipeline.from_config(parse_config(cfg))
    want = int(torch.cuda.is_available()) if gpus is None else gpus
    assert pipeline.resources().num_gpus == want
    cfg["stages"][1]["embed"]["resources"] = {"num_cpus": 2}
    assert Pipeline.from_config(parse_config(cfg)).resources().num_gpus == 0


def test_torch_threads_are_the_worker_cpus(tmp_path, hf_models):
    """The runner's threads for a worker reach torch when the stage is set up (CPU)."""
    import torch

    from seqray.pipeline.definition import Pipeline

    cfg = _config(tmp_path / "out", hf_models["dnabert"], [tmp_path / "r.fq"], backend="hf",
                  device="cpu")  # fmt: skip
    pipeline = Pipeline.from_config(parse_config(cfg))
    before = torch.get_num_threads()
    try:
        pipeline.setup(threads=1)
        assert pipeline.stages[0].threads == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_load_embedder_gives_the_hf_embedder(hf_models):
    """What `seqray serve` calls: the shared entry point, unset options as None."""
    from seqray.embed.embedder import load_embedder

    seqs = [b"ACGTACGTTGCA", b"", b"ACGTN" * 30]
    emb = load_embedder(str(hf_models["dnabert"]), "hf", pooling=None, batch_tokens=None,
                        precision=None, device=None, max_length=None, overlap=None)  # fmt: skip
    assert (emb.backend, emb.model, emb.dim) == ("hf", str(hf_models["dnabert"]), 32)
    want = HFEmbedder(str(hf_models["dnabert"])).embed(seqs)
    np.testing.assert_allclose(emb.embed(seqs), want, rtol=1e-5, atol=1e-6)
