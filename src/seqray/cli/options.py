"""The options every command shares, defined once: one spelling, one meaning everywhere.

`-o/--output`, `-t/--threads`, `-k/--k`, `--runner` (a choice), `--address`,
`--shared-output`, `--overwrite`, `--resume`, `--quiet`. Every command that runs a pipeline
takes all of the run options (`RUN_OPTIONS`). The one exception is `seqray qc`, a drop-in
for fastp: its fastp flags keep fastp's meanings (`-o` is read 1's output, `-t` trims read
1's tail), so its CPUs are `-w/--thread/--threads` and its run directory `--outdir`.
`seqray solve`, which runs no Ray, takes `--executor local|slurm` (where its MPI job runs,
the `hpc` stage's `executor`). tests/cli/test_vocabulary.py holds every command to this.
"""

from __future__ import annotations

from typing import Any, Literal

import typer

# the values of the config's `run.runner` (pipeline.config.RunSettings; a test keeps the
# two equal: the config is not imported here, the quick commands need no pydantic)
Runner = Literal["auto", "local", "ray"]

RUN_PANEL = "Run"

RUNNER = typer.Option(
    None,
    "--runner",
    help="local (in-process), ray, or auto: Ray with --address or above 256 MiB of input. "
    "Default: auto (for `run`, the config's).",
    rich_help_panel=RUN_PANEL,
)
ADDRESS = typer.Option(
    None,
    "--address",
    help="Ray cluster address (or RAY_ADDRESS): the run goes there, on the cluster's CPUs "
    "(--runner ray is implied).",
    rich_help_panel=RUN_PANEL,
)
SHARED_OUTPUT = typer.Option(
    False,
    "--shared-output",
    help="The local output is on a filesystem every node of the Ray cluster mounts at the "
    "same path (NFS, Lustre): without it, a cluster with other nodes refuses a local output "
    "(run.shared_output).",
    rich_help_panel=RUN_PANEL,
)
THREADS = typer.Option(
    None,
    "--threads",
    "-t",
    min=1,
    help="CPUs to use (default: all).",
    rich_help_panel=RUN_PANEL,
)
OVERWRITE = typer.Option(
    False,
    "--overwrite",
    help="Replace the seqray run at the output (never files it did not write: with any "
    "there, the run is refused).",
    rich_help_panel=RUN_PANEL,
)
RESUME = typer.Option(
    False,
    "--resume",
    help="Finish an interrupted run (finished chunks are verified and skipped); on a "
    "finished run, verify its files and exit.",
    rich_help_panel=RUN_PANEL,
)
QUIET = typer.Option(
    False,
    "--quiet",
    help="No progress bar (none is drawn off a terminal).",
    rich_help_panel=RUN_PANEL,
)

# the parameter names of the options every pipeline command takes
RUN_OPTIONS = ("runner", "address", "shared_output", "threads", "overwrite", "resume", "quiet")


def output_option(help: str = "Output directory (local or s3://).", required: bool = True) -> Any:
    """`-o/--output` (`run`'s is optional: it overrides the config's)."""
    return typer.Option(... if required else None, "--output", "-o", help=help)


def k_option(default: Any, help: str, min: int | None = None, max: int | None = None) -> Any:
    """`-k/--k`, the k-mer length; its default and range are the command's."""
    return typer.Option(default, "-k", "--k", min=min, max=max, help=help)


def run_section(
    threads: int | None, runner: Runner | None, address: str | None, shared_output: bool
) -> dict[str, Any]:
    """The config's `run` keys the run options set (those given only)."""
    run: dict[str, Any] = {}
    if runner is not None:
        run["runner"] = runner
    elif address:
        run["runner"] = "ray"  # a cluster address means Ray, even if the config said local
    if address:
        run["address"] = address
    if threads is not None:
        run["num_cpus"] = threads
    if shared_output:
        run["shared_output"] = True
    return run
