"""`seqray serve`: an embedding model over HTTP (Ray Serve) until Ctrl-C or SIGTERM."""

from __future__ import annotations

import logging
from typing import Any, Literal

import typer

from .common import console, out, validated

LIMITS_PANEL = "Limits"
BATCH_PANEL = "Batching and resources"
HF_PANEL = "Hugging Face backend (--backend hf)"


def serve(
    ctx: typer.Context,
    model: str = typer.Option(
        ..., "--model", help="Model directory: seqray embeddings (lsh) or Hugging Face (hf)."
    ),
    backend: Literal["lsh", "hf"] = typer.Option(
        "lsh", "--backend", help="lsh: a `seqray embeddings train` model; hf: a transformer."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    address: str | None = typer.Option(
        None,
        "--address",
        help="Ray cluster address (or RAY_ADDRESS): the replicas run there (the model "
        "directory must be at the same path on its nodes). Default: a local Ray.",
    ),
    replicas: int = typer.Option(
        1,
        "--replicas",
        min=1,
        help="Copies of the model, each answering requests.",
        rich_help_panel=BATCH_PANEL,
    ),
    threads: int = typer.Option(
        1,
        "--threads",
        "-t",
        min=1,
        help="CPUs of each replica (Ray resources; hf: torch threads).",
        rich_help_panel=BATCH_PANEL,
    ),
    num_gpus: float = typer.Option(
        0.0,
        "--num-gpus",
        min=0.0,
        help="GPUs of each replica (fractions share a GPU).",
        rich_help_panel=BATCH_PANEL,
    ),
    max_batch_size: int = typer.Option(
        1024,
        "--max-batch-size",
        min=1,
        help="Most sequences in one embed call (at least "
        "--max-sequences: a request is never split).",
        rich_help_panel=BATCH_PANEL,
    ),
    batch_wait_ms: float = typer.Option(
        5.0,
        "--batch-wait-ms",
        min=0.0,
        help="How long a batch waits for more requests after its first.",
        rich_help_panel=BATCH_PANEL,
    ),
    max_ongoing_requests: int = typer.Option(
        64,
        "--max-ongoing-requests",
        min=1,
        help="Requests a replica holds at once "
        "(batching or embedding); more wait in Serve's queue.",
        rich_help_panel=BATCH_PANEL,
    ),
    max_sequences: int = typer.Option(
        1024,
        "--max-sequences",
        min=1,
        help="Most sequences in one request (more: 413).",
        rich_help_panel=LIMITS_PANEL,
    ),
    max_sequence_length: int = typer.Option(
        1_000_000,
        "--max-sequence-length",
        min=1,
        help="Most letters in one sequence (more: 413).",
        rich_help_panel=LIMITS_PANEL,
    ),
    max_body_bytes: int = typer.Option(
        64 << 20,
        "--max-body-bytes",
        min=1,
        help="Largest request body (more: 413).",
        rich_help_panel=LIMITS_PANEL,
    ),
    pooling: Literal["cls", "mean"] | None = typer.Option(
        None,
        "--pooling",
        help="One vector per sequence: the CLS token's or the mean.",
        rich_help_panel=HF_PANEL,
    ),
    max_length: int | None = typer.Option(
        None,
        "--max-length",
        min=2,
        help="Model window in tokens (longer sequences are cut into overlapping windows).",
        rich_help_panel=HF_PANEL,
    ),
    overlap: int | None = typer.Option(
        None,
        "--overlap",
        min=0,
        help="Tokens shared by neighbouring windows.",
        rich_help_panel=HF_PANEL,
    ),
    batch_tokens: int | None = typer.Option(
        None,
        "--batch-tokens",
        min=1,
        help="Tokens per forward pass.",
        rich_help_panel=HF_PANEL,
    ),
    precision: Literal["auto", "float32", "float16", "bfloat16"] | None = typer.Option(
        None,
        "--precision",
        help="Compute precision; auto: bfloat16 on a GPU, float32 on the CPU.",
        rich_help_panel=HF_PANEL,
    ),
    device: str | None = typer.Option(
        None,
        "--device",
        help="auto (a GPU where torch sees one: give --num-gpus), cpu, cuda, cuda:1…",
        rich_help_panel=HF_PANEL,
    ),
    alphabet: Literal["dna", "protein"] = typer.Option(
        "dna",
        "--alphabet",
        help="Letters a request may hold: dna (ACGTN, IUPAC codes as N) or protein "
        "(A-Z, *); protein needs --backend hf.",
        rich_help_panel=LIMITS_PANEL,
    ),
) -> None:
    """Serve embeddings over HTTP: POST /embed {"sequences": [...]} gives
    {"vectors": [[...]], "model", "dim", "backend"}, the vectors `seqray embed` writes for
    the same sequences; GET /health. Runs until Ctrl-C or SIGTERM (docs/serve.md)."""
    from ..serve.app import ServeSettings
    from ..serve.requests import Limits
    from ..serve.service import running, wait_for_stop

    given = {
        "pooling": pooling,
        "max_length": max_length,
        "overlap": overlap,
        "batch_tokens": batch_tokens,
        "precision": precision,
        "device": device,
    }
    options: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if backend == "hf":
        options.setdefault("threads", threads)
    limits = Limits(max_sequences, max_sequence_length, max_body_bytes)
    settings = validated(
        ctx,
        ServeSettings,
        {
            "model": model,
            "backend": backend,
            "alphabet": alphabet,
            "options": options,
            "limits": limits,
            "max_batch_size": max_batch_size,
            "batch_wait_ms": batch_wait_ms,
            "replicas": replicas,
            "num_cpus": float(threads),
            "num_gpus": num_gpus,
            "max_ongoing_requests": max_ongoing_requests,
        },
    )
    # Serve's start-up lines (one says new http_options "will not be applied": they were)
    logging.getLogger("ray.serve").setLevel(logging.WARNING)
    console.print(f"starting the service for {model} ...", highlight=False)
    with running(settings, host, port, address) as endpoint:
        out.print(
            f"serving {model} ({backend}) at {endpoint.url}: POST {endpoint.url}/embed, "
            f"GET {endpoint.url}/health; Ctrl-C to stop",
            highlight=False,
            soft_wrap=True,
        )
        stopped_by = wait_for_stop()
        console.print(f"{stopped_by}: stopping the service", highlight=False)
