"""A seqray solver as a job: `python -m seqray.solvers.NAME` under mpirun or srun, with an
environment that makes every rank import this seqray, asking Slurm for one task per rank.

`seqray solve` and the pipeline's `hpc` stage both build their solver jobs here."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import replace

from ..errors import SeqrayError
from .jobs import JobSpec, Resources
from .templates import mpi_solver

# srun's MPI plugin: PMIx, which Slurm (>= 16.05) and OpenMPI (>= 2) both build with on
# Debian; a site without it launches with mpirun instead
SRUN_MPI = "--mpi=pmix"
# the options each solver takes (`--NAME=VALUE`)
SOLVER_OPTIONS: dict[str, tuple[str, ...]] = {
    "pca": ("components",),
    "knn": ("neighbors",),
    "spectral": ("clusters", "neighbors"),
}


def python_path() -> str:
    """PYTHONPATH with this seqray's directory first: the ranks import the package that
    launched them, installed or not."""
    import seqray

    here = os.path.dirname(os.path.dirname(os.path.abspath(seqray.__file__)))
    return os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)


def solver_args(solver: str, embeddings: str, output: str, options: Mapping[str, int]) -> list[str]:
    """The solver's own arguments: `EMBEDDINGS -o OUTPUT --NAME=VALUE...`."""
    if solver not in SOLVER_OPTIONS:
        raise SeqrayError(f"unknown solver {solver!r}; choose {', '.join(SOLVER_OPTIONS)}")
    unknown = set(options) - set(SOLVER_OPTIONS[solver])
    if unknown:
        raise SeqrayError(
            f"solver {solver} takes {', '.join(SOLVER_OPTIONS[solver])}, "
            f"not {', '.join(sorted(unknown))}"
        )
    return [embeddings, "-o", output, *(f"--{k}={v}" for k, v in options.items())]


def solver_argv(
    solver: str,
    embeddings: str,
    output: str,
    options: Mapping[str, int],
    *,
    ranks: int,
    launcher: str,
) -> list[str]:
    """The job's command: `mpirun -np N [--allow-run-as-root] --oversubscribe -x
    PYTHONPATH python -m seqray.solvers.NAME ...` or `srun --ntasks=N --mpi=pmix python
    -m ...`."""
    args = solver_args(solver, embeddings, output, options)
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    return mpi_solver(
        solver,
        args,
        ranks=ranks,
        launcher=launcher,
        python=sys.executable,
        allow_run_as_root=root,
        oversubscribe=True,
        launcher_args=["-x", "PYTHONPATH"] if launcher == "mpirun" else [SRUN_MPI],
    )


def solver_spec(
    solver: str,
    embeddings: str,
    output: str,
    options: Mapping[str, int],
    *,
    ranks: int,
    launcher: str,
    log_dir: str,
    name: str | None = None,
    resources: Resources | None = None,
    preamble: str = "",
) -> JobSpec:
    """The JobSpec of one solver run: Slurm is asked for `ranks` tasks (the allocation
    mpirun and srun start their ranks in)."""
    res = replace(resources or Resources(), ntasks=ranks)
    return JobSpec(
        argv=tuple(
            solver_argv(solver, embeddings, output, options, ranks=ranks, launcher=launcher)
        ),
        log_dir=log_dir,
        name=name or f"seqray-{solver}",
        env={"PYTHONPATH": python_path()},
        resources=res,
        preamble=preamble,
    )
