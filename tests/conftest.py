"""Shared fixtures: example data, a session-scoped local Ray cluster, a moto S3 server; the
`peers` mark (see tests/peers.py: missing peers skip, or fail under SEQRAY_REQUIRE_PEERS=1)."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from .peers import ENV, peers_required, require_tool
from .randreads import random_fastq, random_pairs

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "data"


def pytest_runtest_setup(item: pytest.Item) -> None:
    """`@pytest.mark.peers("fastp", ...)`: every tool named must be on PATH."""
    for mark in item.iter_markers("peers"):
        for tool in mark.args:
            require_tool(tool)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    """Under SEQRAY_REQUIRE_PEERS=1 no test may be skipped, however it skips (a skipif
    written later, a skip inside a helper): the skip is reported as a failure with its
    reason. Expected failures (xfail) stay what they are."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and peers_required():
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, but {ENV}=1 requires every test to run: {reason}"


@pytest.fixture(scope="session")
def examples() -> Path:
    return EXAMPLES


def write_random_fastq(path: Path, n: int, seed: int = 1, max_len: int = 300) -> Path:
    """`n` random single-end reads (tests/randreads.py: the same bytes for a seed, always)."""
    Path(path).write_bytes(random_fastq(n, seed, max_len))
    return path


def write_random_pairs(r1: Path, r2: Path, n: int, seed: int = 1, dup_every: int = 0):
    """Mates of different lengths (R2 up to 3× R1), so their byte offsets drift apart;
    with `dup_every`, every such pair repeats an earlier pair's sequences."""
    text1, text2 = random_pairs(n, seed, dup_every)
    Path(r1).write_bytes(text1)
    Path(r2).write_bytes(text2)
    return r1, r2


@pytest.fixture(scope="session")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """moto's standalone S3 server on 127.0.0.1; yields the endpoint URL."""
    port = _free_port()
    # the moto of this environment (another on PATH may be older)
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("moto server did not start")
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    import boto3

    env = {
        "SEQRAY_S3_ENDPOINT_URL": s3_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = f"b{random.randrange(10**9)}"
    client.create_bucket(Bucket=bucket)
    return client, bucket, env


def flat(text: str) -> str:
    """CLI output as one line: rich's panel borders and line wrapping removed, so a test can
    look for a whole message whatever the terminal width."""
    return " ".join(text.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())


def assert_user_error(text: str, *needles: str) -> None:
    """A message for bad input or a bad option: not a crash, and naming what is wrong."""
    line = flat(text)
    assert "internal error" not in line.lower() and "traceback" not in line.lower(), line
    for needle in needles:
        assert needle in line, (needle, line)


def seqray_cmd() -> list[str]:
    return [sys.executable, "-m", "seqray.cli.main"]


@pytest.fixture
def run_env():
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    return env


@contextmanager
def killed_before_manifest():
    """The in-process run inside ends right before it writes its manifest, as a run killed
    there (its state stays for --resume; a finished run drops the bulk of it)."""
    import seqray.pipeline.finishing as finishing

    real = finishing.write_manifest

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    finishing.write_manifest = stop
    try:
        with pytest.raises(KeyboardInterrupt):
            yield
    finally:
        finishing.write_manifest = real
