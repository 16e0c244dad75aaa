"""The switch that keeps CI honest: with SEQRAY_REQUIRE_PEERS=1 a missing peer tool, Python
package or Debian data package fails the test; without it the test is skipped with a reason
that names what is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from . import debdata
from .peers import ENV, require_module, require_tool

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def bare_path(tmp_path, monkeypatch):
    """A PATH holding nothing: every tool is missing."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return empty


def test_missing_tool_skips_with_its_package_without_the_switch(bare_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(
        pytest.skip.Exception,
        match=r"art_illumina is not on PATH \(Debian package art-nextgen-simulation-tools\)",
    ):
        require_tool("art_illumina")
    monkeypatch.setenv(ENV, "0")  # "0" is off too
    with pytest.raises(pytest.skip.Exception, match="fastp is not on PATH"):
        require_tool("fastp")


def test_missing_tool_fails_under_the_switch(bare_path, monkeypatch):
    monkeypatch.setenv(ENV, "1")
    with pytest.raises(
        pytest.fail.Exception,
        match=r"fastp is not on PATH \(Debian package fastp\); SEQRAY_REQUIRE_PEERS=1",
    ):
        require_tool("fastp")


def test_present_tool_is_found(tmp_path, monkeypatch):
    tool = tmp_path / "fastp"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv(ENV, "1")
    assert require_tool("fastp") == str(tool)


def test_missing_module(monkeypatch):
    monkeypatch.setenv(ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="Python package no-such-pkg is not installed"):
        require_module("no_such_module_seqray", "no-such-pkg")
    monkeypatch.delenv(ENV)
    with pytest.raises(pytest.skip.Exception, match="Python package no_such_module_seqray"):
        require_module("no_such_module_seqray")
    assert require_module("json").dumps([]) == "[]"


def test_debian_data_that_cannot_be_downloaded(bare_path, tmp_path, monkeypatch):
    monkeypatch.setattr(debdata, "CACHE", tmp_path / "cache")  # nothing cached
    monkeypatch.setenv(ENV, "1")
    with pytest.raises(
        pytest.fail.Exception,
        match="apt-get is not on PATH: cannot download Debian package seqprep-data",
    ):
        debdata.debian_file("seqprep-data", "usr/share/doc/x")
    monkeypatch.delenv(ENV)
    with pytest.raises(pytest.skip.Exception, match="cannot download Debian package seqprep-data"):
        debdata.debian_file("seqprep-data", "usr/share/doc/x")


@pytest.mark.integration
def test_a_real_fastp_test_fails_in_ci_and_skips_elsewhere(tmp_path):
    """End to end through pytest and the `peers` mark: a fastp parity test with fastp
    shadowed (PATH holds an empty directory)."""
    empty = tmp_path / "bin"
    empty.mkdir()
    node = "tests/qc/test_profile.py::test_after_filtering_equals_fastp_without_empty_reads"
    env = {k: v for k, v in os.environ.items() if k != ENV}
    env["PATH"] = str(empty)
    cmd = [sys.executable, "-m", "pytest", node, "-q", "-rs", "-p", "no:cacheprovider"]
    cmd += ["-o", "addopts="]
    skipped = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert skipped.returncode == 0, skipped.stdout
    assert "1 skipped" in skipped.stdout
    assert "fastp is not on PATH (Debian package fastp" in skipped.stdout
    failed = subprocess.run(cmd, cwd=ROOT, env={**env, ENV: "1"}, capture_output=True, text=True)
    assert failed.returncode == 1, failed.stdout
    assert "1 error" in failed.stdout and "skipped" not in failed.stdout
    assert "fastp is not on PATH (Debian package fastp); SEQRAY_REQUIRE_PEERS=1" in failed.stdout


@pytest.mark.integration
def test_any_skip_is_a_failure_under_the_switch(tmp_path):
    """A skip that does not go through tests/peers.py (a plain pytest.skip or skipif) is a
    failure in CI too; an xfail is not touched."""
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_runtest_makereport  # noqa: F401\n"
    )
    (tmp_path / "test_x.py").write_text(
        "import pytest\n"
        "def test_skips():\n    pytest.skip('no frobnicator')\n"
        "@pytest.mark.skipif(True, reason='never here')\ndef test_skipif():\n    pass\n"
        "@pytest.mark.xfail(strict=True, reason='known')\ndef test_xfail():\n    assert 0\n"
    )
    env = {k: v for k, v in os.environ.items() if k != ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "pytest", str(tmp_path), "-q", "-rA", "-p", "no:cacheprovider"]
    cmd += ["-o", "addopts=", "--rootdir", str(tmp_path)]
    free = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert free.returncode == 0, free.stdout
    assert "2 skipped, 1 xfailed" in free.stdout
    ci = subprocess.run(cmd, cwd=tmp_path, env={**env, ENV: "1"}, capture_output=True, text=True)
    assert ci.returncode == 1, ci.stdout
    assert "1 failed, 1 xfailed, 1 error" in ci.stdout
    assert "SEQRAY_REQUIRE_PEERS=1 requires every test to run: Skipped: no frobnicator" in ci.stdout
    assert "requires every test to run: Skipped: never here" in ci.stdout
