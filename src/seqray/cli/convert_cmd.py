"""`seqray convert IN OUT`: FASTQ ↔ FASTA ↔ Parquet ↔ BAM, chosen by OUT's extension."""

from __future__ import annotations

import typer

from ..errors import SeqrayError
from ..io.parse import ReadOptions
from ..io.schema import read_schema
from ..io.sources import plan_chunks
from ..io.writers import BamWriter, ParquetShardWriter, TextShardWriter
from ..pipeline.outputs import check_new_file
from .common import console, iter_chunk_tables, phred_option
from .progress import QUIET, progress_for

TEXT = {".fastq": "fastq", ".fq": "fastq", ".fasta": "fasta", ".fa": "fasta", ".fna": "fasta"}


def writer_for(path: str, paired: bool):
    p = path.lower()
    gz = p.endswith(".gz")
    stem = p[:-3] if gz else p
    for ext, kind in TEXT.items():
        if stem.endswith(ext):
            if paired:
                raise SeqrayError(
                    "paired input to FASTQ/FASTA: convert to Parquet or BAM, "
                    "or convert each mate file on its own"
                )
            return TextShardWriter(path, fastq=kind == "fastq", gzip=gz)
    if p.endswith(".parquet"):
        return ParquetShardWriter(path, read_schema(paired))
    if p.endswith(".bam"):
        return BamWriter(path, paired=paired)
    raise SeqrayError(
        f"{path}: unknown output extension; use .fastq/.fq, .fasta/.fa/.fna "
        "(optionally .gz), .parquet or .bam"
    )


def convert(
    src: str = typer.Argument(..., help="Input file (any supported format, local or s3://)."),
    dst: str = typer.Argument(..., help="Output file; its extension picks the format."),
    mate: str = typer.Option(None, "--mate", help="R2 file: read pairs into one row each."),
    phred_offset: str = typer.Option("auto", help="Input quality offset: auto, 33 or 64."),
    on_error: str = typer.Option(
        "fail", help="fail, or skip (bad records are dropped and counted; the count is printed)."
    ),
    keep_iupac: bool = typer.Option(False, help="Keep IUPAC codes other than N."),
    quiet: bool = QUIET,
) -> None:
    """Convert reads between formats, in input order; output appears only when complete."""
    if on_error not in ("fail", "skip"):
        raise typer.BadParameter("must be 'fail' or 'skip'", param_hint="--on-error")
    po = phred_option(phred_offset)
    chunks, inputs = plan_chunks(src, mate, phred_offset=po)
    check_new_file(dst, [i.info.uri for i in inputs], "convert")
    options = ReadOptions(lenient=on_error == "skip", keep_iupac=keep_iupac)
    w = None
    n = 0
    rejects: list = []
    try:
        with progress_for(quiet) as progress:
            for ch, t in iter_chunk_tables(chunks, options, rejects, progress):
                if w is None:
                    w = writer_for(dst, paired=ch.paired)
                w.write(t)
                n += len(t)
        if w is None:  # no input records at all: an empty output of the right kind
            w = writer_for(dst, paired=any(c.paired for c in chunks))
        f = w.close()
    except BaseException:
        if w is not None:
            w.abort()
        raise
    console.print(f"wrote {n} reads to {f.uri}", highlight=False)
    if rejects:
        console.print(f"[yellow]skipped {len(rejects)} bad records[/]", highlight=False)
        for r in rejects[:5]:
            console.print(f"  {r.source}, record {r.record + 1}: {r.reason}", highlight=False)
