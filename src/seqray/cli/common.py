"""Shared CLI pieces: the console, the error boundary, reading whole inputs in order."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pyarrow as pa
from rich.console import Console

from ..errors import FormatError, SeqrayError
from ..io.chunks import Chunk
from ..io.parse import ReadOptions, count_chunk_records
from ..io.readers import open_chunk
from ..io.sources import number_chunks

console = Console(stderr=True)
out = Console()

EXIT_OK, EXIT_DATA, EXIT_USAGE = 0, 1, 2


def _seqray_cause(exc: BaseException) -> SeqrayError | None:
    """The SeqrayError behind an exception: Ray wraps task errors (RayTaskError.cause,
    Ray Data's UserCodeException.__cause__), so follow the chain."""
    seen = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, SeqrayError):
            return e
        stack += [getattr(e, "cause", None), e.__cause__, e.__context__]
    return None


def report_error(exc: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exception(exc)
    err = _seqray_cause(exc)
    if err is not None:
        console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        return err.exit_code
    console.print(
        f"[bold red]internal error:[/] {type(exc).__name__}: {exc} "
        "(rerun with --debug for a traceback)",
        highlight=False,
        soft_wrap=True,
    )
    return EXIT_DATA


def iter_chunk_tables(
    chunks: list[Chunk], options: ReadOptions, rejects: list | None = None
) -> Iterator[tuple[Chunk, pa.Table]]:
    """All tables of all chunks in read-identity order, ordinals carried across chunks;
    records skipped under `options.lenient` are appended to `rejects`."""
    if any(c.split_pair for c in chunks):
        chunks = number_chunks(chunks, options)
    prev: dict[str, int] = {}
    for ch in chunks:
        first = prev.get(ch.source, 0) if ch.index else 0
        reader = open_chunk(replace(ch, first_record=first), options)
        for t in reader:
            yield ch, t
        prev[ch.source] = first + reader.result.records
        if rejects is not None:
            rejects += reader.result.rejects


def map_chunks_threaded(chunks: list[Chunk], options: ReadOptions, fn, threads: int) -> list:
    """fn(chunk, options) for each chunk on a thread pool (the kernels release the GIL).
    Chunks are numbered from 0 here; record numbers in errors from later chunks are fixed
    by counting the chunks before."""

    def work(ch: Chunk):
        return fn(replace(ch, first_record=0), options)

    if threads <= 1 or len(chunks) <= 1:
        return [_located(work, ch, chunks, options) for ch in chunks]
    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(_located, work, ch, chunks, options) for ch in chunks]
        return [f.result() for f in futures]


def _located(work, ch: Chunk, chunks: list[Chunk], options: ReadOptions):
    try:
        return work(ch)
    except FormatError as exc:
        if ch.index and exc.record is not None:
            before = [c for c in chunks if c.source == ch.source and c.index < ch.index]
            exc.record += sum(
                count_chunk_records(c, replace(options, lenient=True)) for c in before
            )
            exc.line = None
        raise


def fail(msg: str) -> None:
    console.print(f"[bold red]error:[/] {msg}", highlight=False)
    sys.exit(EXIT_USAGE)
