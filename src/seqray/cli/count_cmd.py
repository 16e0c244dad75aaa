"""`seqray count`: exact k-mer counting (a read → count pipeline), and `seqray count query`.

`seqray count -k 21 -C reads.fq.gz -o out/` is short for `seqray count run ...`: a group
whose first argument, when it is not a sub-command, goes to `run`.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from .common import console, out, pipeline_config
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


class _RunByDefault(TyperGroup):
    default = "run"

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [self.default, *args]
        return super().parse_args(ctx, args)


count_app = typer.Typer(
    cls=_RunByDefault,
    no_args_is_help=True,
    help="Exact k-mer counts (jellyfish's definitions), histogram and spectrum.\n\n"
    "seqray count -k K [-C] INPUT... -o OUT_DIR   (same as `seqray count run ...`)\n\n"
    "seqray count query OUT_DIR KMER...",
)


@count_app.command("run")
def count_run(
    ctx: typer.Context,
    inputs: list[str] = typer.Argument(
        ..., help="FASTQ/FASTA/SAM/BAM/Parquet files, globs, directories or s3:// URIs."
    ),
    k: int = k_option(..., "k-mer length, 1..32.", min=1, max=32),
    canonical: bool = typer.Option(
        False, "-C", "--canonical", help="Count a k-mer and its reverse complement together."
    ),
    output: str = output_option(),
    min_count: int = typer.Option(1, "--min-count", "-L", min=1, help="Write k-mers seen ≥ this."),
    max_count: int = typer.Option(
        None, "--max-count", "-U", min=1, help="Write k-mers seen ≤ this."
    ),
    text: bool = typer.Option(False, "--text", help="Also write each k-mer as text."),
    partitions: int = typer.Option(
        None, "--partitions", help="Output shards, a power of two (default: from input size)."
    ),
    memory: str = typer.Option("2GiB", "--memory", help="Table memory per chunk before spilling."),
    threads: int | None = THREADS,
    runner: Runner | None = RUNNER,
    address: str | None = ADDRESS,
    shared_output: bool = SHARED_OUTPUT,
    overwrite: bool = OVERWRITE,
    resume: bool = RESUME,
    quiet: bool = QUIET,
) -> None:
    """Count k-mers: OUT_DIR gets counts/part-*.parquet, histo.txt, summary.json, manifest."""
    from ..pipeline.driver import run_pipeline
    from .run_cmd import print_summary as print_run_summary

    stage: dict = {"k": k, "canonical": canonical, "min_count": min_count, "text": text}
    stage["memory"] = memory
    if max_count is not None:
        stage["max_count"] = max_count
    if partitions is not None:
        stage["partitions"] = partitions
    run = run_section(threads, runner, address, shared_output)
    cfg = pipeline_config(
        ctx,
        {"output": output, "run": run, "stages": [{"read": {"paths": inputs}}, {"count": stage}]},
        "seqray count",
        {"num_cpus": "threads"},
    )
    with progress_for(quiet) as progress:
        result = run_pipeline(cfg, resume=resume, overwrite=overwrite, progress=progress)
    if result.verified:
        print_run_summary(result)
        return
    print_summary(result.reports["count"], result.seconds)


def print_summary(s: dict, seconds: float) -> None:
    sp = s["spectrum"]
    kind = "canonical " if s["canonical"] else ""
    console.print(
        f"{s['distinct']:,} distinct {kind}{s['k']}-mers, {s['total']:,} in all, "
        f"{s['singletons']:,} seen once, most frequent ×{s['max_count']:,}; "
        f"{s['written']:,} written ({seconds:.1f} s)",
        highlight=False,
    )
    if sp["valley"] is None:
        console.print("spectrum: no error valley found (coverage too low?)", highlight=False)
    else:
        console.print(
            f"spectrum: valley at {sp['valley']}, solid k-mers from count "
            f"{sp['solid_threshold']}, peak (k-mer coverage) {sp['peak']}, "
            f"genome size ≈ {sp['genome_size']:,}",
            highlight=False,
        )


@count_app.command("query")
def count_query(
    directory: str = typer.Argument(..., help="A `seqray count` output directory."),
    kmers: list[str] = typer.Argument(None, help="k-mers to look up."),
    from_file: str = typer.Option(
        None, "--file", "-f", help="Read k-mers from this file, one a line ('-': stdin)."
    ),
) -> None:
    """Print `kmer<TAB>count` for each k-mer (0 when absent or filtered out)."""
    from ..kmers.query import KmerCounts

    asked = list(kmers or [])
    if from_file:
        asked += _kmers_from(from_file)
    if not asked:
        raise typer.BadParameter("give k-mers as arguments or with --file", param_hint="KMER")
    table = KmerCounts(directory)
    asked = [s.upper() for s in asked]
    bad = [s for s in asked if len(s) != table.k or set(s) - set("ACGT")]
    if bad:
        raise typer.BadParameter(
            f"{bad[0]!r} is not a {table.k}-mer of A, C, G, T", param_hint="KMER"
        )
    counts = table.lookup(asked)
    out.file.write("".join(f"{s}\t{int(c)}\n" for s, c in zip(asked, counts)))


def _kmers_from(path: str) -> list[str]:
    """The k-mers of a file (or stdin, '-'), one a line."""
    from ..errors import InputError

    if path == "-":
        return [s.strip() for s in sys.stdin if s.strip()]
    try:
        with open(path) as lines:
            return [s.strip() for s in lines if s.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not a text file"
        raise InputError(f"{path}: cannot read k-mers (--file): {why or exc}") from None
