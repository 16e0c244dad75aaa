"""The `hpc` pipeline stage: a run's shards handed to a solver or a command on the local
executor and on a real Slurm (the `slurm` fixture), results equal to the solver run on
the finished output, everything recorded in the manifest, and a run killed while its job
runs resuming by re-attaching to the same job."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import yaml

from seqray.errors import ConfigError
from seqray.hpc import JobFailedError
from seqray.io.fs import filesystem_for
from seqray.pipeline import manifest as manifest_mod
from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline
from seqray.solvers import _common, knn

from ..conftest import killed_before_manifest
from ..peers import require_tool

pytestmark = pytest.mark.integration

TRAIN = {"k": 9, "hash_bits": 12, "dim": 8, "epochs": 2, "min_count": 1, "threads": 2}


def _reads(path: Path, genomes: int = 3, per: int = 60, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    with path.open("w") as f:
        for g in range(genomes):
            genome = rng.choice(list("ACGT"), 3000)
            for i in range(per):
                s = int(rng.integers(0, 2800))
                seq = "".join(genome[s : s + 100])
                f.write(f"@g{g}_{i}\n{seq}\n+\n{'I' * 100}\n")


def _config(tmp: Path, out: Path, hpc: dict, runner: str = "local") -> dict:
    reads = tmp / "reads.fq"
    if not reads.exists():
        _reads(reads)
    return {
        "output": str(out),
        "run": {"chunk_bytes": 8000, "runner": runner},
        "stages": [
            {"read": {"paths": [str(reads)]}},
            {"train_embeddings": TRAIN},
            {"embed": {}},
            {"write": {"format": "parquet", "path": "vectors"}},
            {"hpc": hpc},
        ],
    }


def _run(tmp: Path, out: Path, hpc: dict, runner: str = "local", **kw):
    return run_pipeline(parse_config(_config(tmp, out, hpc, runner)), **kw)


def read_text(uri: str) -> str:
    return read_bytes_buffer(uri).to_pybytes().decode()


def read_bytes_buffer(uri: str) -> pa.Buffer:
    fs, path = filesystem_for(uri)
    with fs.open_input_stream(path) as f:
        return f.read_buffer()


def _direct_knn(out: Path, tmp: Path, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k-NN solver run in this process on the finished run's output (the truth)."""
    direct = tmp / "direct"
    args = argparse.Namespace(embeddings=str(out), output=str(direct), neighbors=k)
    knn.solve(_common.SelfComm(), args)
    return _knn_table(direct)


def _knn_table(result: Path) -> tuple[np.ndarray, np.ndarray]:
    t = ds.dataset(result / "neighbors").to_table().sort_by("row")
    idx = np.stack(t.column("neighbors").to_numpy(zero_copy_only=False))
    dist = np.stack(t.column("distances").to_numpy(zero_copy_only=False))
    return idx, dist


def _check_recorded(out: Path, solver: bool = True) -> dict:
    """Every file under OUT/hpc is in the run's manifest with its size and sha256, and
    a solver's own manifest loads from its final place."""
    m = json.loads((out / "manifest.json").read_text())
    listed = {f["uri"]: f for f in m["files"]}
    on_disk = [p for p in (out / "hpc").rglob("*") if p.is_file()]
    assert on_disk
    for p in on_disk:
        entry = listed[str(p)]
        assert manifest_mod.file_ok(entry), p
    if solver:
        manifest_mod.load(str(out / "hpc" / "result"))
    return m


@pytest.mark.parametrize("runner", ["local", "ray"])
def test_solver_job_equals_the_solver_on_the_finished_run(tmp_path, runner, request):
    if runner == "ray":
        request.getfixturevalue("ray_cluster")
    out = tmp_path / "out dir $x 'q'"  # quoting: the job's paths hold all of these
    res = _run(tmp_path, out, {"solver": "knn", "neighbors": 4, "ranks": 2}, runner)
    idx, dist = _knn_table(out / "hpc" / "result")
    want_idx, want_dist = _direct_knn(out, tmp_path, 4)
    assert np.array_equal(idx, want_idx)
    np.testing.assert_allclose(dist, want_dist, rtol=1e-6)
    m = _check_recorded(out)
    report = m["reports"]["hpc"]
    assert report == res.reports["hpc"]
    (job,) = report["jobs"]
    assert job["state"] == "COMPLETED" and job["exit_code"] == 0 and job["attempts"] == 1
    assert report["executor"] == "local" and report["ranks"] == 2
    assert report["solver"]["rows"] == 180 and report["attached"] == 0
    assert Path(job["stdout"]).parent == out / "hpc" / "logs"
    # the staged input names the write stage's shards, and is what the job read
    staged = json.loads((out / "hpc" / "input" / "manifest.json").read_text())
    written = [s["uri"] for s in m["shards"] if s["stage"] == "write"]
    assert [s["uri"] for s in staged["shards"]] == written
    assert not list((out / "_seqray" / "hpc" / "4").glob("work-*/result"))  # moved


def test_solver_job_on_slurm(slurm, tmp_path):
    out = tmp_path / "out"
    hpc = {"solver": "knn", "neighbors": 5, "ranks": 2, "executor": "slurm"}
    _run(tmp_path, out, hpc)
    idx, _ = _knn_table(out / "hpc" / "result")
    want_idx, _ = _direct_knn(out, tmp_path, 5)
    assert np.array_equal(idx, want_idx)
    report = _check_recorded(out)["reports"]["hpc"]
    (job,) = report["jobs"]
    assert job["job_id"].isdigit() and job["state"] == "COMPLETED"
    assert report["launcher"] == "srun"


@pytest.mark.parametrize("kind", ["local", "slurm"])
def test_command_array_over_shards(kind, request, tmp_path):
    """A user command per shard ({shard_uri}, {index}, {out}): one array task each."""
    if kind == "slurm":
        request.getfixturevalue("slurm")
    out = tmp_path / "o u t"
    count = (
        "import sys, pyarrow.parquet as pq; "
        "open(sys.argv[2], 'w').write(str(pq.read_metadata(sys.argv[1]).num_rows))"
    )
    hpc = {
        "command": [sys.executable, "-c", count, "{shard_uri}", "{out}/rows-{index}.txt"],
        "per_shard": True,
        "executor": kind,
    }
    _run(tmp_path, out, hpc)
    m = _check_recorded(out, solver=False)
    shards = [s for s in m["shards"] if s["stage"] == "write"]
    assert len(shards) > 1
    got = [int((out / "hpc" / "result" / f"rows-{i}.txt").read_text()) for i in range(len(shards))]
    assert got == [s["rows"] for s in shards]
    assert len(m["reports"]["hpc"]["jobs"]) == len(shards)


def test_a_failing_job_fails_the_run(tmp_path):
    out = tmp_path / "out"
    hpc = {"command": ["bash", "-c", "echo solver exploded >&2; exit 3"]}
    with pytest.raises(JobFailedError) as err:
        _run(tmp_path, out, hpc)
    text = str(err.value)
    assert "exit code 3" in text and "solver exploded" in text and "local-" in text
    assert not (out / "manifest.json").exists()  # not presented as complete
    # a resumed run submits again (the failed job is not attached to)
    with pytest.raises(JobFailedError):
        _run(tmp_path, out, hpc, resume=True)


def _seqray(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "seqray"), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def _wait_for(path: Path, proc: subprocess.Popen | None = None, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} early:\n{proc.stdout.read()}")
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.1)


@pytest.mark.parametrize("kind", ["local", "slurm"])
def test_killed_run_reattaches_to_its_job(kind, request, tmp_path):
    """SIGKILL while the job runs; --resume waits for the same job (it starts once)."""
    if kind == "slurm":
        request.getfixturevalue("slurm")
    starts, go = tmp_path / "starts", tmp_path / "go"
    script = 'echo started >> "$1"; while [ ! -e "$2" ]; do sleep 0.1; done; echo done > "$3"'
    hpc = {
        "command": ["bash", "-c", script, "job", str(starts), str(go), "{out}/done.txt"],
        "executor": kind,
    }
    out = tmp_path / "out"
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(_config(tmp_path, out, hpc)))
    first = _seqray("run", str(config))
    jobs = out / "_seqray" / "hpc" / "4" / "jobs.json"
    _wait_for(jobs, first)
    _wait_for(starts, first)
    first.send_signal(signal.SIGKILL)
    first.wait()
    submitted = json.loads(jobs.read_text())["job_ids"]
    second = _seqray("run", str(config), "--resume")
    time.sleep(1.0)
    go.touch()
    text, _ = second.communicate(timeout=180)
    assert second.returncode == 0, text
    assert starts.read_text() == "started\n"  # one job, never submitted again
    report = json.loads((out / "manifest.json").read_text())["reports"]["hpc"]
    assert [j["job_id"] for j in report["jobs"]] == submitted
    assert report["attached"] == 1
    assert (out / "hpc" / "result" / "done.txt").read_text() == "done\n"
    _check_recorded(out, solver=False)


@pytest.mark.parametrize(
    ("hpc", "message"),
    [
        ({"solver": "knn", "command": "x"}, "either solver"),
        ({}, "either solver"),
        ({"solver": "pca", "clusters": 3}, "takes components"),
        ({"command": "x", "ranks": 2}, "ranks and launcher are for a solver"),
        ({"solver": "knn", "launcher": "srun"}, "launcher srun needs executor: slurm"),
        ({"solver": "knn", "per_shard": True}, "per_shard is for a command"),
        ({"solver": "knn", "input": "nothing"}, "no write stage before it with path"),
        ({"solver": "knn", "path": ".."}, "give a directory name under the output"),
        ({"solver": "knn", "path": "_seqray"}, "give a directory name under the output"),
        ({"command": "tool {inptu}"}, "placeholder.*inptu"),
        ({"command": "tool {shard_uri}"}, "need per_shard"),
        ({"command": "tool 'unclosed"}, "No closing quotation"),
    ],
)
def test_config_errors(tmp_path, hpc, message):
    with pytest.raises(ConfigError, match=message):
        _run(tmp_path, tmp_path / "out", hpc)
    assert not (tmp_path / "out").exists()


def test_a_solver_needs_vectors(tmp_path):
    cfg = _config(tmp_path, tmp_path / "out", {"solver": "pca"})
    cfg["stages"] = [cfg["stages"][0], {"write": {"format": "fastq"}}, {"hpc": {"solver": "pca"}}]
    with pytest.raises(ConfigError, match="reads vectors"):
        run_pipeline(parse_config(cfg))


def test_foreign_files_in_the_stage_directory_are_refused(tmp_path):
    out = tmp_path / "out"
    (out / "hpc").mkdir(parents=True)
    (out / "hpc" / "mine.txt").write_text("the user's")
    with pytest.raises(Exception, match="mine.txt|not empty|foreign|holds"):
        _run(tmp_path, out, {"solver": "pca"})
    assert (out / "hpc" / "mine.txt").read_text() == "the user's"


def test_solve_on_slurm_from_the_cli(slurm, tmp_path):
    """`seqray solve knn RUN -o OUT --executor slurm --ranks 2`: the same graph."""
    require_tool("srun")
    out = tmp_path / "out"
    _run(tmp_path, out, {"solver": "pca"})
    res = tmp_path / "res"
    proc = _seqray("solve", "knn", str(out), "-o", str(res), "--neighbors", "4", "--ranks", "2")
    text, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, text  # the local launch, for comparison
    slurm_res = tmp_path / "slurm res"
    proc = _seqray(
        "solve", "knn", str(out), "-o", str(slurm_res), "--neighbors", "4", "--ranks", "2",
        "--executor", "slurm",
    )  # fmt: skip
    text, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, text
    assert "submitted Slurm job" in text
    a, _ = _knn_table(res)
    b, _ = _knn_table(slurm_res)
    assert np.array_equal(a, b)
    assert (slurm_res / _common.JOB_DIR).is_dir()
    manifest_mod.load(str(slurm_res))


def test_s3_output_works_in_scratch(tmp_path, s3_env):
    """Output on S3: the shards are copied into a new directory under `scratch`, the job
    works there, and its directories go up to OUT/hpc/ on S3; nothing is left in scratch."""
    _, bucket, _ = s3_env
    out = f"s3://{bucket}/run"
    scratch = tmp_path / "scratch"
    cfg = _config(tmp_path, tmp_path / "unused", {"solver": "knn", "neighbors": 4})
    cfg["output"] = out
    cfg["stages"][-1]["hpc"]["scratch"] = str(scratch)
    run_pipeline(parse_config(cfg))
    m = json.loads(read_text(f"{out}/manifest.json"))
    uris = [f["uri"] for f in m["files"] if "/hpc/" in f["uri"]]
    assert f"{out}/hpc/result/manifest.json" in uris
    for f in m["files"]:
        assert manifest_mod.file_ok(f), f["uri"]
    staged = json.loads(read_text(f"{out}/hpc/input/manifest.json"))
    # the staged copies lay in scratch while the job ran; now named where they went
    assert all(s["uri"].startswith(f"{out}/hpc/input/") for s in staged["shards"])
    assert list(scratch.iterdir()) == []
    result = json.loads(read_text(f"{out}/hpc/result/manifest.json"))
    assert result["inputs"][0]["uri"] == f"{out}/hpc/input/manifest.json"
    # the graph equals the solver on the finished run, read from S3
    direct = tmp_path / "direct"
    knn.solve(
        _common.SelfComm(),
        argparse.Namespace(embeddings=out, output=str(direct), neighbors=4),
    )
    shards = [s["uri"] for s in result["shards"]]
    got = pa.concat_tables([pq.read_table(read_bytes_buffer(u)) for u in shards]).sort_by("row")
    want = ds.dataset(direct / "neighbors").to_table().sort_by("row")
    assert got.column("neighbors").to_pylist() == want.column("neighbors").to_pylist()


def test_s3_output_needs_scratch(tmp_path, s3_env):
    _, bucket, _ = s3_env
    cfg = _config(tmp_path, tmp_path / "unused", {"solver": "pca"})
    cfg["output"] = f"s3://{bucket}/run"
    with pytest.raises(ConfigError, match="set scratch"):
        run_pipeline(parse_config(cfg))


def test_overwrite_replaces_a_finished_run(tmp_path):
    out = tmp_path / "out"
    hpc = {"command": ["bash", "-c", "echo $RANDOM > r.txt"]}
    _run(tmp_path, out, hpc)
    _run(tmp_path, out, hpc, overwrite=True)  # every file under hpc/ was the run's own
    _check_recorded(out, solver=False)
    assert len(list((out / "hpc" / "logs").glob("*.out"))) == 1  # the old logs went


def test_a_retried_solver_starts_from_an_empty_result(tmp_path):
    """Attempt 1 leaves a file in result/ and exits 75 (retried); attempt 2 runs the
    solver, which writes only into an empty directory."""
    import shlex

    mark = shlex.quote(str(tmp_path / "attempted"))
    state = shlex.quote(str(tmp_path / "out" / "_seqray" / "hpc" / "4"))
    preamble = (
        f"if [ ! -e {mark} ]; then touch {mark}; "
        f'for d in {state}/work-*/result; do echo partial > "$d/junk"; done; exit 75; fi\n'
    )
    hpc = {
        "solver": "pca",
        "preamble": preamble,
        "max_attempts": 2,
        "retry_exit_codes": [75],
    }
    res = _run(tmp_path, tmp_path / "out", hpc)
    (job,) = res.reports["hpc"]["jobs"]
    assert job["attempts"] == 2 and job["state"] == "COMPLETED"
    assert (tmp_path / "attempted").exists()
    assert not (tmp_path / "out" / "hpc" / "result" / "junk").exists()
    manifest_mod.load(str(tmp_path / "out" / "hpc" / "result"))


def test_a_result_changed_before_the_manifest_is_refused_on_resume(tmp_path):
    """A run killed after the job's directories moved (no manifest yet) takes the job's
    recorded result on --resume, unless a file of it changed since."""
    out = tmp_path / "out"
    hpc = {"command": ["bash", "-c", "echo 1 > r.txt"]}
    for edit in (False, True):
        with killed_before_manifest():
            _run(tmp_path, out, hpc, overwrite=True)
        first = json.loads(next((out / "_seqray" / "hpc").glob("*/done.json")).read_text())
        if edit:
            (out / "hpc" / "result" / "r.txt").write_text("edited\n")
            with pytest.raises(Exception, match="r.txt: changed or removed since the hpc job"):
                _run(tmp_path, out, hpc, resume=True)
        else:
            again = _run(tmp_path, out, hpc, resume=True)
            assert again.reports["hpc"]["jobs"] == first["report"]["jobs"]


def test_solve_refuses_slurm_options_without_slurm(tmp_path):
    proc = _seqray("solve", "pca", str(tmp_path), "-o", str(tmp_path / "o"), "--time", "1:00")
    text, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "--time: only with --executor slurm" in text
