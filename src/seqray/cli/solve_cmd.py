"""`seqray solve`: the MPI solvers (PCA, exact k-NN graph, spectral clustering) on a run's
embeddings, in this process (`--ranks 1`), on N ranks of a local `mpirun`, or as a Slurm job
(`--executor slurm`)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Literal

import typer

from ..errors import OutputError, SeqrayError
from ..hpc.solver_job import python_path, solver_args
from ..hpc.templates import mpi_solver
from .common import out
from .options import output_option

solve_app = typer.Typer(
    no_args_is_help=True,
    help="MPI solvers on a run's embeddings (docs/solvers.md): pca, knn, spectral.",
)

TAIL = 30  # lines of the ranks' stderr shown when a launch fails


def _embeddings_arg() -> Any:
    return typer.Argument(..., help="A seqray run's output directory (or its manifest.json).")


def _ranks_option() -> Any:
    return typer.Option(
        1,
        "--ranks",
        min=1,
        help="MPI ranks: 1 runs in this process; more launch `mpirun -n N --oversubscribe`.",
    )


def mpirun_command(solver: str, ranks: int, args: list[str]) -> list[str]:
    """The local launch, as an argument list (never a shell string): `mpirun -np N
    [--allow-run-as-root] --oversubscribe -x PYTHONPATH python -m seqray.solvers.<solver>
    ARGS`."""
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        raise SeqrayError(
            "--ranks > 1 needs `mpirun` (Debian: openmpi-bin libopenmpi-dev) and mpi4py "
            "(pip install 'seqray[hpc]'); or use --ranks 1"
        )
    cmd = mpi_solver(
        solver,
        args,
        ranks=ranks,
        python=sys.executable,
        allow_run_as_root=hasattr(os, "geteuid") and os.geteuid() == 0,
        oversubscribe=True,
        launcher_args=["-x", "PYTHONPATH"],
    )
    return [mpirun, *cmd[1:]]


def launch(solver: str, ranks: int, args: list[str]) -> None:
    """Run `seqray.solvers.<solver>` on `ranks` ranks; a failure is an error carrying the
    exit status and the tail of the ranks' stderr."""
    cmd = mpirun_command(solver, ranks, args)
    env = {**os.environ, "PYTHONPATH": python_path()}
    proc = subprocess.Popen(cmd, env=env, stdout=None, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:  # streamed as the ranks write it, the tail kept
        sys.stderr.write(line)
        lines.append(line.rstrip("\n"))
        del lines[:-TAIL]
    code = proc.wait()
    if code != 0:
        tail = "\n".join(lines)
        raise SeqrayError(
            f"seqray.solvers.{solver} on {ranks} ranks failed (mpirun exit {code})"
            + (f"; the ranks' stderr ended:\n{tail}" if tail else "")
        )


def _run(
    solver: str,
    embeddings: str,
    output: str,
    ranks: int,
    opts: dict[str, int],
    slurm: SlurmOptions,
) -> None:
    from ..solvers import _common, knn, pca, spectral

    module = {"pca": pca, "knn": knn, "spectral": spectral}[solver]
    if slurm.executor != "slurm":
        given = [
            flag
            for flag, value in (
                ("--launcher", slurm.launcher != "srun"),
                ("--partition", slurm.partition),
                ("--time", slurm.time),
                ("--mem", slurm.mem),
            )
            if value
        ]
        if given:
            raise SeqrayError(f"{', '.join(given)}: only with --executor slurm")
    _common.check_output(output)  # before any rank starts
    if slurm.executor == "slurm":
        _submit(solver, embeddings, output, ranks, opts, slurm)
    elif ranks == 1:
        args = argparse.Namespace(embeddings=embeddings, output=output, **opts)
        module.solve(_common.SelfComm(), args)
    else:
        launch(solver, ranks, solver_args(solver, embeddings, output, opts))
    where = f"{ranks} rank{'s' if ranks > 1 else ''}"
    out.print(f"{solver}: wrote {output} ({where}{', Slurm' if slurm.executor == 'slurm' else ''})")


def _submit(
    solver: str,
    embeddings: str,
    output: str,
    ranks: int,
    opts: dict[str, int],
    slurm: SlurmOptions,
) -> None:
    """Runs the solver as one Slurm job (its logs in OUT/.seqray-job/) and waits for it;
    Ctrl-C cancels the job."""
    from ..hpc import JobFailedError, Resources, SlurmExecutor
    from ..hpc.solver_job import solver_spec
    from ..solvers._common import JOB_DIR

    if shutil.which("sbatch") is None:
        raise SeqrayError("--executor slurm needs Slurm's sbatch on PATH (Debian: slurm-client)")
    if "://" in output:
        raise SeqrayError(
            f"{output}: with --executor slurm the output is a directory the job's nodes "
            "share (its logs go there), not an object store"
        )
    embeddings = os.path.abspath(embeddings) if "://" not in embeddings else embeddings
    output = os.path.abspath(output)
    if os.path.lexists(os.path.join(output, JOB_DIR)):
        raise OutputError(
            f"{output}: holds {JOB_DIR}/ from an earlier Slurm launch; remove it (or give "
            "a new or empty directory)"
        )
    resources = Resources(
        cpus_per_task=1, mem=slurm.mem, time=slurm.time, partition=slurm.partition
    )
    spec = solver_spec(
        solver,
        embeddings,
        output,
        opts,
        ranks=ranks,
        launcher=slurm.launcher,
        log_dir=os.path.join(output, JOB_DIR),
        resources=resources,
    )
    executor = SlurmExecutor()
    submission = executor.submit(spec)
    out.print(f"{solver}: submitted Slurm job {', '.join(submission.job_ids)}")
    try:
        results = executor.wait(submission)
    except KeyboardInterrupt:
        executor.cancel(submission)
        raise
    failed = [r for r in results if not r.ok]
    if failed:
        raise JobFailedError(failed)


@dataclass(frozen=True)
class SlurmOptions:
    executor: str = "local"
    launcher: str = "srun"
    partition: str | None = None
    time: str | None = None
    mem: str | None = None


Executor = Literal["local", "slurm"]
Launcher = Literal["srun", "mpirun"]


def _executor_option() -> Any:
    return typer.Option(
        "local",
        "--executor",
        help="local: this machine (in-process, or mpirun for --ranks > 1); slurm: one Slurm "
        "job of --ranks tasks, waited for (logs in OUT/.seqray-job/).",
    )


def _launcher_option() -> Any:
    return typer.Option("srun", "--launcher", help="With --executor slurm: how ranks start.")


def _partition_option() -> Any:
    return typer.Option(None, "--partition", help="With --executor slurm: the partition.")


def _time_option() -> Any:
    return typer.Option(None, "--time", help="With --executor slurm: time limit (HH:MM:SS).")


def _mem_option() -> Any:
    return typer.Option(None, "--mem", help="With --executor slurm: memory per node (8G).")


@solve_app.command("pca")
def pca_cmd(
    embeddings: str = _embeddings_arg(),
    output: str = output_option("New or empty output directory."),
    ranks: int = _ranks_option(),
    components: int = typer.Option(2, "--components", min=1, help="Components to keep."),
    executor: Executor = _executor_option(),
    launcher: Launcher = _launcher_option(),
    partition: str | None = _partition_option(),
    time: str | None = _time_option(),
    mem: str | None = _mem_option(),
) -> None:
    """Principal components (covariance all-reduce); projections keep the reads' identity."""
    slurm = SlurmOptions(executor, launcher, partition, time, mem)
    _run("pca", embeddings, output, ranks, {"components": components}, slurm)


@solve_app.command("knn")
def knn_cmd(
    embeddings: str = _embeddings_arg(),
    output: str = output_option("New or empty output directory."),
    ranks: int = _ranks_option(),
    neighbors: int = typer.Option(10, "--neighbors", min=1, help="Neighbours per vector."),
    executor: Executor = _executor_option(),
    launcher: Launcher = _launcher_option(),
    partition: str | None = _partition_option(),
    time: str | None = _time_option(),
    mem: str | None = _mem_option(),
) -> None:
    """Exact k-nearest-neighbour graph (ring exchange, BLAS distances, deterministic ties)."""
    slurm = SlurmOptions(executor, launcher, partition, time, mem)
    _run("knn", embeddings, output, ranks, {"neighbors": neighbors}, slurm)


@solve_app.command("spectral")
def spectral_cmd(
    embeddings: str = _embeddings_arg(),
    output: str = output_option("New or empty output directory."),
    ranks: int = _ranks_option(),
    clusters: int = typer.Option(8, "--clusters", min=2, help="Clusters."),
    neighbors: int = typer.Option(
        10, "--neighbors", min=2, help="Neighbours of each vector in the graph, itself included."
    ),
    executor: Executor = _executor_option(),
    launcher: Launcher = _launcher_option(),
    partition: str | None = _partition_option(),
    time: str | None = _time_option(),
    mem: str | None = _mem_option(),
) -> None:
    """Spectral clustering (normalised k-NN graph, LOBPCG, k-means++); labels keep identity."""
    slurm = SlurmOptions(executor, launcher, partition, time, mem)
    opts = {"clusters": clusters, "neighbors": neighbors}
    _run("spectral", embeddings, output, ranks, opts, slurm)
