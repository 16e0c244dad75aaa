"""Progress bars: drawn on a terminal for every long command, never with --quiet or off a
terminal (rich honours TTY_COMPATIBLE=1 as a terminal)."""

from __future__ import annotations

import subprocess

import pytest

from ..conftest import seqray_cmd, write_random_fastq


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    d = tmp_path_factory.mktemp("p")
    return write_random_fastq(d / "big.fq", 40_000, seed=2)  # ~12 MB


def _run(args, env, tty: bool) -> str:
    env = {**env, "TTY_COMPATIBLE": "1" if tty else "0", "COLUMNS": "120"}
    r = subprocess.run([*seqray_cmd(), *args], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stderr


@pytest.mark.integration
@pytest.mark.parametrize(
    "cmd, phase",
    [
        (["count", "-k", "15", "{big}", "-o", "{out}", "--runner", "local"], "reading"),
        (
            ["qc", "-i", "{big}", "--outdir", "{out}", "--dedup", "--runner", "local"],
            "reading",  # one chunk: duplicates are marked while it is read, no first pass
        ),
        (
            ["correct", "-k", "15", "{big}", "-o", "{out}", "--runner", "local"],
            "correct: first pass",
        ),
        (["tokenize", "{big}", "-o", "{out}", "--runner", "local"], "reading"),
        (["convert", "{big}", "{out}.parquet"], "reading"),
        (["inspect", "{big}"], "big.fq"),
    ],
    ids=["count", "qc", "correct", "tokenize", "convert", "inspect"],
)
def test_long_commands_show_progress_on_a_terminal_only(tmp_path, big, run_env, cmd, phase):
    args = [a.format(big=big, out=tmp_path / "o1") for a in cmd]
    shown = _run(args, run_env, tty=True)
    assert phase in shown and " MB" in shown, shown[-2000:]
    args = [a.format(big=big, out=tmp_path / "o2") for a in cmd]
    assert phase not in _run([*args, "--quiet"], run_env, tty=True)
    args = [a.format(big=big, out=tmp_path / "o3") for a in cmd]
    assert phase not in _run(args, run_env, tty=False)
