"""The output formats by name: each format's module registers its `OutputFormat` here, and
`write`, `convert` and the rest ask here, never switching on a format's name."""

from __future__ import annotations

from ...errors import SeqrayError
from .base import OutputFormat

_FORMATS: dict[str, OutputFormat] = {}


def register_format(fmt: OutputFormat) -> OutputFormat:
    if fmt.name in _FORMATS:
        raise ValueError(f"output format {fmt.name!r} registered twice")
    _FORMATS[fmt.name] = fmt
    return fmt


def format_names() -> list[str]:
    """The registered formats, in registration order."""
    return list(_FORMATS)


def get_format(name: str) -> OutputFormat:
    try:
        return _FORMATS[name]
    except KeyError:
        raise SeqrayError(
            f"unknown output format {name!r}; allowed: {', '.join(format_names())}"
        ) from None


def format_for_path(path: str) -> tuple[OutputFormat, str] | None:
    """The format and compression a file name says (`r.fq.gz` → FASTQ, gzip), by the
    longest matching ending; None when no format claims it."""
    best: tuple[int, OutputFormat, str] | None = None
    low = path.lower()
    for fmt in _FORMATS.values():
        comp = fmt.compression_of(path)
        if comp is None:
            continue
        size = max(
            len(e + s)
            for e in fmt.extensions
            for s in fmt.compressions.values()
            if low.endswith(e + s)
        )
        if best is None or size > best[0]:
            best = (size, fmt, comp)
    return None if best is None else (best[1], best[2])


def extensions_hint() -> str:
    """The file endings of the formats that write reads, for messages (`convert`):
    `.fastq/.fq (optionally .gz), …`."""
    parts = []
    for fmt in _FORMATS.values():
        if not fmt.takes_reads:
            continue
        suffixes = sorted({s for s in fmt.compressions.values() if s})
        opt = f" (optionally {'/'.join(suffixes)})" if suffixes else ""
        parts.append("/".join(fmt.extensions) + opt)
    return ", ".join(parts[:-1]) + " or " + parts[-1] if len(parts) > 1 else "".join(parts)
