"""`seqray embed`: reads → one vector per read (or per-token arrays) from a k-mer
embedding model, through the pipeline (read → embed → write Parquet)."""

from __future__ import annotations

from typing import Any, Literal

import typer

from .common import pipeline_config
from .options import (
    ADDRESS,
    OVERWRITE,
    QUIET,
    RESUME,
    RUNNER,
    SHARED_OUTPUT,
    THREADS,
    Runner,
    output_option,
    run_section,
)
from .progress import progress_for


def embed(
    ctx: typer.Context,
    inputs: list[str] = typer.Argument(..., help="Read files (any supported format, or s3://)."),
    model: str = typer.Option(..., "--model", help="Embedding model directory."),
    output: str = output_option(),
    dtype: Literal["float32", "float16"] = typer.Option(
        "float32", "--dtype", help="Type of the output vectors."
    ),
    per_token: bool = typer.Option(
        False, "--per-token", help="One array per k-mer token (token_values), not per read."
    ),
    positional: bool = typer.Option(
        True, "--positional/--no-positional", help="--per-token: add sinusoidal positions."
    ),
    mate: list[str] = typer.Option(None, "--mate", help="R2 files, in the order of INPUTS."),
    threads: int | None = THREADS,
    runner: Runner | None = RUNNER,
    address: str | None = ADDRESS,
    shared_output: bool = SHARED_OUTPUT,
    overwrite: bool = OVERWRITE,
    resume: bool = RESUME,
    quiet: bool = QUIET,
) -> None:
    """Embed reads into Parquet shards (OUT/vectors/part-*.parquet: source, record, name,
    vector; with --per-token, token_values) with OUT/manifest.json. A read's vector is the
    mean of its k-mers' L2-normalised bucket vectors (a pair's: over both mates)."""
    from ..pipeline.driver import run_pipeline
    from .run_cmd import print_summary

    read: dict[str, Any] = {"paths": inputs}
    if mate:
        read["mate_paths"] = mate
    stage = {"model": model, "dtype": dtype, "per_token": per_token, "positional": positional}
    cfg = {
        "output": output,
        "run": run_section(threads, runner, address, shared_output),
        "stages": [
            {"read": read},
            {"embed": stage},
            {"write": {"format": "parquet", "path": "vectors"}},
        ],
    }
    config = pipeline_config(ctx, cfg, "seqray embed")
    with progress_for(quiet) as progress:
        result = run_pipeline(config, resume=resume, overwrite=overwrite, progress=progress)
    print_summary(result)
