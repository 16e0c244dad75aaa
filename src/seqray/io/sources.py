"""Inputs → planned chunks: detect compression, format and Phred offset, cut into chunks,
and give every chunk the ordinal of its first record (and, for split pairs, where its R2
records start)."""

from __future__ import annotations

import bisect
import itertools
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from isal import igzip

from ..errors import FormatError, InputError, PairingError
from .chunks import DEFAULT_CHUNK_BYTES, Chunk, MateStart, plan_file
from .compression import Compression, Format, detect_compression, detect_format
from .formats.bam import BAM_PAIRS_LINE
from .fs import FileInfo, expand_paths, filesystem_for, open_input
from .parse import ChunkReader, ReadOptions, count_chunk_records

HEAD_BYTES = 1 << 20
SAMPLE_BYTES = 8 << 20  # decompressed FASTQ text that decides the Phred offset
TEXT_FORMATS = ("FASTQ", "FASTA")
SPLITTABLE = (Compression.NONE, Compression.BGZF)

# Phred+64 evidence (see detect_phred_offset)
PHRED64_MIN = ord("@")  # Q0 as Phred+64
PHRED64_MAX = ord("i")  # Q41, the highest score Illumina 1.3-1.7 pipelines wrote
PHRED64_HIGH = ord("^")  # Q30 as Phred+64 (Q61 as Phred+33)
PHRED64_HIGH_FRACTION = 0.05


@dataclass(frozen=True)
class InputFile:
    """One input as planned. For FASTQ, `phred_source` says how `phred_offset` was
    decided ("auto": detected, "set": given by the user; None for other formats) and
    `phred_evidence` what it was decided on, in words, for the run summary and manifest.
    `paired`: a BAM/SAM of read pairs (unaligned, mates one after the other)."""

    info: FileInfo
    compression: Compression
    fmt: str | None  # None for an empty file
    phred_offset: int = 33
    phred_source: str | None = None
    phred_evidence: str | None = None
    paired: bool = False


def _read_up_to(f, limit: int, piece: int = HEAD_BYTES) -> tuple[bytes, bool]:
    """Up to `limit` bytes from a decompressing stream, piece by piece: (bytes, whether
    the stream ended). A decompression error after the first piece ends the sample there
    (the reader reports it later, located by record); in the first piece it is raised."""
    parts: list[bytes] = []
    got = 0
    while got < limit:
        try:
            data = f.read(min(piece, limit - got))
        except Exception:
            if not parts:
                raise
            return b"".join(parts), False
        if not data:
            return b"".join(parts), True
        parts.append(data)
        got += len(data)
    return b"".join(parts), False


def _decompressed(
    uri: str, compression: Compression, raw_head: bytes, limit: int = HEAD_BYTES
) -> tuple[bytes, bool]:
    """The first `limit` (>= HEAD_BYTES) bytes of the decompressed text, and whether
    that is all of it. `raw_head`: the file's first HEAD_BYTES raw bytes."""
    if compression == Compression.NONE and (len(raw_head) < HEAD_BYTES or limit == HEAD_BYTES):
        return raw_head, len(raw_head) < HEAD_BYTES
    with open_input(uri) as f:
        try:
            if compression == Compression.NONE:
                data = f.read(limit)
                return data, len(data) < limit
            if compression == Compression.ZSTD:
                import zstandard

                return _read_up_to(zstandard.ZstdDecompressor().stream_reader(f), limit)
            return _read_up_to(igzip.IGzipFile(fileobj=f, mode="rb"), limit)
        except ImportError as exc:
            raise InputError(f"{uri}: zstd input needs pip install seqray[formats]") from exc
        except (OSError, EOFError, Exception) as exc:  # corrupt stream
            raise FormatError(f"corrupt compressed data: {exc}", path=uri) from exc


def quality_bytes(text: bytes, complete: bool) -> np.ndarray:
    """The bytes of the quality lines of FASTQ text, in order, without line ends.

    Vectorised over lines (no loop per record): a header is a line starting with '@'
    whose second line below starts with '+' (a quality line starting with '@' has a
    sequence two lines below it), and its quality line is the third below. Line ends (LF
    or CRLF) are left out, and so is the last, possibly cut, line of text that is not
    `complete`."""
    data = np.frombuffer(text, dtype=np.uint8)
    nl = np.flatnonzero(data == 10)
    if complete and len(data) and data[-1] != 10:
        nl = np.append(nl, len(data))  # the last line, unterminated
    n = len(nl)
    if n < 4:
        return np.empty(0, dtype=np.uint8)
    starts = np.empty(n, dtype=np.int64)
    starts[0] = 0
    starts[1:] = nl[:-1] + 1
    first = np.where(starts < nl, data[np.minimum(starts, len(data) - 1)], 0)
    is_qual = np.zeros(n, dtype=np.bool_)
    q = np.flatnonzero((first[:-3] == 64) & (first[2:-1] == 43)) + 3
    is_qual[q] = True
    ends = nl[q]
    cr = ends[(ends > starts[q]) & (data[np.maximum(ends - 1, 0)] == 13)] - 1
    mask = np.repeat(is_qual, np.diff(nl, prepend=-1))  # per byte, with each line's '\n'
    mask[ends] = False
    mask[cr] = False
    m = min(len(mask), len(data))
    return data[:m][mask[:m]]


def _show(b: int) -> str:
    return f"'{chr(b)}'" if 32 < b < 127 else f"'\\x{b:02x}'"


def _size(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MiB"
    return f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} bytes"


def decide_phred(quals: np.ndarray, sample: str) -> tuple[int, str]:
    """(offset, evidence) from quality bytes (see detect_phred_offset); `sample` says
    what was looked at ("the first 8.0 MiB", "the whole file (2.0 KiB)")."""
    n = len(quals)
    if n == 0:
        return 33, f"no quality bytes in {sample}"
    lo, hi = int(quals.min()), int(quals.max())
    seen = f"qualities {_show(lo)}..{_show(hi)} in {sample}"
    if lo < PHRED64_MIN or hi > PHRED64_MAX:
        return 33, seen
    high = int(np.count_nonzero(quals >= PHRED64_HIGH))
    share = f"{100 * high / n:.1f}% >= {_show(PHRED64_HIGH)}"
    if high >= PHRED64_HIGH_FRACTION * n:
        return 64, f"{seen}, {share}"
    return 33, f"{seen}, {share}: too few for Phred+64, read as Phred+33"


def detect_phred_offset(text: bytes, complete: bool) -> int:
    """64 only on unambiguous Phred+64 evidence in the quality lines of `text`, else 33.

    Phred+64 needs all three:
    - no byte below '@' (64): Phred+64's Q0; any lower byte is Phred+33 for certain;
    - no byte above 'i' (105): Q41, the highest score Illumina 1.3-1.7 (the pipelines
      that wrote Phred+64) gave; PacBio HiFi and other Phred+33 data reach '~' (Q93);
    - at least 5% of the bytes at '^' (94) or above: Q30+ as Phred+64.
    The third rule is what separates high-quality Phred+33 data, which also has nothing
    below '@' (every base >= Q31): Q35-Q60 ('D'..']'), an all-Q42 'K' simulation, binned
    NovaSeq/HiSeq X qualities ('F', 'J'), Q60-capped tools. Read as Phred+64, such bytes
    would be a run in which no base reaches Q30, which real Illumina 1.3-1.7 data never
    shows; real Phred+64 reads have many: 82% and 79% of the quality bytes of
    seqprep-data's HiSeq pairs, 34% and 14% of velvet-tests' older GA pairs (whose R2
    is 77% 'B', the Q2 read-end marker), so 5% keeps a margin under the worst real run.
    Phred+33 data passing all three would have no base below Q31 or above Q72 and 5% of
    them at Q61-Q72, which no instrument writes. Anything else is Phred+33."""
    return decide_phred(quality_bytes(text, complete), "the text")[0]


def _rules_out_64(quals: np.ndarray) -> bool:
    """A quality byte below '@' or above 'i': Phred+33 whatever the rest of the file."""
    return bool(len(quals)) and (quals.min() < PHRED64_MIN or quals.max() > PHRED64_MAX)


def _phred_of(
    uri: str, compression: Compression, raw: bytes, head: bytes, complete: bool
) -> tuple[int, str]:
    """Offset and evidence for a FASTQ file: from the first MiB when it already rules
    Phred+64 out (the usual case: no further read), else from the first SAMPLE_BYTES of
    decompressed text (the whole file when smaller)."""
    if not complete:
        quals = quality_bytes(head, False)
        if _rules_out_64(quals):
            return decide_phred(quals, "the first 1.0 MiB")
        head, complete = _decompressed(uri, compression, raw, SAMPLE_BYTES)
    where = f"the whole file ({_size(len(head))})" if complete else f"the first {_size(len(head))}"
    return decide_phred(quality_bytes(head, complete), where)


def _bam_paired(head: bytes, complete: bool, fmt: str) -> bool:
    """True for an unaligned BAM/SAM (no reference sequences) whose first record is read 1
    of a pair: the layout of `seqray convert --mate`, `samtools import -1 -2` and Picard's
    FastqToSam, with each read 2 right after its read 1. With no records at all, seqray's
    own header line for pairs (BAM_PAIRS_LINE) says so."""
    pairs_line = BAM_PAIRS_LINE.encode()
    try:
        if fmt == Format.BAM.value:
            (l_text,) = struct.unpack_from("<i", head, 4)
            (n_ref,) = struct.unpack_from("<i", head, 8 + l_text)
            if n_ref != 0:
                return False
            if complete and len(head) == 12 + l_text:
                return pairs_line in head[8 : 8 + l_text]
            (flag,) = struct.unpack_from("<H", head, 12 + l_text + 4 + 14)
        elif fmt == Format.SAM.value:
            lines = head.split(b"\n")
            if any(line.startswith(b"@SQ\t") for line in lines):
                return False
            records = [line for line in lines if line and not line.startswith(b"@")]
            if complete and not records:
                return pairs_line.rstrip(b"\n") in lines
            flag = int(records[0].split(b"\t")[1])
        else:
            return False
    except (struct.error, IndexError, ValueError):
        return False
    return flag & 0x9C1 == 0x41


def inspect_input(
    info: FileInfo, phred_offset: int | str = "auto", fmt: str | None = None
) -> InputFile:
    """Compression, format and, for FASTQ, the Phred offset with how it was decided."""
    with open_input(info.uri) as f:
        raw = f.read(HEAD_BYTES)
    compression = detect_compression(raw)
    head, complete = _decompressed(info.uri, compression, raw)
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
    if phred_offset != "auto" and phred_offset not in (33, 64, "33", "64"):
        raise InputError(f"phred_offset must be 33, 64 or 'auto', not {phred_offset!r}")
    if name != Format.FASTQ.value:
        return InputFile(
            info, compression, name, paired=name is not None and _bam_paired(head, complete, name)
        )
    if phred_offset == "auto":
        offset, evidence = _phred_of(info.uri, compression, raw, head, complete)
        return InputFile(info, compression, name, offset, "auto", evidence)
    offset = int(phred_offset)
    return InputFile(info, compression, name, offset, "set", f"Phred+{offset} as set")


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
            paired = f.paired or (kind == "Parquet" and _parquet_paired(f.info.uri))
            chunks.append(_whole_file(f, kind, 33, paired=paired))
    return chunks, files + mates


def _plan_pair(f: InputFile, m: InputFile, kind: str, chunk_bytes: int) -> list[Chunk]:
    """A pair of plain or BGZF files is cut by R1's byte ranges; other pairs are one chunk."""
    mate: dict[str, Any] = {
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


class Numbering:
    """First-record ordinals of chunks taken in plan order: a chunk's first record follows
    the records of its file's chunks before it. The one place ordinals are numbered."""

    def __init__(self) -> None:
        self.next: dict[str, int] = {}  # source -> ordinal after its last chunk seen

    def first(self, chunk: Chunk) -> int:
        return self.next.get(chunk.source, 0) if chunk.index else 0

    def advance(self, chunk: Chunk, first: int, records: int) -> None:
        self.next[chunk.source] = first + records


def assign_first_records(chunks: list[Chunk], counts: Sequence[int | None]) -> list[Chunk]:
    """Fill each chunk's first-record ordinal from the record counts of its file's chunks
    (a chunk's own count may be unknown when no chunk of its file follows it)."""
    numbering = Numbering()
    out = []
    for ch, n in zip(chunks, counts):
        first = numbering.first(ch)
        out.append(replace(ch, first_record=first))
        if n is not None:
            numbering.advance(ch, first, n)
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
        first = ch.first_record
        if first is None:
            raise ValueError(f"{ch.key}: a split pair's chunk needs numbering first")
        n = counts[ch.key]
        take: int | None = n
        if ch.index == last[ch.source]:
            if first + n != f2[-1] and options and not options.lenient:
                pair = [c for c in chunks if c.source == ch.source]
                _raise_format_error(pair, counts, options)
                _raise_format_error(ch.mate_chunks(), counts, options)
            _check_pair_counts(ch, first + n, f2[-1])
            take = None  # to R2's end, which must come with R1's
        j = min(max(bisect.bisect_right(f2, first) - 1, 0), len(f2) - 2)
        start = MateStart(j, ch.mate_ranges[j][0], first - f2[j], take)
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
