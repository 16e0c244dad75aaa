"""`seqray tokenize` (reads → token shards, through the pipeline) and `seqray tokenizer
export` (a Hugging Face tokenizer directory)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import typer
from rich.table import Table

from ..tokenize.registry import scheme_class, scheme_names
from .common import console, pipeline_config, validated
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

if TYPE_CHECKING:
    SchemeName = str
else:  # a choice of the registered schemes
    SchemeName = Literal[scheme_names()]

# options the `tokenize` and `tokenizer export` commands share
SCHEME = typer.Option(
    "kmer", "--scheme", metavar="<scheme>", help=f"Tokenization: {', '.join(scheme_names())}."
)
STRIDE = typer.Option(1, "--stride", help="Bases between k-mer starts.")
CANONICAL = typer.Option(True, help="hashed: reverse complements share an id.")
BUCKETS = typer.Option(None, "--buckets", help="hashed: ids = hash mod buckets.")
ALPHABET = typer.Option("full", help="protein: full, murphy10 or murphy15.")
VOCAB_SIZE = typer.Option(4096, "--vocab-size", help="bpe: vocabulary size.")
SAMPLE_READS = typer.Option(100_000, "--sample-reads", help="bpe: training reads.")
SPECIAL = typer.Option(True, "--special/--no-special", help="Add [CLS]/[SEP].")


def _scheme_options(
    scheme: str,
    k: int | None,
    stride: int,
    canonical: bool,
    buckets: int | None,
    alphabet: str,
    vocab_size: int,
    special: bool,
    max_length: int | None,
) -> dict:
    return {
        "scheme": scheme,
        "k": k,
        "stride": stride,
        "canonical": canonical,
        "buckets": buckets,
        "alphabet": alphabet,
        "vocab_size": vocab_size,
        "add_special_tokens": special,
        "max_length": max_length,
    }


OPTION_NAMES = {"add_special_tokens": "special"}  # config key → option, where they differ


def tokenize(
    ctx: typer.Context,
    inputs: list[str] = typer.Argument(..., help="Read files (any supported format, or s3://)."),
    output: str = output_option(),
    scheme: SchemeName = SCHEME,
    k: int = k_option(None, "k-mer length (kmer: 6, at most 8; hashed: 21)."),
    stride: int = STRIDE,
    canonical: bool = CANONICAL,
    buckets: int = BUCKETS,
    alphabet: str = ALPHABET,
    vocab_size: int = VOCAB_SIZE,
    sample_reads: int = SAMPLE_READS,
    tokenizer: str = typer.Option(None, "--tokenizer", help="bpe: a trained tokenizer dir."),
    special: bool = SPECIAL,
    max_length: int = typer.Option(None, "--max-length", help="Most ids a row, specials too."),
    overlap: int = typer.Option(0, "--overlap", help="Tokens shared by successive windows."),
    truncate: bool = typer.Option(False, "--truncate", help="Keep only a read's first window."),
    padding: bool = typer.Option(False, "--padding", help="Pad to max-length; attention mask."),
    mate: list[str] = typer.Option(None, "--mate", help="R2 files, in the order of INPUTS."),
    threads: int | None = THREADS,
    runner: Runner | None = RUNNER,
    address: str | None = ADDRESS,
    shared_output: bool = SHARED_OUTPUT,
    overwrite: bool = OVERWRITE,
    resume: bool = RESUME,
    quiet: bool = QUIET,
) -> None:
    """Tokenize reads into Parquet shards (OUT/tokens/part-*.parquet: source, record, window,
    offset, input_ids, attention_mask) with OUT/manifest.json and OUT/tokenizer/."""
    from ..pipeline.driver import run_pipeline
    from .run_cmd import print_summary

    stage = _scheme_options(
        scheme, k, stride, canonical, buckets, alphabet, vocab_size, special, max_length
    )
    stage.update(
        sample_reads=sample_reads,
        tokenizer=tokenizer,
        overlap=overlap,
        truncate=truncate,
        padding=padding,
    )
    read: dict = {"paths": inputs, "alphabet": scheme_class(scheme).read_alphabet}
    if mate:
        read["mate_paths"] = mate
    cfg = {
        "output": output,
        "run": run_section(threads, runner, address, shared_output),
        "stages": [
            {"read": read},
            {"tokenize": stage},
            {"write": {"format": "parquet", "path": "tokens"}},
        ],
    }
    # option errors are usage errors (exit 2), reported before anything is read
    config = pipeline_config(ctx, cfg, "seqray tokenize", OPTION_NAMES)
    with progress_for(quiet) as progress:
        result = run_pipeline(config, resume=resume, overwrite=overwrite, progress=progress)
    print_summary(result)
    if not result.verified:
        print_token_report(result.reports["tokenize"])


def print_token_report(rep: dict) -> None:
    t = Table("token statistics", "", box=None, header_style="bold")
    per = rep["tokens_per_read"]
    rows = [
        ("scheme", f"{rep['scheme']} {rep['settings'] or ''}".strip()),
        ("sequences", f"{rep['reads']:,}"),
        ("rows (windows)", f"{rep['rows']:,} ({rep['windowed_reads']:,} reads windowed)"),
        ("tokens", f"{rep['tokens']:,}"),
        ("tokens per read", f"mean {per['mean']:.1f}, min {per['min']}, max {per['max']}"),
        ("[UNK] rate", f"{rep['unk_rate']:.4%} ({rep['unk_tokens']:,})"),
        (
            "distinct tokens",
            f"{rep['distinct_tokens']:,}" + ("" if rep["distinct_exact"] else " (estimate)"),
        ),
        ("vocabulary coverage", f"{rep['vocab_coverage']:.2%} of {rep['vocab_size']:,}"),
        ("tokenizer", str(rep.get("tokenizer") or rep.get("tokenizer_note"))),
    ]
    for r in rows:
        t.add_row(*r)
    console.print(t)


tokenizer_app = typer.Typer(
    no_args_is_help=True, help="Tokenizer files: export for Hugging Face transformers."
)


@tokenizer_app.command("export")
def export(
    ctx: typer.Context,
    out_dir: str = typer.Argument(..., help="Directory to write (local or s3://)."),
    scheme: SchemeName = SCHEME,
    k: int = k_option(None, "k-mer length (kmer: 6; hashed: 21)."),
    stride: int = STRIDE,
    canonical: bool = CANONICAL,
    buckets: int = BUCKETS,
    alphabet: str = ALPHABET,
    vocab_size: int = VOCAB_SIZE,
    train: list[str] = typer.Option(None, "--train", help="bpe: read files to train on."),
    sample_reads: int = SAMPLE_READS,
    special: bool = SPECIAL,
    max_length: int = typer.Option(None, "--max-length", help="model_max_length to record."),
) -> None:
    """Write a tokenizer directory that transformers.AutoTokenizer.from_pretrained loads."""
    from ..pipeline.outputs import check_new_directory
    from ..tokenize.stage import TokenizeConfig

    opts = _scheme_options(
        scheme, k, stride, canonical, buckets, alphabet, vocab_size, special, max_length
    )
    config = validated(ctx, TokenizeConfig, opts, OPTION_NAMES)
    check_new_directory(out_dir, "tokenizer export")  # before any training
    trained = None
    if config.scheme_type.trains:
        if not train:
            raise typer.BadParameter(f"{scheme}: give reads to train on", param_hint="'--train'")
        trained = config.train(_first_reads(train, sample_reads))
    tok = config.build(trained)
    for f in tok.export(out_dir):
        console.print(f"wrote {f.uri}", highlight=False)


def _first_reads(paths: list[str], sample_reads: int) -> list[str]:
    """The first `sample_reads` reads of the files, in order (what a model trains on)."""
    from ..io.parse import ReadOptions
    from ..io.sources import plan_chunks
    from .common import iter_chunk_tables

    chunks, _ = plan_chunks(paths)
    seqs: list[str] = []
    for _, t in iter_chunk_tables(chunks, ReadOptions()):
        seqs += t.column("seq").slice(0, sample_reads - len(seqs)).cast("large_string").to_pylist()
        if len(seqs) >= sample_reads:
            break
    return seqs
