"""Planning: input files → chunks, the deterministic units of parallel work.

A plain-text file is cut into byte ranges and a BGZF file into runs of whole blocks; a
gzip (or zstd) file is one chunk, since its stream cannot be entered mid-way. A chunk
[start, end) owns the records whose preceding newline lies in it (the first chunk also owns
the record at byte 0), so chunks tile a file exactly, whatever the cut points.

A pair of splittable files is cut by R1's byte ranges; each chunk then reads R2 from the
record with the same ordinal (`MateStart`, placed once R1's and R2's chunks are counted).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import FormatError
from .compression import Compression, bgzf_block_size
from .fs import FileInfo, open_input

DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024
BGZF_MAX_BLOCK = 65536


@dataclass(frozen=True)
class MateStart:
    """Where a chunk of a split pair reads R2: R2's planned chunk `index` (raw offset
    `start`), past its first `skip` records, then `take` records (None: to the end)."""

    index: int
    start: int
    skip: int
    take: int | None


@dataclass(frozen=True)
class Chunk:
    """One unit of reading: a byte range of one file (or of a pair of files)."""

    source: str
    index: int  # chunk number within the file
    start: int  # raw (compressed) byte offset
    end: int  # raw byte offset, exclusive; file size for whole-file chunks
    compression: Compression
    fmt: str  # "FASTQ" / "FASTA"
    whole_file: bool
    phred_offset: int = 33
    mate: str | None = None  # the R2 file of a pair
    mate_compression: Compression | None = None
    mate_phred_offset: int | None = None
    paired: bool = False  # rows hold both mates (text pairs, or paired Parquet)
    first_record: int | None = None  # filled by counting when known
    mate_ranges: tuple[tuple[int, int], ...] = ()  # R2's planned chunks, for a split pair
    mate_start: MateStart | None = None  # filled with first_record, for a split pair
    options: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> str:
        return f"{self.source}#{self.index}"

    @property
    def split_pair(self) -> bool:
        return bool(self.mate_ranges)

    def mate_chunks(self) -> list[Chunk]:
        """R2's planned chunks (split pairs): counted to place each chunk's R2 start."""
        return [self.mate_chunk(j) for j in range(len(self.mate_ranges))]

    def mate_chunk(self, j: int) -> Chunk:
        assert self.mate is not None and self.mate_compression is not None
        s, e = self.mate_ranges[j]
        return Chunk(
            self.mate,
            j,
            s,
            e,
            self.mate_compression,
            self.fmt,
            False,
            self.mate_phred_offset or 33,
            first_record=0 if j == 0 else None,
        )


def plan_byte_ranges(size: int, chunk_bytes: int) -> list[tuple[int, int]]:
    if size <= chunk_bytes:
        return [(0, size)]
    n = -(-size // chunk_bytes)
    step = -(-size // n)
    return [(s, min(s + step, size)) for s in range(0, size, step)]


def _find_bgzf_block(f, target: int, size: int, uri: str) -> int:
    """The first BGZF block start at or after `target` (verified by the next header)."""
    f.seek(target)
    data = f.read(2 * BGZF_MAX_BLOCK + 64)
    i = 0
    while True:
        i = data.find(b"\x1f\x8b\x08\x04", i)
        if i < 0:
            break
        bsize = bgzf_block_size(data[i : i + 64])
        if bsize is not None:
            nxt = target + i + bsize
            if nxt == size:
                return target + i
            f.seek(nxt)
            if bgzf_block_size(f.read(64)) is not None:
                return target + i
        i += 1
    if target + len(data) >= size:
        return size
    raise FormatError("no BGZF block found near this offset", path=uri, offset=target)


def plan_file(
    info: FileInfo, compression: Compression, fmt: str, chunk_bytes: int, phred_offset: int
) -> list[Chunk]:
    if compression == Compression.NONE:
        ranges = plan_byte_ranges(info.size, chunk_bytes)
    elif compression == Compression.BGZF:
        ranges = [(0, info.size)]
        if info.size > chunk_bytes:
            cuts = [0]
            with open_input(info.uri) as f:
                for target, _ in plan_byte_ranges(info.size, chunk_bytes)[1:]:
                    cut = _find_bgzf_block(f, target, info.size, info.uri)
                    if cut > cuts[-1] and cut < info.size:
                        cuts.append(cut)
            cuts.append(info.size)
            ranges = list(zip(cuts[:-1], cuts[1:]))
    else:
        ranges = [(0, info.size)]
    whole = len(ranges) == 1
    return [
        Chunk(
            source=info.uri,
            index=i,
            start=s,
            end=e,
            compression=compression,
            fmt=fmt,
            whole_file=whole,
            phred_offset=phred_offset,
            first_record=0 if i == 0 else None,
        )
        for i, (s, e) in enumerate(ranges)
    ]
