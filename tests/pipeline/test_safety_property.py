"""Random sequences of commands (run, resume, overwrite, kill, a stray file dropped into
the output) against a directory that also holds the inputs and unrelated files: after
every step no file seqray did not write has changed or gone."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqray.cli.main import main

from ..conftest import seqray_cmd, write_random_fastq

ACTIONS = ["run", "resume", "overwrite", "kill", "drop", "qc"]


def _sums(paths: list[Path]) -> dict[str, str | None]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else None for p in paths
    }


@pytest.mark.integration
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(st.sampled_from(ACTIONS), min_size=2, max_size=6), data=st.data())
def test_no_foreign_file_is_ever_changed(tmp_path_factory, run_env, steps, data):
    root = tmp_path_factory.mktemp("user")
    reads = write_random_fastq(root / "reads.fq", 6000, seed=9)
    notes = root / "notes.txt"
    notes.write_text("the user's notes\n")
    out = root / "out"
    report = root / "qc.json"
    cfg = root / "pipeline.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "output": str(out),
                "run": {"runner": "local", "chunk_bytes": 60_000},
                "stages": [
                    {"read": {"paths": [str(reads)]}},
                    {"qc": {"dedup": True, "json_report": str(out / "qc.json")}},
                    {"write": {"format": "fastq"}},
                    {"count": {"k": 15}},
                ],
            }
        )
    )
    foreign = [reads, notes, cfg]
    for step in steps:
        before = _sums(foreign)
        if step == "drop":
            if out.exists():
                stray = out / f"stray-{len(foreign)}.txt"
                stray.write_text("dropped here by the user\n")
                foreign.append(stray)
            continue
        if step == "kill":
            proc = subprocess.Popen(
                [*seqray_cmd(), "run", str(cfg), "--overwrite"],
                env=run_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(data.draw(st.floats(0.5, 4.0), label="kill after s"))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        elif step == "qc":
            code = main(["qc", "-i", str(reads), "--outdir", str(out), "-j", str(report)])
            assert code in (0, 1)
            if code == 0:
                assert json.loads(report.read_text())["summary"]
        else:
            flag = {"run": [], "resume": ["--resume"], "overwrite": ["--overwrite"]}[step]
            code = main(["run", str(cfg), *flag])
            assert code in (0, 1)
            strays = [f for f in foreign if f.parent == out]
            if code == 0:
                if step != "resume":  # a resume adds to its own run, beside any stray
                    assert not strays, "a run went ahead over files it did not write"
                m = json.loads((out / "manifest.json").read_text())
                assert m["complete"]
        assert _sums(foreign) == before, f"step {step!r} changed a file seqray did not write"
