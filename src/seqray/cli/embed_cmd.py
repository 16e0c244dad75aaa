"""`seqray embed`: reads → one vector per read (or per-token arrays), through the pipeline
(read → embed → write), with a seqray k-mer model (`--backend lsh`) or a local Hugging Face
encoder (`--backend hf`)."""

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

HF_PANEL = "Hugging Face models (--backend hf)"
LSH_PANEL = "k-mer models (--backend lsh)"


def embed(
    ctx: typer.Context,
    inputs: list[str] = typer.Argument(..., help="Read files (any supported format, or s3://)."),
    model: str = typer.Option(
        ...,
        "--model",
        help="Model directory: seqray embeddings train's (lsh) or a Hugging Face "
        "save_pretrained directory (hf; nothing is downloaded).",
    ),
    output: str = output_option(),
    backend: Literal["lsh", "hf"] = typer.Option(
        "lsh", "--backend", help="lsh: a seqray k-mer model; hf: a Hugging Face encoder."
    ),
    dtype: Literal["float32", "float16"] = typer.Option(
        "float32", "--dtype", help="Type of the output vectors."
    ),
    fmt: str = typer.Option(
        "parquet",
        "--format",
        help="Output format of the vectors (a registered output format: parquet, …).",
    ),
    per_token: bool = typer.Option(
        False,
        "--per-token",
        help="One array per k-mer token (token_values), not per read.",
        rich_help_panel=LSH_PANEL,
    ),
    positional: bool = typer.Option(
        True,
        "--positional/--no-positional",
        help="--per-token: add sinusoidal positions.",
        rich_help_panel=LSH_PANEL,
    ),
    mate: list[str] = typer.Option(
        None,
        "--mate",
        help="R2 files, in the order of INPUTS (lsh only).",
        rich_help_panel=LSH_PANEL,
    ),
    pooling: Literal["cls", "mean", "tokens"] | None = typer.Option(
        None,
        "--pooling",
        help="cls (first token), mean (of the read's own tokens; default), or tokens "
        "(per-token arrays, token_values).",
        rich_help_panel=HF_PANEL,
    ),
    max_length: int | None = typer.Option(
        None,
        "--max-length",
        min=2,
        help="Tokens per window, special tokens included (default: the model's limit); "
        "longer reads are cut into overlapping windows.",
        rich_help_panel=HF_PANEL,
    ),
    overlap: int | None = typer.Option(
        None,
        "--overlap",
        min=0,
        help="Tokens shared by consecutive windows (default: an eighth of a window).",
        rich_help_panel=HF_PANEL,
    ),
    batch_tokens: int | None = typer.Option(
        None,
        "--batch-tokens",
        min=1,
        help="Padded tokens per model batch (default 16384).",
        rich_help_panel=HF_PANEL,
    ),
    precision: Literal["auto", "float32", "float16", "bfloat16"] | None = typer.Option(
        None,
        "--precision",
        help="Compute precision; auto: bfloat16 autocast on a GPU (float16 where it has no "
        "bfloat16), float32 on the CPU. The output type is --dtype.",
        rich_help_panel=HF_PANEL,
    ),
    device: str | None = typer.Option(
        None,
        "--device",
        help="auto (a GPU where torch sees one, one per worker), cpu, cuda, cuda:1…",
        rich_help_panel=HF_PANEL,
    ),
    threads: int | None = THREADS,
    runner: Runner | None = RUNNER,
    address: str | None = ADDRESS,
    shared_output: bool = SHARED_OUTPUT,
    overwrite: bool = OVERWRITE,
    resume: bool = RESUME,
    quiet: bool = QUIET,
) -> None:
    """Embed reads into OUT/vectors/ shards (source, record, name, vector; per-token:
    token_values) with OUT/manifest.json. lsh: a read's vector is the mean of its k-mers'
    L2-normalised bucket vectors (a pair's: over both mates). hf: a Hugging Face
    encoder's pooled hidden states (docs/hf-embeddings.md)."""
    from ..pipeline.driver import run_pipeline
    from .run_cmd import print_summary

    hf = {
        "pooling": pooling,
        "max_length": max_length,
        "overlap": overlap,
        "batch_tokens": batch_tokens,
        "precision": precision,
        "device": device,
    }
    given = [k for k, v in hf.items() if v is not None]
    if backend == "lsh" and given:
        opts = ", ".join("--" + k.replace("_", "-") for k in given)
        raise typer.BadParameter(f"{opts}: for --backend hf only")
    if backend == "hf":
        lsh = [o for o, v in (("--per-token", per_token), ("--no-positional", not positional)) if v]
        if lsh:
            raise typer.BadParameter(
                f"{', '.join(lsh)}: for --backend lsh only (hf: --pooling tokens gives "
                "per-token arrays)"
            )
        if mate:
            raise typer.BadParameter(
                "--mate: --backend hf embeds single reads; give the R1 and R2 files as "
                "INPUTS (each read is embedded on its own)"
            )
    read: dict[str, Any] = {"paths": inputs}
    if mate:
        read["mate_paths"] = mate
    stage: dict[str, Any] = {"model": model, "dtype": dtype}
    if backend == "hf":
        stage.update(backend="hf", **{k: v for k, v in hf.items() if v is not None})
    else:
        stage.update(per_token=per_token, positional=positional)
    cfg = {
        "output": output,
        "run": run_section(threads, runner, address, shared_output),
        "stages": [
            {"read": read},
            {"embed": stage},
            {"write": {"format": fmt, "path": "vectors"}},
        ],
    }
    config = pipeline_config(ctx, cfg, "seqray embed", aliases={"format": "fmt"})
    with progress_for(quiet) as progress:
        result = run_pipeline(config, resume=resume, overwrite=overwrite, progress=progress)
    print_summary(result)
