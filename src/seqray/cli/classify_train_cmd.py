"""`seqray classify train`: reference genomes and/or labelled reads → a k-mer classifier
model directory, through the pipeline (a `train_classifier` stage writing the model at the
output's root)."""

from __future__ import annotations

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
Loss = Literal["auto", "softmax", "hs"]
DType = Literal["float32", "float16", "bfloat16"]


def train(
    ctx: typer.Context,
    inputs: list[str] = typer.Argument(
        None, help="Labelled read files (with --labels; any supported format, or s3://)."
    ),
    reference: list[str] = typer.Option(
        None, "--reference", help="LABEL=FASTA reference genome (repeatable; a label may repeat)."
    ),
    label_per_record: bool = typer.Option(
        False, "--label-per-record", help="Each reference record is a label (its name)."
    ),
    labels: str = typer.Option(None, "--labels", help="TSV: read name <TAB> label, for INPUTS."),
    output: str = output_option("The model directory to write (local or s3://)."),
    k: int = k_option(13, "k-mer length (exact: at most 16).", min=1, max=32),
    hash: Hash = typer.Option("exact", "--hash", help="k-mer → bucket: exact, lsh or fnv."),
    hash_bits: int = typer.Option(22, "--hash-bits", help="lsh: id bits; fnv: 2^N buckets."),
    dim: int = typer.Option(16, "--dim", help="Vector dimensions."),
    epochs: int = typer.Option(10, "--epochs", help="Passes (fragments are sampled afresh)."),
    lr: float = typer.Option(0.5, "--lr", help="Starting learning rate (falls linearly to 0)."),
    loss: Loss = typer.Option(
        "auto", "--loss", help="softmax, hs (hierarchical), auto: softmax up to 64 labels."
    ),
    fragment: int = typer.Option(150, "--fragment", help="Length of reference fragments."),
    noise: str = typer.Option(
        "0", "--noise", help="Fragment mutations: SUB or SUB,INDEL per-base rates."
    ),
    fragments: int = typer.Option(
        None, "--fragments", help="Fragments per epoch (default: bases / fragment, ≥ 1000/label)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seeds sampling, init and hashing."),
    trainers: int = typer.Option(
        1, "--trainers", help="Training workers (Ray actors on Ray); they share --threads."
    ),
    dtype: DType = typer.Option("float32", "--dtype", help="Stored input vector type."),
    mate: list[str] | None = typer.Option(None, "--mate", help="R2 files, in the order of INPUTS."),
    threads: int | None = THREADS,
    runner: Runner | None = RUNNER,
    address: str | None = ADDRESS,
    shared_output: bool = SHARED_OUTPUT,
    overwrite: bool = OVERWRITE,
    resume: bool = RESUME,
    quiet: bool = QUIET,
) -> None:
    """Train a k-mer read classifier (fastText-style: mean of k-mer bucket vectors → softmax
    over labels) on reference genomes, sampled as noisy fragments, and/or reads labelled by a
    TSV, into a model directory (model.json, hash.npz, buckets.npy, vectors.npy, counts.npy,
    output.npy). `seqray classify predict` applies it; `seqray embed` reads its vectors."""
    from ..classify.references import parse_reference

    if inputs and not labels:
        raise typer.BadParameter("reads given as INPUT need --labels TSV", param_hint="--labels")
    if labels and not inputs:
        raise typer.BadParameter("--labels needs the labelled reads as INPUT", param_hint="INPUT")
    if not inputs and not reference:
        raise typer.BadParameter(
            "give --reference LABEL=FASTA and/or labelled reads (INPUT... --labels TSV)",
            param_hint="--reference",
        )
    refs: dict[str, list[str]] = {}
    for text in reference or []:
        try:
            label, path = parse_reference(text, label_per_record)
        except Exception as exc:
            raise typer.BadParameter(str(exc), param_hint="--reference") from None
        refs.setdefault(label or path, []).append(path)
    stage: dict[str, Any] = {
        "references": refs,
        "label_per_record": label_per_record,
        "labels": labels,
        "k": k,
        "hash": hash,
        "hash_bits": hash_bits,
        "dim": dim,
        "epochs": epochs,
        "lr": lr,
        "loss": loss,
        "fragment": fragment,
        "noise": noise,
        "fragments": fragments,
        "seed": seed,
        "workers": trainers,
        "threads": max(1, threads // trainers) if threads else None,
        "dtype": dtype,
        "directory": "",
    }
    from ..pipeline.driver import run_pipeline
    from .run_cmd import print_summary

    # without labelled reads, the references are the run's inputs (read once, handed on)
    read: dict[str, Any] = {"paths": inputs or [p for paths in refs.values() for p in paths]}
    if mate:
        read["mate_paths"] = mate
    cfg = {
        "output": output,
        "run": run_section(threads, runner, address, shared_output),
        "stages": [{"read": read}, {"train_classifier": stage}],
    }
    config = pipeline_config(ctx, cfg, "seqray classify train", {"workers": "trainers"})
    with progress_for(quiet) as progress:
        result = run_pipeline(config, resume=resume, overwrite=overwrite, progress=progress)
    print_summary(result)
    if not result.verified:
        print_training(result.reports["train_classifier"])


def print_training(rep: dict[str, Any]) -> None:
    t = Table("epoch", "examples", "examples/s", "loss", box=None, header_style="bold")
    for e in rep["epochs"]:
        t.add_row(
            str(e["epoch"]),
            f"{e['examples']:,}",
            f"{e['examples_per_second']:,.0f}",
            f"{e['loss']:.4f}",
        )
    console.print(t)
    console.print(
        f"model: {rep['model']} ({rep['labels']} labels, {rep['vocabulary']:,} buckets × "
        f"{rep['dim']}, {rep['loss']})"
    )
