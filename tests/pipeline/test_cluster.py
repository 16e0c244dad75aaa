"""Runs on a Ray cluster: a local output is refused on a cluster with other nodes unless
declared shared, inputs are checked on every node, and a real two-node cluster on this
machine runs the demo pipeline with the local runner's bytes."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pytest
import yaml

from seqray.errors import ConfigError, InputError
from seqray.pipeline.cluster import (
    Node,
    check_inputs_everywhere,
    check_output_shared,
    unreadable,
)
from seqray.pipeline.config import parse_config

from ..conftest import ROOT, _free_port, assert_user_error, seqray_cmd

# -- the checks themselves --------------------------------------------------------------

OTHER = [Node("f" * 56, "10.0.0.7")]


def test_a_local_output_is_refused_only_with_other_nodes_and_not_shared():
    with pytest.raises(ConfigError) as err:
        check_output_shared("/data/out", False, OTHER)
    msg = str(err.value)
    assert "/data/out" in msg and "run.shared_output: true" in msg and "--shared-output" in msg
    assert "S3" in msg and "every node" in msg
    check_output_shared("/data/out", True, OTHER)  # declared shared
    check_output_shared("s3://bucket/out", False, OTHER)  # S3 needs nothing
    check_output_shared("/data/out", False, [])  # only the driver's node


def test_unreadable_names_missing_files_and_other_sizes(tmp_path):
    a = tmp_path / "a.fq"
    a.write_bytes(b"@r\nACGT\n+\nIIII\n")
    d = tmp_path / "tok"
    d.mkdir()
    missing = tmp_path / "gone.fq"
    got = unreadable([(str(a), 15), (str(d), None), (str(a), 99), (str(missing), 5)])
    assert got == [
        f"{a}: 15 bytes there, 99 on the driver",
        f"{missing}: No such file or directory",
    ]


def test_shared_output_does_not_change_the_config_hash(tmp_path):
    def cfg(**run):
        data = {
            "output": str(tmp_path / "o"),
            "run": run,
            "stages": [{"read": {"paths": ["x.fq"]}}, {"write": {}}],
        }
        return parse_config(data)

    plain = cfg()
    assert plain.run.shared_output is False
    assert cfg(shared_output=True).output_hash() == plain.output_hash()
    assert cfg(chunk_bytes="1MiB").output_hash() != plain.output_hash()  # the hash does see


@pytest.mark.integration
def test_inputs_are_checked_on_the_nodes(ray_cluster, tmp_path):
    """The probe runs on the node it names (here the one local node) and its finding
    comes back as an InputError naming node and file."""
    node = ray_cluster.get_runtime_context().get_node_id()
    good = tmp_path / "a.fq"
    good.write_bytes(b"@r\nACGT\n+\nIIII\n")
    check_inputs_everywhere([(str(good), 15)], [Node(node, "127.0.0.1")], 120)
    with pytest.raises(InputError) as err:
        check_inputs_everywhere(
            [(str(good), 15), (str(tmp_path / "gone.fq"), None)],
            [Node(node, "127.0.0.1")],
            120,
        )
    msg = str(err.value)
    assert f"Ray node 127.0.0.1 ({node[:12]})" in msg and f"{tmp_path}/gone.fq" in msg
    assert str(good) + ":" not in msg and "every node" in msg


# -- a real two-node cluster on this machine --------------------------------------------

NODE_UMASK = {"head": 0o027, "worker": 0o077}  # files written by its tasks: 0o640, 0o600
DRIVER_UMASK = 0o022  # files the driver (the seqray command) writes: 0o644
START_TIMEOUT_S = 300  # both nodes up and registered, on a loaded 2-core machine
RUN_TIMEOUT_S = 600


def _mode(umask: int) -> int:
    return 0o666 & ~umask


def _sessions_pids(sids: set[int]) -> list[int]:
    """Live (not zombie) processes in the given sessions: everything a `ray start` we ran
    in a new session started, its workers included (they change their process group and
    title, not their session)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, _ppid, _pgrp, session = stat.rsplit(")", 1)[1].split()[:4]
        if int(session) in sids and state != "Z":
            out.append(int(entry))
    return out


@dataclass
class Cluster:
    address: str
    env: dict[str, str]
    base: Path
    nodes: dict[str, str] = field(default_factory=dict)  # name -> node id
    procs: list[subprocess.Popen] = field(default_factory=list)
    logs: list[BinaryIO] = field(default_factory=list)  # each node's `ray start` output

    def stop(self) -> list[int]:
        """Ends every process of the nodes this cluster started, and only those (not
        `ray stop`, which ends every Ray on the machine); returns any left behind."""
        sids = {p.pid for p in self.procs}  # start_new_session: the leader's pid is the sid
        for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 30.0)):
            for pid in _sessions_pids(sids):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while _sessions_pids(sids) and time.monotonic() < deadline:
                time.sleep(0.2)
            if not _sessions_pids(sids):
                break
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for log in self.logs:
            log.close()
        return _sessions_pids(sids)


def _ray_start(cluster: Cluster, name: str, args: list[str]) -> subprocess.Popen:
    resources = json.dumps({f"seqray_test_{name}": 1})
    cmd = [
        str(Path(sys.executable).with_name("ray")),
        "start",
        "--block",
        "--num-cpus=1",
        f"--resources={resources}",
        f"--temp-dir={cluster.base / name}",
        "--disable-usage-stats",
        f"--dashboard-agent-listen-port={_free_port()}",
        *args,
    ]
    cluster.logs.append(open(cluster.base / f"{name}.log", "wb"))  # noqa: SIM115
    proc = subprocess.Popen(
        cmd,
        env=cluster.env,
        stdout=cluster.logs[-1],
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own session: stopped as one, and only it
        umask=NODE_UMASK[name],  # inherited by its workers: marks the files they write
    )
    cluster.procs.append(proc)
    return proc


def _logs(base: Path) -> str:
    return "\n".join(
        f"--- {p.name}:\n{p.read_text(errors='replace')[-3000:]}" for p in base.glob("*.log")
    )


_WAIT_NODES = """
import json, sys, time, ray
ray.init(address=sys.argv[1], log_to_driver=False)
deadline = time.monotonic() + float(sys.argv[2])
while True:
    nodes = {r: n["NodeID"] for n in ray.nodes() if n["Alive"] for r in n["Resources"]
             if r.startswith("seqray_test_")}
    if len(nodes) == 2 or time.monotonic() > deadline:
        break
    time.sleep(0.5)
print(json.dumps(nodes))
"""


@pytest.fixture
def two_nodes():
    """A head node and a worker node (one CPU each, a custom resource each, their own
    temp dirs) on 127.0.0.1, with a token of their own; stopped, with every process they
    started, however the test ends."""
    # short: Ray's socket paths under the temp dir must fit in 107 bytes
    base = Path(tempfile.mkdtemp(prefix="seqray-ray-"))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p
    )  # workers import this checkout's seqray
    # recent Ray turns on token authentication for `ray start` clusters: this cluster gets
    # its own token, for its nodes and drivers alike (not the user's ~/.ray/auth_token)
    env["RAY_AUTH_MODE"] = "token"
    env["RAY_AUTH_TOKEN"] = secrets.token_hex(16)
    cluster = Cluster(f"127.0.0.1:{port}", env, base)
    try:
        head_args = [
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            "--include-dashboard=false",
            f"--dashboard-port={_free_port()}",
        ]
        head = _ray_start(cluster, "head", head_args)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if head.poll() is not None:
                pytest.fail(f"the head node did not start:\n{_logs(base)}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the head node did not open port {port}:\n{_logs(base)}")
                time.sleep(0.2)
        worker_args = [f"--address={cluster.address}", "--node-ip-address=127.0.0.1"]
        _ray_start(cluster, "worker", worker_args)
        left = max(deadline - time.monotonic(), 30)
        r = subprocess.run(
            [sys.executable, "-c", _WAIT_NODES, cluster.address, str(left)],
            env=env,
            capture_output=True,
            text=True,
            timeout=left + 120,
        )
        got = json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else {}
        cluster.nodes = {k.removeprefix("seqray_test_"): v for k, v in got.items()}
        if set(cluster.nodes) != {"head", "worker"} or len(set(cluster.nodes.values())) != 2:
            pytest.fail(f"two nodes did not come up: {got} {r.stderr[-2000:]}\n{_logs(base)}")
        yield cluster
    finally:
        left_behind = cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
        assert not left_behind, f"processes of the test cluster still running: {left_behind}"


def _demo_config(tmp_path: Path) -> Path:
    """examples/demo.yaml on plain copies of its inputs (gzip is one chunk per file; plain
    text splits at chunk_bytes), with small chunks so both nodes get work."""
    demo = yaml.safe_load((ROOT / "examples" / "demo.yaml").read_text())
    data = tmp_path / "data"
    data.mkdir()
    for st in demo["stages"]:
        if "read" in st:
            for key in ("paths", "mate_paths"):
                plain = []
                for p in st["read"][key]:
                    out = data / Path(p).name.removesuffix(".gz")
                    out.write_bytes(gzip.decompress((ROOT / p).read_bytes()))
                    plain.append(str(out))
                st["read"][key] = plain
        if "train_embeddings" in st:  # one trainer per node; the same layout locally
            st["train_embeddings"].update(workers=2, threads=1)
        if "qc" in st:  # reports under the output, so that -o moves them
            for key in ("json_report", "html_report"):
                st["qc"][key] = str(tmp_path / "out" / Path(st["qc"][key]).name)
    demo["output"] = str(tmp_path / "out")
    demo["run"]["chunk_bytes"] = "64KiB"
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(demo))
    return path


def _digests(out: Path) -> dict[str, str]:
    """sha256 of every output file but the manifest and the run's state."""
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "manifest.json" and "_seqray" not in p.relative_to(out).parts
    }


@pytest.mark.integration
@pytest.mark.skipif(sys.platform != "linux", reason="stops its nodes' processes through /proc")
def test_demo_on_a_two_node_cluster_equals_the_local_runner(tmp_path, two_nodes):
    config = _demo_config(tmp_path)

    def seqray(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*seqray_cmd(), "run", str(config), "--quiet", *args],
            env=two_nodes.env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            umask=DRIVER_UMASK,
        )

    # a local output on a cluster with another node: refused before anything is written
    refused = tmp_path / "refused"
    r = seqray("--address", two_nodes.address, "-o", str(refused))
    assert r.returncode == 1, r.stdout + r.stderr
    assert_user_error(r.stderr, f"output {refused}", "run.shared_output: true", "--shared-output")
    assert not refused.exists()

    on_cluster = tmp_path / "cluster"
    r = seqray("--address", two_nodes.address, "--shared-output", "-o", str(on_cluster))
    assert r.returncode == 0, r.stdout + r.stderr
    local = tmp_path / "local"
    r = seqray("--runner", "local", "-o", str(local))
    assert r.returncode == 0, r.stdout + r.stderr

    manifest = json.loads((on_cluster / "manifest.json").read_text())
    assert manifest["config"]["run"]["shared_output"] is True
    assert len(manifest["chunks"]) >= 8  # enough chunks to spread
    got, want = _digests(on_cluster), _digests(local)
    assert got == want
    assert {"reads_R1.fastq.gz", "reads_R2.fastq.gz", "qc.json", "qc.html"} <= set(got)
    assert sum(k.startswith("tokens/part-") for k in got) == len(manifest["chunks"])

    # who wrote each chunk's token shard: a task on the head node, one on the worker node
    # (each node's umask marks its files), never the driver
    modes = {p.stat().st_mode & 0o777 for p in (on_cluster / "tokens").glob("part-*")}
    assert modes == {_mode(NODE_UMASK["head"]), _mode(NODE_UMASK["worker"])}, sorted(
        map(oct, modes)
    )
