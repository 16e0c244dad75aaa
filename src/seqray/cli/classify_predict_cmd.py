"""`seqray classify predict`: reads → the label each most likely came from, with a
classifier model, through the pipeline (read → classify → write Parquet)."""

from __future__ import annotations

from typing import Any

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


def predict(
    ctx: typer.Context,
    inputs: list[str] = typer.Argument(..., help="Read files (any supported format, or s3://)."),
    model: str = typer.Option(..., "--model", help="Classifier model directory."),
    output: str = output_option(),
    top: int = typer.Option(
        1, "--top", min=1, help="Keep the N best labels per read (top_labels, top_scores)."
    ),
    min_score: float = typer.Option(
        0.0,
        "--min-score",
        min=0.0,
        max=1.0,
        help="A read whose best label's probability is lower is `unclassified`.",
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
    """Classify reads into Parquet shards (OUT/predictions/part-*.parquet: source, record,
    name, label, score; with --top N > 1, top_labels and top_scores) with OUT/manifest.json
    and reads per label in the summary. A pair is classified as one: both mates' k-mers
    vote together."""
    from ..pipeline.driver import run_pipeline
    from .run_cmd import print_summary

    read: dict[str, Any] = {"paths": inputs}
    if mate:
        read["mate_paths"] = mate
    cfg = {
        "output": output,
        "run": run_section(threads, runner, address, shared_output),
        "stages": [
            {"read": read},
            {"classify": {"model": model, "top": top, "min_score": min_score}},
            {"write": {"format": "parquet", "path": "predictions"}},
        ],
    }
    config = pipeline_config(ctx, cfg, "seqray classify predict")
    with progress_for(quiet) as progress:
        result = run_pipeline(config, resume=resume, overwrite=overwrite, progress=progress)
    print_summary(result)
