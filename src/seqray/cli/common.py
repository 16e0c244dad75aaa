"""Shared CLI pieces: the console, the error boundary, reading whole inputs in order."""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
from rich.console import Console

from ..errors import FormatError, SeqrayError
from ..io.chunks import Chunk
from ..io.parse import ReadOptions, count_chunk_records
from ..io.readers import open_chunk
from ..io.sources import Numbering, number_chunks
from ..pipeline.progress import Progress

if TYPE_CHECKING:
    import typer

    from ..pipeline.config import PipelineConfig

T = TypeVar("T")

console = Console(stderr=True)
out = Console()

EXIT_OK, EXIT_DATA, EXIT_USAGE = 0, 1, 2
ARGV: list[str] = []  # the command line as typed (set by main), to name options as typed


def pipeline_config(
    ctx: typer.Context,
    data: dict[str, Any],
    source: str,
    aliases: dict[str, str] | None = None,
) -> PipelineConfig:
    """The config of a command built from its options. An invalid value is a usage error
    (exit 2) that names the option as the user typed it; `aliases` maps config keys to
    the command's parameter names where they differ (e.g. num_cpus → threads)."""
    from ..errors import ConfigError
    from ..pipeline.config import parse_config

    try:
        return parse_config(data, source=source)
    except ConfigError as exc:
        message = str(exc).removeprefix("invalid config: ").removeprefix(f"{source}: ")
        message = re.sub(r"stages\[\d+\]\.[a-z_-]+[.:]\s*", "", message)
        raise option_error(ctx, exc.fields, message, aliases) from None


def validated(
    ctx: typer.Context,
    model: Callable[..., T],
    values: dict[str, Any],
    aliases: dict[str, str] | None = None,
) -> T:
    """`model(**values)` for a command's options, with `pipeline_config`'s usage errors."""
    from pydantic import ValidationError

    from ..errors import ConfigError
    from ..pipeline.config import explain

    try:
        return model(**values)
    except ValidationError as exc:
        err = explain("", exc)
        raise option_error(ctx, err.fields, str(err), aliases) from None
    except ConfigError as exc:
        raise option_error(ctx, exc.fields, str(exc), aliases) from None


def option_error(
    ctx: typer.Context,
    fields: list[tuple[str, str]],
    message: str,
    aliases: dict[str, str] | None,
) -> typer.BadParameter:
    """A usage error (exit 2) naming the first option behind `fields` as it was typed
    (`ctx`: the command's typer.Context)."""
    import typer

    params = {p.name: p for p in ctx.command.params}
    for key, msg in fields:
        param = params.get((aliases or {}).get(key, key))
        if param is not None and getattr(param, "opts", None):
            return typer.BadParameter(msg, param_hint=typed_option(param.opts))
    return typer.BadParameter(message)


def phred_option(value: str, hint: str = "'--phred-offset'") -> str | int:
    """'auto', 33 or 64, from the option's text."""
    import typer

    if value == "auto":
        return value
    if value in ("33", "64"):
        return int(value)
    raise typer.BadParameter(f"must be auto, 33 or 64, not {value!r}", param_hint=hint)


def typed_option(opts: list[str]) -> str:
    """The form of an option the user typed ('-q' or '--qualified_quality_phred')."""
    for a in ARGV:
        for o in opts:
            if (
                a == o
                or (o.startswith("--") and a.startswith(o + "="))
                or (len(o) == 2 and not a.startswith("--") and a.startswith(o))
            ):
                return f"'{o}'"
    return " / ".join(f"'{o}'" for o in opts)


def _seqray_cause(exc: BaseException) -> SeqrayError | None:
    """The SeqrayError behind an exception: Ray wraps task errors (RayTaskError.cause,
    Ray Data's UserCodeException.__cause__), so follow the chain."""
    seen = set()
    stack: list[BaseException | None] = [exc]
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
    chunks: list[Chunk],
    options: ReadOptions,
    rejects: list[Any] | None = None,
    progress: Progress | None = None,
) -> Iterator[tuple[Chunk, pa.Table]]:
    """All tables of all chunks in read-identity order, ordinals carried across chunks;
    records skipped under `options.lenient` are appended to `rejects`."""
    progress = progress or Progress()
    if any(c.split_pair for c in chunks):
        chunks = number_chunks(chunks, options)
    progress.phase("reading", sum(c.end - c.start for c in chunks))
    numbering = Numbering()
    done = reads = 0
    for ch in chunks:
        first = numbering.first(ch)
        reader = open_chunk(replace(ch, first_record=first), options)
        for t in reader:
            reads += len(t)
            progress.update(done + min(getattr(reader, "consumed", 0), ch.end - ch.start), reads)
            yield ch, t
        done += ch.end - ch.start
        progress.update(done, reads)
        numbering.advance(ch, first, reader.result.records)
        if rejects is not None:
            rejects += reader.result.rejects


def map_chunks_threaded(
    chunks: list[Chunk],
    options: ReadOptions,
    fn: Callable[[Chunk, ReadOptions], T],
    threads: int,
    progress: Progress | None = None,
) -> list[T]:
    """fn(chunk, options) for each chunk on a thread pool (the kernels release the GIL).
    Chunks are numbered from 0 here; record numbers in errors from later chunks are fixed
    by counting the chunks before. `progress` hears of each chunk done."""
    progress = progress or Progress()
    done = 0

    def work(ch: Chunk) -> T:
        return fn(replace(ch, first_record=0), options)

    def finished(ch: Chunk) -> None:
        nonlocal done
        done += ch.end - ch.start
        progress.update(done)

    if threads <= 1 or len(chunks) <= 1:
        out = []
        for ch in chunks:
            out.append(_located(work, ch, chunks, options))
            finished(ch)
        return out
    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(_located, work, ch, chunks, options) for ch in chunks]
        out = []
        for f, ch in zip(futures, chunks):
            out.append(f.result())
            finished(ch)
        return out


def _located(work: Callable[[Chunk], T], ch: Chunk, chunks: list[Chunk], options: ReadOptions) -> T:
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
