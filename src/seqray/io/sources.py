"""Inputs → planned chunks: detect compression, format and Phred offset, cut into chunks,
and give every chunk the ordinal of its first record (and, for split pairs, where its R2
records start)."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from isal import igzip

from ..errors import FormatError, InputError, PairingError
from .chunks import DEFAULT_CHUNK_BYTES, Chunk, MateStart, plan_file
from .compression import Compression, Format, detect_compression, detect_format
from .fs import FileInfo, expand_paths, filesystem_for, open_input
from .parse import ChunkReader, ReadOptions, count_chunk_records

HEAD_BYTES = 1 << 20
TEXT_FORMATS = ("FASTQ", "FASTA")
SPLITTABLE = (Compression.NONE, Compression.BGZF)


@dataclass(frozen=True)
class InputFile:
    info: FileInfo
    compression: Compression
    fmt: str | None  # None for an empty file
    phred_offset: int = 33


def _decompressed_head(uri: str, compression: Compression, raw_head: bytes) -> bytes:
    if compression == Compression.NONE:
        return raw_head
    with open_input(uri) as f:
        try:
            if compression == Compression.ZSTD:
                import zstandard

                return zstandard.ZstdDecompressor().stream_reader(f).read(HEAD_BYTES)
            return igzip.IGzipFile(fileobj=f, mode="rb").read(HEAD_BYTES)
        except ImportError as exc:
            raise InputError(f"{uri}: zstd input needs pip install seqray[formats]") from exc
        except (OSError, EOFError, Exception) as exc:  # corrupt stream
            raise FormatError(f"corrupt compressed data: {exc}", path=uri) from exc


def detect_phred_offset(head: bytes, complete: bool) -> int:
    """Phred+64 only if no quality byte below '@' (64) and some above 'J' (74) in the head.

    Plain Python over the first MiB (once per file): loading the Numba scanner for this
    would cost more start-up than the look itself."""
    lines = head.split(b"\n")
    if not complete:
        lines = lines[:-1]  # the last line may be cut
    quals = []
    i = 0
    while i + 3 < len(lines):
        if lines[i][:1] == b"@" and lines[i + 2][:1] == b"+":
            quals.append(lines[i + 3].rstrip(b"\r"))
            i += 4
        else:
            i += 1
    data = np.frombuffer(b"".join(quals), dtype=np.uint8)
    if len(data) == 0:
        return 33
    lo, hi = int(data.min()), int(data.max())
    return 64 if lo >= 64 and hi > 74 else 33


def inspect_input(
    info: FileInfo, phred_offset: int | str = "auto", fmt: str | None = None
) -> InputFile:
    with open_input(info.uri) as f:
        raw = f.read(HEAD_BYTES)
    compression = detect_compression(raw)
    head = _decompressed_head(info.uri, compression, raw)
    found = detect_format(head, raw)
    if found is None and head.strip(b"\r\n\t "):
        raise FormatError(
            "not a FASTQ, FASTA, SAM, BAM, CRAM or Parquet file (unrecognised content)",
            path=info.uri,
            offset=0,
        )
    name = found.value if found is not None else None
    if fmt is not None and name is not None and fmt != name:
        raise FormatError(f"expected {fmt} but the content is {name}", path=info.uri)
    offset = 33
    if name == Format.FASTQ.value:
        if phred_offset == "auto":
            offset = detect_phred_offset(head, complete=len(head) < HEAD_BYTES)
        else:
            offset = int(phred_offset)
            if offset not in (33, 64):
                raise InputError(f"phred_offset must be 33, 64 or 'auto', not {phred_offset!r}")
    return InputFile(info, compression, name, offset)


def plan_chunks(
    paths: str | Sequence[str],
    mate_paths: str | Sequence[str] | None = None,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    phred_offset: int | str = "auto",
    fmt: str | None = None,
) -> tuple[list[Chunk], list[InputFile]]:
    """Chunks for all inputs, in input order; pairs are one chunk per file pair."""
    files = [inspect_input(i, phred_offset, fmt) for i in expand_paths(list(_as_list(paths)))]
    mates: list[InputFile] = []
    if mate_paths:
        mates = [
            inspect_input(i, phred_offset, fmt) for i in expand_paths(list(_as_list(mate_paths)))
        ]
        if len(mates) != len(files):
            raise PairingError(
                f"{len(files)} R1 files but {len(mates)} R2 files: pairs need one R2 per R1"
            )
    chunks: list[Chunk] = []
    for i, f in enumerate(files):
        kind = f.fmt or (mates[i].fmt if mates else None) or "FASTQ"
        if mates:
            m = mates[i]
            if kind not in TEXT_FORMATS or (m.fmt or kind) != kind:
                raise PairingError(
                    f"paired input needs two FASTQ or FASTA files: {f.info.uri} "
                    f"is {f.fmt}, {m.info.uri} is {m.fmt}"
                )
            chunks += _plan_pair(f, m, kind, chunk_bytes)
        elif kind in TEXT_FORMATS:
            chunks += plan_file(f.info, f.compression, kind, chunk_bytes, f.phred_offset)
        else:
            paired = kind == "Parquet" and _parquet_paired(f.info.uri)
            chunks.append(_whole_file(f, kind, 33, paired=paired))
    return chunks, files + mates


def _plan_pair(f: InputFile, m: InputFile, kind: str, chunk_bytes: int) -> list[Chunk]:
    """A pair of plain or BGZF files is cut by R1's byte ranges; other pairs are one chunk."""
    mate = {
        "mate": m.info.uri,
        "mate_compression": m.compression,
        "mate_phred_offset": m.phred_offset,
        "paired": True,
    }
    if f.compression in SPLITTABLE and m.compression in SPLITTABLE:
        r1 = plan_file(f.info, f.compression, kind, chunk_bytes, f.phred_offset)
        if len(r1) > 1:
            r2 = plan_file(m.info, m.compression, kind, chunk_bytes, m.phred_offset)
            ranges = tuple((c.start, c.end) for c in r2)
            return [replace(c, mate_ranges=ranges, **mate) for c in r1]
    return [_whole_file(f, kind, f.phred_offset, **mate)]


def assign_first_records(chunks: list[Chunk], counts: Sequence[int | None]) -> list[Chunk]:
    """Fill each chunk's first-record ordinal from the record counts of its file's chunks."""
    out = []
    for _, group in itertools.groupby(zip(chunks, counts), key=lambda cc: cc[0].source):
        group = list(group)
        firsts = [0, *itertools.accumulate(c for _, c in group[:-1])] if len(group) > 1 else [0]
        out += [replace(ch, first_record=f) for (ch, _), f in zip(group, firsts)]
    return out


def needs_counting(chunks: list[Chunk]) -> list[Chunk]:
    """Chunks whose record count decides a later chunk's first ordinal, and R2's chunks of
    split pairs (they decide where each chunk's R2 records start)."""
    later = {c.source for c in chunks if c.index > 0}
    own = [c for c in chunks if c.source in later]
    pairs = {c.source: c for c in chunks if c.split_pair and c.index == 0}
    return own + [m for c in pairs.values() for m in c.mate_chunks()]


def count_here(chunks: list[Chunk], options: ReadOptions) -> list[int]:
    """Records of each chunk (bad ones included), one after another in this process."""
    return [count_chunk_records(c, options) for c in chunks]


def number_chunks(
    chunks: list[Chunk],
    options: ReadOptions | None = None,
    count: Callable[[list[Chunk], ReadOptions], list[int]] = count_here,
    known: dict[str, int] | None = None,
) -> list[Chunk]:
    """Chunks with first-record ordinals (and R2 starts of split pairs). The chunks that
    decide them are counted with `count` (maybe in parallel tasks) unless `known`
    (key → records, e.g. from the journal); `options`: how the chunks will be read."""
    options = options or ReadOptions()
    known = dict(known or {})
    todo = [c for c in needs_counting(chunks) if c.key not in known]
    if todo:
        known.update(zip([c.key for c in todo], count(todo, options)))
    numbered = assign_first_records(chunks, [known.get(c.key) for c in chunks])
    return place_mates(numbered, known, options)


def place_mates(
    chunks: list[Chunk], counts: dict[str, int], options: ReadOptions | None = None
) -> list[Chunk]:
    """Each chunk of a split pair reads R2 from the record with its first ordinal: found
    from the record counts of R2's chunks, taking as many records as R1's chunk holds.

    Mates whose counts differ are an error before any chunk is read. Counts are lenient
    (a malformed record can change them), so for a strict read (`options` not lenient)
    both files are first scanned strictly, to report the malformed record itself."""
    last = {c.source: c.index for c in chunks}
    firsts2: dict[str, list[int]] = {}  # R1 source -> first ordinal of each R2 chunk
    out = []
    for ch in chunks:
        if not ch.split_pair:
            out.append(ch)
            continue
        if ch.source not in firsts2:
            n2 = [counts[m.key] for m in ch.mate_chunks()]
            firsts2[ch.source] = [0, *itertools.accumulate(n2)]
        f2 = firsts2[ch.source]
        take: int | None = counts[ch.key]
        if ch.index == last[ch.source]:
            if ch.first_record + take != f2[-1] and options and not options.lenient:
                pair = [c for c in chunks if c.source == ch.source]
                _raise_format_error(pair, counts, options)
                _raise_format_error(ch.mate_chunks(), counts, options)
            _check_pair_counts(ch, ch.first_record + take, f2[-1])
            take = None  # to R2's end, which must come with R1's
        j = min(max(bisect.bisect_right(f2, ch.first_record) - 1, 0), len(f2) - 2)
        start = MateStart(j, ch.mate_ranges[j][0], ch.first_record - f2[j], take)
        out.append(replace(ch, mate_start=start))
    return out


def _raise_format_error(chunks: list[Chunk], counts: dict[str, int], options) -> None:
    """Scans one file's chunks strictly, in order and with their ordinals (exact up to
    the first bad record), so the first malformed record raises its located error."""
    strict = replace(options, lenient=False, digest=False)
    first = 0
    for c in chunks:
        for _ in ChunkReader(c, strict, first_record=first).iter_raw():
            pass
        first += counts[c.key]


def _check_pair_counts(ch: Chunk, n1: int, n2: int) -> None:
    if n1 != n2:
        short = ch.source if n1 < n2 else ch.mate
        raise PairingError(
            f"mate files have different numbers of records: {short} ends first",
            path=f"{ch.source} / {ch.mate}",
            record=min(n1, n2) + 1,
        )


def _whole_file(f: InputFile, kind: str, phred_offset: int, **kw) -> Chunk:
    """One chunk for a whole file (gzip text, pairs, BAM, Parquet)."""
    return Chunk(
        f.info.uri, 0, 0, f.info.size, f.compression, kind, True, phred_offset, first_record=0, **kw
    )


def _parquet_paired(uri: str) -> bool:
    import pyarrow.parquet as pq

    fs, path = filesystem_for(uri)
    try:
        return "seq2" in pq.read_schema(path, filesystem=fs).names
    except (OSError, ValueError) as exc:
        raise FormatError(f"not a readable Parquet file: {exc}", path=uri) from exc


def _as_list(x):
    return [x] if isinstance(x, str) else list(x)
