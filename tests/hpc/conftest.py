"""Fixtures of the HPC tests: `slurm`, a real one-node Slurm cluster for the session."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from ..peers import missing, require_tool
from .slurm_cluster import SlurmCluster

SLURM_TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")


@pytest.fixture(scope="session")
def slurm():
    """Starts munged + slurmctld + slurmd (torn down at the end of the session) and points
    `SLURM_CONF` at them. A missing binary or a non-root user skips, or fails under
    SEQRAY_REQUIRE_PEERS=1."""
    for tool in SLURM_TOOLS:
        require_tool(tool)
    if os.geteuid() != 0:
        missing("the Slurm test cluster runs its daemons as root")
    # a short path: the munge socket path must fit in a sockaddr_un (108 bytes)
    root = tempfile.mkdtemp(prefix="seqray-slurm-")
    cluster = SlurmCluster(root).start()
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    try:
        yield cluster
    finally:
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
