"""Real reads shipped in Debian packages, fetched once with `apt-get download` (the Debian
registry is reachable wherever the test setup can install packages) and cached. A package
that cannot be had skips the test, or fails it under SEQRAY_REQUIRE_PEERS=1 (tests/peers.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .peers import missing

CACHE = Path(os.environ.get("SEQRAY_TEST_CACHE", Path.home() / ".cache" / "seqray-tests"))


def debian_file(package: str, member: str) -> Path:
    """The file `member` (a path inside the package) of Debian `package`; when the package
    cannot be downloaded, a skip (or, under SEQRAY_REQUIRE_PEERS=1, a failure) saying why."""
    target = CACHE / package / member.lstrip("./")
    if target.exists():
        return target
    if shutil.which("apt-get") is None:
        missing(f"apt-get is not on PATH: cannot download Debian package {package}")
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        got = subprocess.run(
            ["apt-get", "download", package], cwd=tmp, capture_output=True, text=True
        )
        debs = list(Path(tmp).glob(f"{package}_*.deb"))
        if got.returncode or not debs:
            missing(
                f"cannot download Debian package {package} with apt-get download: "
                f"{got.stderr.strip()[-200:] or f'exit status {got.returncode}'}"
            )
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(CACHE / package)], check=True)
    if not target.exists():
        raise FileNotFoundError(f"{member} is not in Debian package {package}")
    return target
