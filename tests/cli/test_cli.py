"""The command line: exit codes with their messages, conversions, help for every command,
--version, Ctrl-C."""

from __future__ import annotations

import gzip
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.main import get_command

from seqray.cli.main import app, main

from ..conftest import assert_user_error, flat, seqray_cmd, write_random_fastq
from ..peers import require_module, require_tool


def command_paths() -> list[list[str]]:
    """Every command and sub-command, walked from the typer app's click tree: a command
    added later is covered without editing this test."""
    paths: list[list[str]] = []

    def walk(cmd, path: list[str]) -> None:
        paths.append(path)
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(get_command(app), [])
    return paths


COMMANDS = command_paths()


def test_command_tree_is_walked():
    names = {" ".join(p) for p in COMMANDS}
    known = {"inspect", "convert", "correct", "run", "qc", "tokenize", "tokenizer export"}
    assert known | {"count", "count run", "count query"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "seqray")
def test_help_on_every_command(path, capsys):
    assert main([*path, "--help"]) == 0
    out = flat(capsys.readouterr().out)
    assert out.startswith(" ".join(["Usage: seqray", *path])), out[:200]
    # a command's help says what it does: its docstring's first line, or a group's help
    cmd = get_command(app)
    for name in path:
        cmd = cmd.commands[name]
    summary = flat((cmd.help or "").split("\n")[0])
    assert summary and summary in out


def version_lines() -> dict[str, str]:
    """`seqray --version`, run as a user would, as {name: version} in printed order."""
    r = subprocess.run([*seqray_cmd(), "--version"], capture_output=True, text=True)
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    return dict(line.split(" ", 1) for line in r.stdout.splitlines())


def test_version():
    # what a bug report needs, each as the package itself reports it (its __version__, not
    # the installed metadata that seqray reads)
    import numba
    import pyarrow
    import ray
    from packaging.version import Version

    import seqray

    got = version_lines()
    assert list(got) == ["seqray", "python", "ray", "pyarrow", "numba"]
    assert got["seqray"] == seqray.__version__
    Version(got["seqray"])  # a valid version (PEP 440), whatever git says
    assert got["python"] == platform.python_version()
    assert got["ray"] == ray.__version__
    assert got["pyarrow"] == pyarrow.__version__
    assert got["numba"] == numba.__version__


def test_manifest_records_the_versions(tmp_path):
    write_random_fastq(tmp_path / "r.fq", 20)
    c = tmp_path / "c.yaml"
    stages = [{"read": {"paths": [str(tmp_path / "r.fq")]}}, {"write": {"format": "fastq"}}]
    c.write_text(yaml.safe_dump({"output": str(tmp_path / "out"), "stages": stages}))
    assert main(["run", str(c), "--runner", "local", "--quiet"]) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["versions"] == version_lines()
    assert manifest["seqray_version"] == manifest["versions"]["seqray"]


def test_version_comes_from_git_tags(tmp_path):
    """The project's setuptools-scm settings (pyproject.toml) on a throwaway repository: a
    tagged commit is the tag's version, a commit after it a dev version of the next patch,
    and a tree without git metadata still gets a version (the fallback)."""
    require_module("setuptools_scm", "setuptools-scm")
    require_tool("git")
    shutil.copy(Path(__file__).resolve().parents[2] / "pyproject.toml", tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SETUPTOOLS_SCM")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")  # no user settings
    for who in ("AUTHOR", "COMMITTER"):
        env.update({f"GIT_{who}_NAME": "t", f"GIT_{who}_EMAIL": "t@example.org"})

    def git(*args: str) -> str:
        r = subprocess.run(["git", *args], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def version() -> str:
        cmd = [sys.executable, "-m", "setuptools_scm", "--root", ".", "-c", "pyproject.toml"]
        r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    assert version() == "0.0.0+unknown"
    git("init", "-q")
    git("add", "pyproject.toml")
    git("commit", "-q", "-m", "first")
    git("tag", "v1.2.3")
    assert version() == "1.2.3"
    (tmp_path / "later.txt").write_text("a change\n")
    git("add", "later.txt")
    git("commit", "-q", "-m", "second")
    m = re.fullmatch(r"1\.2\.4\.dev1\+g([0-9a-f]{7,})", version())
    assert m and git("rev-parse", "HEAD").startswith(m.group(1))


def test_usage_errors_exit_2(capsys):
    assert main(["inspect"]) == 2
    assert_user_error(capsys.readouterr().err, "Missing argument 'files'")
    assert main(["frobnicate"]) == 2
    assert_user_error(capsys.readouterr().err, "No such command", "frobnicate")
    assert main(["convert", "a.fq", "b.fq", "--on-error", "maybe"]) == 2
    assert_user_error(capsys.readouterr().err, "--on-error")


def test_missing_and_bad_files_exit_1(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nope.fq")]) == 1
    assert_user_error(capsys.readouterr().err, "nope.fq: no such file or directory")
    bad = tmp_path / "bad.fq"
    bad.write_bytes(b"@r1\nACGT\n+\nIIII\n@r2\nACGT\nIIII\n")
    assert main(["inspect", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.fq, record 2, line 7: expected a '+' separator line" in " ".join(err.split())


def test_unreadable_file_exits_1(tmp_path):
    f = tmp_path / "secret.fq"
    f.write_bytes(b"@r\nA\n+\nI\n")
    f.chmod(0o000)
    cmd = [sys.executable, "-m", "seqray.cli.main", "inspect", str(f)]
    if os.geteuid() == 0:
        # root reads anything: drop the capabilities that let it ignore permissions
        setpriv = require_tool("setpriv")
        cmd = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--", *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert_user_error(r.stderr.lower(), "secret.fq", "permission denied")


def test_invalid_config_exits_1(tmp_path, capsys):
    c = tmp_path / "c.yaml"
    c.write_text(
        yaml.safe_dump(
            {"output": "o", "stages": [{"read": {"paths": ["x"]}}, {"write": {"format": "csv"}}]}
        )
    )
    assert main(["run", str(c)]) == 1
    assert_user_error(capsys.readouterr().err, "stages[1].write.format")


def test_convert_round_trips(tmp_path, examples, capsys):
    src = examples / "phix_R1.fastq.gz"
    text = gzip.decompress(src.read_bytes())
    for mid in ("x.parquet", "x.bam", "x.fastq"):
        assert main(["convert", str(src), str(tmp_path / mid)]) == 0
        assert main(["convert", str(tmp_path / mid), str(tmp_path / f"{mid}.fq.gz")]) == 0
        assert gzip.decompress((tmp_path / f"{mid}.fq.gz").read_bytes()) == text, mid
    assert main(["convert", str(src), str(tmp_path / "x.fa")]) == 0
    fa = (tmp_path / "x.fa").read_text().splitlines()
    fq = text.decode().splitlines()
    assert fa[0::2] == [">" + h[1:] for h in fq[0::4]] and fa[1::2] == fq[1::4]


def test_convert_leaves_no_partial_output(tmp_path, capsys):
    bad = tmp_path / "bad.fq"
    bad.write_bytes(b"@r1\nACGT\n+\nIIII\n" * 1000 + b"@r2\nACGT\n+\nIII\n")
    assert main(["convert", str(bad), str(tmp_path / "out.fq.gz")]) == 1
    assert_user_error(capsys.readouterr().err, f"{bad}, record 1001")
    assert os.listdir(tmp_path) == ["bad.fq"]


def test_convert_skip_writes_good_records(tmp_path, capsys):
    bad = tmp_path / "bad.fq"
    bad.write_bytes(b"@r1\nACGT\n+\nIIII\n@r2\nACGT\n+\nIII\n@r3\nGG\n+\nII\n")
    assert main(["convert", str(bad), str(tmp_path / "out.fq"), "--on-error", "skip"]) == 0
    assert (tmp_path / "out.fq").read_bytes() == b"@r1\nACGT\n+\nIIII\n@r3\nGG\n+\nII\n"


def test_run_summary_says_what_each_stage_found(tmp_path, capsys):
    # a, and its duplicate b; c too short for -l 15: one read of ACGTTGCA x4 is left
    read = "ACGTTGCA" * 4
    (tmp_path / "r.fq").write_text(
        f"@a\n{read}\n+\n{'I' * 32}\n@b\n{read}\n+\n{'I' * 32}\n@c\nACGT\n+\nIIII\n"
    )
    c = tmp_path / "c.yaml"
    stages = [
        {"read": {"paths": [str(tmp_path / "r.fq")]}},
        {"qc": {"dedup": True}},
        {"count": {"k": 5}},
        {"tokenize": {"scheme": "kmer", "k": 3}},
        {"write": {"format": "parquet"}},
    ]
    c.write_text(yaml.safe_dump({"output": str(tmp_path / "out"), "stages": stages}))
    assert main(["run", str(c), "--runner", "local"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "qc: 1 of 3 reads passed (33.33%); filtered: too short 1; duplicates 1" in err
    # the 32 bases hold 28 5-mers, 8 distinct (period 8), each seen 3 or 4 times
    assert "count: 8 distinct 5-mers, 28 in all, 0 seen once" in err
    # 30 3-mers, 8 distinct of the 64 3-mers (specials do not count as coverage)
    assert "tokenize: 30 tokens in 1 rows (30.0 per read); 8 distinct (12.5% of the" in err


# typer (0.29 here) turns KeyboardInterrupt into Exit(130) and, with standalone_mode=False,
# *returns* that code from app(); seqray.cli.main.main discards app()'s return value.
def test_keyboard_interrupt_exits_130(tmp_path, monkeypatch, capsys):
    import seqray.pipeline.driver as runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    calls = []
    monkeypatch.setattr(runner, "run_pipeline", lambda *a, **k: calls.append(1) or interrupted())
    c = tmp_path / "c.yaml"
    stages = [{"read": {"paths": ["x.fq"]}}, {"write": {"format": "fastq"}}]
    c.write_text(yaml.safe_dump({"output": str(tmp_path / "o"), "stages": stages}))
    rc = main(["run", str(c)])
    assert calls == [1]  # the interrupt came from the run, not from an error before it
    assert_user_error(capsys.readouterr().err)
    assert rc == 130


@pytest.mark.integration
def test_ctrl_c_exits_130_and_leaves_no_manifest(tmp_path, run_env):
    """SIGINT (Ctrl-C) to a running `seqray run`: exit 130, no traceback, nothing that looks
    finished; the chunks done so far stay journaled for --resume."""
    fq = write_random_fastq(tmp_path / "a.fq", 5000, max_len=200)
    out = tmp_path / "o"
    c = tmp_path / "c.yaml"
    stages = [{"read": {"paths": [str(fq)]}}, {"write": {"format": "fastq"}}]
    cfg = {"output": str(out), "run": {"chunk_bytes": 5000}, "stages": stages}
    c.write_text(yaml.safe_dump(cfg))
    proc = subprocess.Popen(
        [*seqray_cmd(), "run", str(c), "--runner", "local"],
        env=run_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # as from a terminal: Python turns SIGINT into KeyboardInterrupt only when it
        # starts with the default disposition (a background job of a script ignores it)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    journal = out / "_seqray" / "journal"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if journal.exists() and any(journal.glob("*.json")):
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert not (out / "manifest.json").exists()
    assert any(journal.glob("*.json"))
    assert_user_error(err)
    assert proc.returncode == 130, err
