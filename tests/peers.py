"""What a test needs from outside the project (a peer tool, an optional Python package, a
Debian data package), and the one rule for when it is missing.

On a developer's machine a missing prerequisite skips the test with a reason naming exactly
what is missing and where it comes from. With `SEQRAY_REQUIRE_PEERS=1` (CI: `.ci/run` sets
it) it is a test failure instead, so a CI run where fastp or jellyfish went missing cannot
pass with its parity tests silently skipped.

Use `require_tool("fastp")` inside a test or fixture, or mark a test (or a module's
`pytestmark`) with `@pytest.mark.peers("fastp", "jellyfish")`; `tests/conftest.py` checks
the mark before the test runs, and under the switch reports any other skip as a failure.
"""

from __future__ import annotations

import importlib
import os
import shutil
from types import ModuleType
from typing import NoReturn

import pytest

ENV = "SEQRAY_REQUIRE_PEERS"

# the Debian package that ships each tool (scripts/setup.sh test installs them)
DEBIAN_PACKAGE = {
    "art_illumina": "art-nextgen-simulation-tools",
    "chromium": "chromium",
    "fastp": "fastp",
    "gmx": "gromacs",
    "jellyfish": "jellyfish",
    "kmc": "kmc",
    "kmc_tools": "kmc",
    "lighter": "lighter",
    "munged": "munge",
    "samtools": "samtools",
    "sbatch": "slurm-wlm",
    "scancel": "slurm-wlm",
    "scontrol": "slurm-wlm",
    "seqkit": "seqkit",
    "setpriv": "util-linux",
    "sinfo": "slurm-wlm",
    "slurmctld": "slurm-wlm",
    "slurmd": "slurm-wlm",
    "squeue": "slurm-wlm",
}


def peers_required() -> bool:
    """True when a missing prerequisite must fail the test (read at call time, so a test
    of this module can set it)."""
    return os.environ.get(ENV, "").strip() not in ("", "0")


def missing(what: str) -> NoReturn:
    """Fails (under SEQRAY_REQUIRE_PEERS=1) or skips the current test, saying `what`."""
    if peers_required():
        pytest.fail(
            f"{what}; {ENV}=1 requires every peer tool and test data set "
            "(bash scripts/setup.sh test installs them)",
            pytrace=False,
        )
    pytest.skip(f"{what} (bash scripts/setup.sh test installs it)")


def require_tool(tool: str) -> str:
    """The path of `tool` on PATH, or a skip/failure naming the tool and its Debian package."""
    path = shutil.which(tool)
    if path is None:
        package = DEBIAN_PACKAGE.get(tool, tool)
        missing(f"{tool} is not on PATH (Debian package {package})")
    return path


def require_module(name: str, pip_name: str | None = None) -> ModuleType:
    """The imported module `name`, or a skip/failure naming the pip package to install."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"Python package {pip_name or name} is not installed ({exc})")
