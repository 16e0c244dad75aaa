"""`seqray inspect`: per-file statistics, the numbers of `seqkit stats -a`."""

from __future__ import annotations

import json
import os

import typer
from rich.table import Table

from ..io.parse import ReadOptions
from ..io.sources import plan_chunks
from ..qc.scan_stats import chunk_stats
from ..qc.stats import ReadStats, stats_rows
from .common import map_chunks_threaded, out, phred_option
from .options import QUIET, THREADS
from .progress import progress_for

COLUMNS = [
    "file",
    "format",
    "type",
    "num_seqs",
    "sum_len",
    "min_len",
    "avg_len",
    "max_len",
    "Q1",
    "Q2",
    "Q3",
    "N50",
    "Q20(%)",
    "Q30(%)",
    "GC(%)",
    "N(%)",
]


def inspect(
    files: list[str] = typer.Argument(
        ..., help="FASTQ/FASTA/SAM/BAM/CRAM/Parquet files, globs, directories or s3:// URIs."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON list, one object per file."),
    tabular: bool = typer.Option(False, "--tabular", "-T", help="Tab-separated output."),
    threads: int | None = THREADS,
    phred_offset: str = typer.Option("auto", help="Quality offset: auto, 33 or 64."),
    chunk_bytes: int = typer.Option(
        64 << 20, min=1, help="Bytes per parallel chunk of plain text."
    ),
    quiet: bool = QUIET,
) -> None:
    """Statistics per file: reads, bases, lengths (quartiles, N50), GC, Q20/Q30."""
    po = phred_option(phred_offset)
    threads = threads or os.cpu_count() or 1  # chunks of one file are parsed in parallel
    rows = []
    with progress_for(quiet) as progress:
        for f in files:
            chunks, inputs = plan_chunks(f, chunk_bytes=chunk_bytes, phred_offset=po)
            progress.phase(f, sum(c.end - c.start for c in chunks))
            opts = ReadOptions(digest=False)
            stats = map_chunks_threaded(chunks, opts, chunk_stats, threads, progress)
            per_file = {i.info.uri: ReadStats() for i in inputs}
            for ch, st in zip(chunks, stats):
                per_file[ch.source] += st
            fmts = {i.info.uri: i.fmt or "" for i in inputs}
            for r in stats_rows(per_file, fmts, "DNA"):
                if len(inputs) == 1 and os.path.abspath(f) == r["file"]:
                    r["file"] = f  # as the user wrote it, like seqkit
                rows.append(r)
    if json_out:
        out.print_json(json.dumps(rows))
        return
    if tabular or not out.is_terminal:  # pipes and files get whole numbers, not a
        # table squeezed to 80 columns
        print("\t".join(COLUMNS))
        for r in rows:
            print("\t".join(_fmt(c, r[c]) for c in COLUMNS))
        return
    table = Table(*COLUMNS, box=None, header_style="bold")
    for r in rows:
        table.add_row(*(_fmt(c, r[c]) for c in COLUMNS))
    out.print(table)


def _fmt(col: str, v: object) -> str:
    if col in ("Q1", "Q2", "Q3", "avg_len"):
        return f"{v:.1f}"
    if col.endswith("(%)"):
        return f"{v:.2f}"
    return str(v)
