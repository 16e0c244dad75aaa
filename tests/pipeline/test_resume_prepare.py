"""Resume of runs whose stages need a first pass over all the data (duplicate marks, the
trusted k-mers of correction, BPE training) and of k-mer counting (spill files per chunk):
killed with SIGKILL after the first pass and again after some chunks of the main pass, on
both runners, local and S3. The resumed output equals a clean run byte for byte, and the
first pass is provably reused: the manifest says so and counts no chunk scanned again.

The local runner resumes every stage to both stores. Each Ray case starts a Ray cluster
in each of its processes (~30 s a case), so Ray resumes one stage per way a first pass or
a partial result reaches the workers: duplicate marks as files, read from S3 (`qc-dedup`;
`dedup` reads the same marks), the trusted k-mers the runner hands out (`correct`), and a
sink's per-chunk spill shards (`count`). The BPE model travels inside the stage object, as
on every Ray run (tests/pipeline/test_goldens.py runs the trained bpe tokenizer on Ray)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline

from ..conftest import seqray_cmd, write_random_pairs

STAGES = {
    "dedup": ({"dedup": {"dup_count": True}}, "dedup"),
    "qc-dedup": ({"qc": {"dedup": True, "length_required": 5}}, "dedup"),
    "correct": ({"correct": {"k": 15}}, "correct"),
    "bpe": ({"tokenize": {"scheme": "bpe", "vocab_size": 120, "sample_reads": 500}}, "bpe"),
    "count": ({"count": {"k": 13}}, None),  # a sink: its spills are per-chunk shards
}
CHUNK = 40_000
RAY_LOCAL = ["correct", "count"]  # resumed on Ray to a local output
RAY_S3 = ["qc-dedup"]  # and to S3


@pytest.fixture(scope="module")
def reads(tmp_path_factory):
    d = tmp_path_factory.mktemp("reads")
    return write_random_pairs(d / "r_1.fq", d / "r_2.fq", 6000, seed=11, dup_every=3)


@pytest.fixture(scope="module")
def clean(reads, tmp_path_factory):
    """Each stage's clean run (local runner, local output), made once: every resumed run
    of that stage, on either runner and to either store, must write exactly these files."""
    made: dict[str, dict[str, bytes]] = {}

    def files(name: str) -> dict[str, bytes]:
        if name not in made:
            out = tmp_path_factory.mktemp(f"clean-{name}")
            run_pipeline(parse_config(_config(str(out), reads, STAGES[name][0], "local")))
            made[name] = _local_files(out)
            assert made[name]
        return made[name]

    return files


def _config(out: str, reads, stage: dict, runner: str) -> dict:
    last = [] if "count" in stage else [{"write": {"format": "parquet"}}]
    return {
        "output": out,
        # one CPU: on a machine with many, Ray ran all ten chunks in the moment between the
        # first pass's end and the kill, leaving nothing to resume
        "run": {"runner": runner, "chunk_bytes": CHUNK, "block_bases": 20_000, "num_cpus": 1},
        "stages": [
            {"read": {"paths": [str(reads[0])], "mate_paths": [str(reads[1])]}},
            stage,
            *last,
        ],
    }


def _local_files(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "manifest.json" and "_seqray" not in p.parts
    }


class Store:
    """Where the run writes: a local directory or an S3 prefix (moto)."""

    def __init__(self, tmp: Path, s3=None):
        self.tmp, self.s3 = tmp, s3

    def output(self, name: str) -> str:
        if self.s3:
            return f"s3://{self.s3[1]}/{name}"
        return str(self.tmp / name)

    def keys(self, out: str, under: str = "") -> list[str]:
        """Keys of the output's files (those under `under` only: the kill points poll this
        while the run works, and a listing of every spill file on moto costs seconds)."""
        if not self.s3:
            # os.walk skips a directory the running pipeline removes while it is listed
            # (rglob raises): the tests poll a live output
            return [
                os.path.relpath(os.path.join(d, f), out)
                for d, _, names in os.walk(os.path.join(out, under))
                for f in names
            ]
        client, bucket, _ = self.s3
        prefix = out.split("/", 3)[3] + "/"
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix + under
        )
        return [o["Key"][len(prefix) :] for p in pages for o in p.get("Contents", [])]

    def exists(self, out: str, key: str) -> bool:
        if not self.s3:
            return (Path(out) / key).is_file()
        return key in self.keys(out, key)

    def files(self, out: str) -> dict[str, bytes]:
        if not self.s3:
            return _local_files(Path(out))
        client, bucket, _ = self.s3
        prefix = out.split("/", 3)[3] + "/"
        keys = [
            k
            for k in sorted(self.keys(out))
            # as a local output lists its files: no S3 directory markers ('', 'counts/')
            if k and not k.endswith("/") and k != "manifest.json" and not k.startswith("_seqray/")
        ]
        return {k: client.get_object(Bucket=bucket, Key=prefix + k)["Body"].read() for k in keys}


def _kill_when(cmd: list[str], env: dict, ready: Callable[[], bool], timeout: float = 240):
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t0 = time.time()
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before the kill point: {proc.stderr.read()}")
        if time.time() - t0 > timeout:
            proc.kill()
            raise AssertionError("kill point not reached")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _resume_case(tmp_path, store: Store, reads, expected, name: str, runner: str, env: dict):
    stage, state = STAGES[name]
    out = store.output("cut")
    cfg = tmp_path / "cut.yaml"
    cfg.write_text(yaml.safe_dump(_config(out, reads, stage, runner)))
    cmd = [*seqray_cmd(), "run", str(cfg)]

    def journaled() -> int:  # finished chunks (not the journal's own temporaries)
        journal = store.keys(out, "_seqray/journal/")
        return sum(k.endswith(".json") and "/." not in k for k in journal)

    if state is not None:  # killed right after the first pass
        prepared = f"_seqray/{state}/0/prepared.json"
        _kill_when(cmd, env, lambda: store.exists(out, prepared))
        assert journaled() < 10
    before = journaled()
    _kill_when([*cmd, "--resume"], env, lambda: journaled() >= before + 3)  # after chunks
    assert not store.exists(out, "manifest.json")

    # the last resume runs to the end (a new process: Ray workers get the S3 settings)
    done = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert store.files(out) == expected
    manifest = json.loads(_read(store, out, "manifest.json"))
    assert 3 <= manifest["resumed_chunks"] < len(manifest["chunks"])
    if state is not None:
        [prep] = manifest["prepare"]
        assert prep["reused"] is True and prep["chunks_scanned"] == 0, prep
        assert "first pass reused from the interrupted run" in done.stderr


def _read(store: Store, out: str, key: str) -> bytes:
    if not store.s3:
        return (Path(out) / key).read_bytes()
    client, bucket, _ = store.s3
    return client.get_object(Bucket=bucket, Key=out.split("/", 3)[3] + "/" + key)["Body"].read()


@pytest.mark.integration
@pytest.mark.parametrize(
    "name, runner", [(n, "local") for n in STAGES] + [(n, "ray") for n in RAY_LOCAL]
)
def test_resume_local_output(tmp_path, reads, clean, run_env, name, runner):
    _resume_case(tmp_path, Store(tmp_path), reads, clean(name), name, runner, run_env)


@pytest.mark.integration
@pytest.mark.parametrize(
    "name, runner", [(n, "local") for n in STAGES] + [(n, "ray") for n in RAY_S3]
)
def test_resume_s3_output(tmp_path, reads, clean, run_env, s3_env, name, runner):
    """A run killed and resumed on S3 writes the bytes of a clean local run."""
    env = {**run_env, **s3_env[2]}
    _resume_case(tmp_path, Store(tmp_path, s3_env), reads, clean(name), name, runner, env)


def test_fresh_runs_never_reuse_a_first_pass(tmp_path, reads):
    out = tmp_path / "o"
    cfg = parse_config(_config(str(out), reads, STAGES["qc-dedup"][0], "local"))
    r = run_pipeline(cfg)
    assert not r.prepare[0]["reused"] and r.prepare[0]["chunks_scanned"] == r.chunks
    r = run_pipeline(cfg, overwrite=True)  # replaced, not resumed: scanned again
    assert not r.prepare[0]["reused"] and r.prepare[0]["chunks_scanned"] == r.chunks


@pytest.mark.parametrize("name", list(STAGES))
def test_a_finished_run_keeps_only_its_marker_as_state(tmp_path, reads, name):
    """First-pass results and spills go once the manifest commits; the marker and the
    journal stay, so the run is still verified by --resume and replaced by --overwrite."""
    out = tmp_path / "o"
    cfg = parse_config(_config(str(out), reads, STAGES[name][0], "local"))
    run_pipeline(cfg)
    files = _local_files(out)
    state = {p.relative_to(out / "_seqray").parts[0] for p in (out / "_seqray").rglob("*")}
    assert state == {"run.json", "journal"}
    assert run_pipeline(cfg, resume=True).verified
    run_pipeline(cfg, overwrite=True)
    assert _local_files(out) == files
