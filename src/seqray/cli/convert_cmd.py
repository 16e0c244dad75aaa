"""`seqray convert IN OUT`: between any input format and any registered output format
(io/formats: FASTQ, FASTA, Parquet, BAM), chosen by OUT's extension.

Round trips through seqray's own formats give FASTQ back byte for byte once it is in
seqray's normal form (upper-case sequences, '.' and other IUPAC codes as N, Phred+33,
'\n' line ends, a bare '+' line): header lines whole (BAM keeps comments in CO:Z and
what QNAME cannot hold in hx:H), pairs as pairs (`--mate` in, `--out2` out)."""

from __future__ import annotations

from typing import Literal

import typer

from ..errors import SeqrayError
from ..io.formats import (
    OutputFormat,
    ShardWriter,
    extensions_hint,
    format_for_path,
    format_names,
    get_format,
)
from ..io.parse import ReadOptions
from ..io.schema import read_schema
from ..io.sources import plan_chunks
from ..pipeline.outputs import check_new_file, normalize
from .common import console, iter_chunk_tables, phred_option
from .options import QUIET
from .progress import progress_for


def _format_of(path: str, bgzf: bool = False) -> tuple[OutputFormat, str]:
    found = format_for_path(path)
    if found is None:
        raise SeqrayError(f"{path}: unknown output extension; use {extensions_hint()}")
    fmt, comp = found
    if not fmt.takes_reads:
        raise SeqrayError(
            f"{path}: {fmt.title} output holds arrays (vectors, tokens), not reads; "
            "convert writes reads: write them with `seqray embed`/`seqray run` instead"
        )
    if bgzf and comp != "bgzf":
        if "bgzf" not in fmt.compressions or fmt.compressions["bgzf"] != fmt.compressions[comp]:
            raise SeqrayError(f"{path}: --bgzf is for .gz FASTQ/FASTA output")
        comp = "bgzf"  # BGZF keeps the .gz name
    return fmt, comp


def _per_mate() -> tuple[str, str]:
    """The titles of the formats that write a pair as two files, and of those that keep
    it in one (for messages)."""
    fmts = [f for f in (get_format(n) for n in format_names()) if f.takes_reads]
    two = "/".join(f.title for f in fmts if not f.pairs_in_one)
    one = [f.title for f in fmts if f.pairs_in_one]
    return two, ", ".join(one[:-1]) + " or " + one[-1] if len(one) > 1 else "".join(one)


def writers_for(
    path: str, paired: bool, out2: str | None = None, bgzf: bool = False
) -> list[ShardWriter]:
    """The writer of OUT, and for pairs written as one file per mate the writer of read
    2 (`out2`); each in the format and compression its name says (`.gz` as BGZF with
    `bgzf`)."""
    fmt, comp = _format_of(path, bgzf)
    two, one = _per_mate()
    if fmt.pairs_in_one or not paired:
        if out2 is not None:
            raise SeqrayError(f"--out2 is for paired input written as {two}")
        return [_open(fmt, path, comp, paired, 0)]
    if out2 is None:
        raise SeqrayError(f"paired input to {two}: give --out2 for read 2, or convert to {one}")
    fmt2, comp2 = _format_of(out2, bgzf)
    if fmt2 is not fmt:
        raise SeqrayError(f"--out2 {out2}: use the same format ({fmt.name}) as {path}")
    first = _open(fmt, path, comp, paired, 0)
    try:
        return [first, _open(fmt, out2, comp2, paired, 1)]
    except BaseException:
        first.abort()
        raise


def _open(fmt: OutputFormat, path: str, compression: str, paired: bool, mate: int) -> ShardWriter:
    _, level = fmt.check(compression, None)
    return fmt.open(
        path,
        schema=read_schema(paired),
        paired=paired,
        mate=mate,
        compression=compression,
        level=level,
    )


def convert(
    src: str = typer.Argument(..., help="Input file (any supported format, local or s3://)."),
    dst: str = typer.Argument(..., help="Output file; its extension picks the format."),
    mate: str = typer.Option(None, "--mate", help="R2 file: read pairs into one row each."),
    out2: str = typer.Option(
        None,
        "--out2",
        help="Read 2 of paired input (a mate pair, paired Parquet or BAM) "
        "written as FASTQ/FASTA: OUT gets read 1, this file read 2.",
    ),
    phred_offset: str = typer.Option("auto", help="Input quality offset: auto, 33 or 64."),
    on_error: Literal["fail", "skip"] = typer.Option(
        "fail", help="fail, or skip (bad records are dropped and counted; the count is printed)."
    ),
    keep_iupac: bool = typer.Option(False, help="Keep IUPAC codes other than N."),
    bgzf: bool = typer.Option(
        False, "--bgzf", help="Write .gz FASTQ/FASTA as BGZF (blocked gzip, still .gz)."
    ),
    quiet: bool = QUIET,
) -> None:
    """Convert reads between formats, in input order; output appears only when complete."""
    po = phred_option(phred_offset)
    chunks, inputs = plan_chunks(src, mate, phred_offset=po)
    options = ReadOptions(lenient=on_error == "skip", keep_iupac=keep_iupac)
    _check_outputs([i.info.uri for i in inputs], dst, out2)
    ws = writers_for(dst, any(c.paired for c in chunks), out2, bgzf)
    n = 0
    rejects: list = []
    try:
        with progress_for(quiet) as progress:
            for _, t in iter_chunk_tables(chunks, options, rejects, progress):
                for w in ws:
                    w.write(t)
                n += len(t)
        files = [w.commit() for w in ws]
    except BaseException:
        for w in ws:
            w.abort()
        raise
    f = files[0]
    where = f"{f.uri} and {files[1].uri}" if len(files) > 1 else f.uri
    unit = "pairs" if any(c.paired for c in chunks) else "reads"
    console.print(f"wrote {n} {unit} to {where}", highlight=False)
    if rejects:
        console.print(f"[yellow]skipped {len(rejects)} bad records[/]", highlight=False)
        for r in rejects[:5]:
            console.print(f"  {r.source}, record {r.record + 1}: {r.reason}", highlight=False)


def _check_outputs(inputs: list[str], dst: str, out2: str | None) -> None:
    """Each output is a new file, not an input, not the other output: `convert` keeps no
    record of what it wrote, so it never replaces an existing file."""
    if out2 is not None and normalize(dst) == normalize(out2):
        raise SeqrayError(f"{out2}: --out2 is the same file as OUT")
    for p, label in ((dst, "OUT"), (out2, "--out2")):
        if p is not None:
            check_new_file(p, inputs, f"convert ({label})")
