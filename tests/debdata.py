"""Real reads shipped in Debian packages, fetched once with `apt-get download` (the Debian
registry is reachable wherever the test setup can install packages) and cached."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("SEQRAY_TEST_CACHE", Path.home() / ".cache" / "seqray-tests"))


def debian_file(package: str, member: str) -> Path:
    """The file `member` (a path inside the package) of Debian `package`, or a pytest skip
    that says why it could not be had."""
    target = CACHE / package / member.lstrip("./")
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        got = subprocess.run(
            ["apt-get", "download", package], cwd=tmp, capture_output=True, text=True
        )
        debs = list(Path(tmp).glob(f"{package}_*.deb"))
        if got.returncode or not debs:
            pytest.skip(f"cannot download Debian package {package}: {got.stderr.strip()[-200:]}")
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(CACHE / package)], check=True)
    if not target.exists():
        raise FileNotFoundError(f"{member} is not in Debian package {package}")
    return target
