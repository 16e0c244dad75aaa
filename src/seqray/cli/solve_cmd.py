"""`seqray solve`: the MPI solvers (PCA, exact k-NN graph, spectral clustering) on a run's
embeddings, in this process (`--ranks 1`) or on N ranks of a local `mpirun`."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from typing import Any

import typer

from ..errors import SeqrayError
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
    """The launch, as an argument list (never a shell string): `mpirun -n N --oversubscribe
    [--allow-run-as-root] -x PYTHONPATH python -m seqray.solvers.<solver> ARGS`."""
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        raise SeqrayError(
            "--ranks > 1 needs `mpirun` (Debian: openmpi-bin libopenmpi-dev) and mpi4py "
            "(pip install 'seqray[hpc]'); or use --ranks 1"
        )
    cmd = [mpirun, "-n", str(ranks), "--oversubscribe"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    cmd += ["-x", "PYTHONPATH", sys.executable, "-m", f"seqray.solvers.{solver}", *args]
    return cmd


def _environment() -> dict[str, str]:
    """This process's environment, with this seqray first on PYTHONPATH: the ranks import
    the same package as the command that launched them."""
    import seqray

    here = os.path.dirname(os.path.dirname(os.path.abspath(seqray.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH", "")) if p)
    return env


def launch(solver: str, ranks: int, args: list[str]) -> None:
    """Run `seqray.solvers.<solver>` on `ranks` ranks; a failure is an error carrying the
    exit status and the tail of the ranks' stderr."""
    cmd = mpirun_command(solver, ranks, args)
    proc = subprocess.Popen(cmd, env=_environment(), stdout=None, stderr=subprocess.PIPE, text=True)
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


def _run(solver: str, embeddings: str, output: str, ranks: int, opts: dict[str, int]) -> None:
    from ..solvers import _common, knn, pca, spectral

    module = {"pca": pca, "knn": knn, "spectral": spectral}[solver]
    _common.check_output(output)  # before any rank starts
    flags = [f"--{k}={v}" for k, v in opts.items()]
    if ranks == 1:
        args = argparse.Namespace(embeddings=embeddings, output=output, **opts)
        module.solve(_common.SelfComm(), args)
    else:
        launch(solver, ranks, [embeddings, "-o", output, *flags])
    out.print(f"{solver}: wrote {output} ({ranks} rank{'s' if ranks > 1 else ''})")


@solve_app.command("pca")
def pca_cmd(
    embeddings: str = _embeddings_arg(),
    output: str = output_option("New or empty output directory."),
    ranks: int = _ranks_option(),
    components: int = typer.Option(2, "--components", min=1, help="Components to keep."),
) -> None:
    """Principal components (covariance all-reduce); projections keep the reads' identity."""
    _run("pca", embeddings, output, ranks, {"components": components})


@solve_app.command("knn")
def knn_cmd(
    embeddings: str = _embeddings_arg(),
    output: str = output_option("New or empty output directory."),
    ranks: int = _ranks_option(),
    neighbors: int = typer.Option(10, "--neighbors", min=1, help="Neighbours per vector."),
) -> None:
    """Exact k-nearest-neighbour graph (ring exchange, BLAS distances, deterministic ties)."""
    _run("knn", embeddings, output, ranks, {"neighbors": neighbors})


@solve_app.command("spectral")
def spectral_cmd(
    embeddings: str = _embeddings_arg(),
    output: str = output_option("New or empty output directory."),
    ranks: int = _ranks_option(),
    clusters: int = typer.Option(8, "--clusters", min=2, help="Clusters."),
    neighbors: int = typer.Option(
        10, "--neighbors", min=2, help="Neighbours of each vector in the graph, itself included."
    ),
) -> None:
    """Spectral clustering (normalised k-NN graph, LOBPCG, k-means++); labels keep identity."""
    _run("spectral", embeddings, output, ranks, {"clusters": clusters, "neighbors": neighbors})
