"""`seqray correct -k K INPUT -o OUTPUT`: spectrum-based error correction of reads."""

from __future__ import annotations

from typing import Literal

import typer

from .common import console, pipeline_config
from .options import (
    ADDRESS,
    OVERWRITE,
    QUIET,
    RESUME,
    RUNNER,
    SHARED_OUTPUT,
    THREADS,
    Runner,
    k_option,
    output_option,
    run_section,
)
from .progress import progress_for


def _min_count(value: str) -> str | int:
    if value == "auto":
        return value
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise typer.BadParameter("must be 'auto' or a count ≥ 1", param_hint="'--min-count'")
    return n


def correct(
    ctx: typer.Context,
    src: str = typer.Argument(
        ..., metavar="INPUT", help="Reads (FASTQ/FASTA/BAM/…, local or s3://)."
    ),
    output: str = output_option(),
    k: int = k_option(31, "k-mer length, 9..32.", min=9, max=32),
    mate: str = typer.Option(None, "--mate", help="R2 file: mates are corrected one by one."),
    min_count: str = typer.Option(
        "auto",
        "--min-count",
        help="Trusted k-mers occur at least this often (auto: spectrum valley).",
    ),
    fmt: Literal["fastq", "parquet"] = typer.Option(
        "fastq", "--format", help="fastq, or parquet (keeps corrected_bases)."
    ),
    compression: str = typer.Option(
        None, help="gzip, bgzf (blocked gzip, still .gz) or none (FASTQ); default gzip."
    ),
    threads: int | None = THREADS,
    runner: Runner | None = RUNNER,
    address: str | None = ADDRESS,
    shared_output: bool = SHARED_OUTPUT,
    overwrite: bool = OVERWRITE,
    resume: bool = RESUME,
    quiet: bool = QUIET,
) -> None:
    """Fix substitution errors with the input's trusted k-mers; reads keep their names and
    order. Writes OUTPUT/reads.fastq.gz (reads_R1/_R2 for pairs) and correction.json."""
    from ..pipeline.driver import run_pipeline
    from .run_cmd import print_summary

    read = {"paths": [src]}
    if mate:
        read["mate_paths"] = [mate]
    write: dict = {"format": fmt}
    if compression:
        write["compression"] = compression
    run = run_section(threads, runner, address, shared_output)
    cfg = pipeline_config(
        ctx,
        {
            "output": output,
            "run": run,
            "stages": [
                {"read": read},
                {"correct": {"k": k, "min_count": _min_count(min_count)}},
                {"write": write},
            ],
        },
        "seqray correct",
        {"num_cpus": "threads", "format": "fmt"},
    )
    with progress_for(quiet) as progress:
        result = run_pipeline(cfg, overwrite=overwrite, resume=resume, progress=progress)
    if result.verified:
        print_summary(result)
        return
    r, t = result.reports["correct"]["reads"], result.reports["correct"]["trusted"]
    console.print(
        f"{r['reads']:,} reads: {r['corrected']:,} corrected ({r['bases_changed']:,} bases), "
        f"{r['uncorrectable']:,} uncorrectable, {r['clean']:,} clean; "
        f"{t['trusted_kmers']:,} trusted {k}-mers (count ≥ {t['min_count']})",
        highlight=False,
    )
