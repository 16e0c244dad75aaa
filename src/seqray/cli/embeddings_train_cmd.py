"""`seqray embeddings train`: reads → an LSHvec-style k-mer embedding model directory,
through the pipeline (a `train_embeddings` stage writing the model at the output's root)."""

from __future__ import annotations

import os
from typing import Any, Literal

import typer
from rich.table import Table

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

Hash = Literal["lsh", "fnv", "exact"]
DType = Literal["float32", "float16", "bfloat16"]


def train(
    ctx: typer.Context,
    inputs: list[str] = typer.Argument(..., help="Read files (any supported format, or s3://)."),
    output: str = output_option("The model directory to write (local or s3://)."),
    k: int = k_option(8, "k-mer length (exact: at most 16).", min=1, max=32),
    hash: Hash = typer.Option("exact", "--hash", help="k-mer → bucket: exact, lsh or fnv."),
    hash_bits: int = typer.Option(20, "--hash-bits", help="lsh: id bits; fnv: 2^N buckets."),
    buckets: int | None = typer.Option(
        None, "--buckets", help="fnv: bucket count (overrides bits)."
    ),
    dim: int = typer.Option(100, "--dim", help="Vector dimensions."),
    window: int = typer.Option(5, "--window", help="Context k-mers on each side (at most)."),
    negatives: int = typer.Option(5, "--negatives", help="Negative samples per pair."),
    epochs: int = typer.Option(5, "--epochs", help="Passes over the reads."),
    min_count: int = typer.Option(2, "--min-count", help="Buckets seen fewer times are dropped."),
    sample: float = typer.Option(1e-3, "--sample", help="Frequent-bucket subsampling threshold."),
    lr: float = typer.Option(0.025, "--lr", help="Starting learning rate (decays linearly)."),
    seed: int = typer.Option(0, "--seed", help="Seeds hyperplanes, init and sampling."),
    trainers: int = typer.Option(
        1, "--trainers", help="Training workers (Ray actors on Ray); they share --threads."
    ),
    syncs: int = typer.Option(
        None, "--syncs", help="Merge points per epoch (default: 2 × trainers × threads, ≥ 4)."
    ),
    hogwild: bool = typer.Option(
        False, "--hogwild", help="Threads share a replica: faster, not reproducible."
    ),
    dtype: DType = typer.Option("float32", "--dtype", help="Stored vector type."),
    mate: list[str] | None = typer.Option(None, "--mate", help="R2 files, in the order of INPUTS."),
    threads: int | None = THREADS,
    runner: Runner | None = RUNNER,
    address: str | None = ADDRESS,
    shared_output: bool = SHARED_OUTPUT,
    overwrite: bool = OVERWRITE,
    resume: bool = RESUME,
    quiet: bool = QUIET,
) -> None:
    """Train k-mer embeddings on reads (skip-gram over hashed k-mers, LSHvec's scheme) into a
    model directory: model.json, hash.npz, buckets.npy, vectors.npy, counts.npy."""
    stage = {
        "k": k,
        "hash": hash,
        "hash_bits": hash_bits,
        "buckets": buckets,
        "dim": dim,
        "window": window,
        "negatives": negatives,
        "epochs": epochs,
        "min_count": min_count,
        "sample": sample,
        "lr": lr,
        "seed": seed,
        "workers": trainers,
        # the run's CPUs (--threads; default: what the runner has) shared among the trainers
        "threads": max(1, threads // trainers) if threads else None,
        "syncs": syncs,
        "hogwild": hogwild,
        "dtype": dtype,
        "directory": "",
    }
    run_training(
        ctx, inputs, mate, output, stage, threads, runner, address, shared_output, overwrite,
        resume, quiet,
    )  # fmt: skip


def run_training(
    ctx: typer.Context,
    inputs: list[str],
    mate: list[str] | None,
    output: str,
    stage: dict[str, Any],
    threads: int | None,
    runner: Runner | None,
    address: str | None,
    shared_output: bool,
    overwrite: bool,
    resume: bool,
    quiet: bool,
) -> None:
    """The `embeddings train` pipeline (read → train_embeddings) with `stage`'s settings."""
    from ..pipeline.driver import run_pipeline
    from .run_cmd import print_summary

    read: dict[str, Any] = {"paths": inputs}
    if mate:
        read["mate_paths"] = mate
    cfg = {
        "output": output,
        "run": run_section(threads, runner, address, shared_output),
        "stages": [{"read": read}, {"train_embeddings": stage}],
    }
    config = pipeline_config(ctx, cfg, "seqray embeddings train", {"workers": "trainers"})
    with progress_for(quiet) as progress:
        result = run_pipeline(config, resume=resume, overwrite=overwrite, progress=progress)
    print_summary(result)
    if not result.verified:
        print_training(result.reports["train_embeddings"])


def print_training(rep: dict[str, Any]) -> None:
    t = Table("epoch", "words", "words/s", "loss", box=None, header_style="bold")
    for e in rep["epochs"]:
        t.add_row(
            str(e["epoch"]), f"{e['words']:,}", f"{e['words_per_second']:,.0f}", f"{e['loss']:.4f}"
        )
    console.print(t)
    console.print(
        f"model: {rep['model']} ({rep['vocabulary']:,} buckets × {rep['dim']}, {rep['dtype']})"
    )


def _choices(text: str, option: str, kind: type = int) -> list[Any]:
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        raise typer.BadParameter(
            f"expected a comma-separated list, got {text!r}", param_hint=option
        )
    return values


def tune(
    ctx: typer.Context,
    inputs: list[str] = typer.Argument(..., help="Read files (FASTQ/FASTA/BAM, or s3://)."),
    labels: str = typer.Option(..., "--labels", help="TSV: read name <TAB> label."),
    output: str = output_option("The model directory for the best setting (local or s3://)."),
    k: str = typer.Option("6,8,10", "--k", "-k", help="k values to try (comma-separated)."),
    hash_bits: str = typer.Option("16,20", "--hash-bits", help="Hash bits to try (lsh, fnv)."),
    dim: str = typer.Option("50,100", "--dim", help="Dimensions to try."),
    window: str = typer.Option("3,5", "--window", help="Windows to try."),
    hash: Hash = typer.Option("exact", "--hash", help="k-mer → bucket: exact, lsh or fnv."),
    trials: int = typer.Option(8, "--trials", help="Settings sampled from the choices."),
    epochs: int = typer.Option(3, "--epochs", help="Most epochs a trial trains (ASHA stops some)."),
    seed: int = typer.Option(0, "--seed", help="Seeds the search and the training."),
    threads: int | None = THREADS,
    runner: Runner | None = RUNNER,
    address: str | None = ADDRESS,
    shared_output: bool = SHARED_OUTPUT,
    overwrite: bool = OVERWRITE,
    resume: bool = RESUME,
    quiet: bool = QUIET,
) -> None:
    """Search k, hash bits, dim and window with Ray Tune (ASHA), scoring each trial by the
    held-out accuracy of a logistic regression on its read vectors against your labels;
    then train the best setting on all reads into OUT (model.json's training.search lists
    every trial).
    The run options apply to that last training (trials run on Ray)."""
    import json

    from ..embed.sgns import SgnsParams
    from ..embed.tune import load_labelled, search
    from ..errors import ConfigError, OutputError
    from ..io.fs import exists, join
    from ..pipeline.runners.ray import RayRunner

    try:
        import sklearn  # type: ignore[import-untyped]  # noqa: F401
        from ray import tune as _  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"seqray embeddings tune needs Ray Tune and scikit-learn ({exc.name} is missing): "
            "pip install 'seqray[tune]'"
        ) from None
    space: dict[str, list[Any]] = {
        "k": _choices(k, "--k"),
        "hash_bits": _choices(hash_bits, "--hash-bits"),
        "dim": _choices(dim, "--dim"),
        "window": _choices(window, "--window"),
        "hash": [hash],
    }
    if hash == "exact":  # no hash bits: the id is the k-mer
        del space["hash_bits"]
    # the output is checked before the search, not after it
    if (
        not (overwrite or resume)
        and exists(output)
        and (exists(join(output, "manifest.json")) or exists(join(output, "_seqray")))
    ):
        raise OutputError(
            f"{output}: a seqray run is already there; use --overwrite to replace it "
            "(or choose another output)"
        )
    threads = threads or os.cpu_count() or 1
    data = load_labelled(inputs, labels)
    RayRunner(address).start()  # trials run on Ray (the cluster at --address, if given)
    base = SgnsParams(epochs=epochs, seed=seed)
    if not quiet:
        console.print(f"tuning: {trials} trials over {json.dumps(space)}, up to {epochs} epochs")
    best, rows = search(data, space, base, trials, threads, seed)
    t = Table(*space, "accuracy", "epochs", box=None, header_style="bold")
    for row in rows:
        t.add_row(*(str(row[key]) for key in space), f"{row['accuracy']:.4f}", str(row["epochs"]))
    console.print(t)
    console.print(f"best: {json.dumps(best)}; training it on all reads into {output}")
    stage = {
        **best,
        "epochs": epochs,
        "min_count": 1,
        "seed": seed,
        "threads": threads,
        "directory": "",
        "search": {"space": space, "best": best, "trials": rows, "labels": labels},
    }
    run_training(
        ctx, inputs, None, output, stage, threads, runner, address, shared_output, overwrite,
        resume, quiet,
    )  # fmt: skip
