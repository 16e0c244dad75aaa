"""FASTQ and FASTA: a Numba formatter of one mate's records, the text shard writer, and
the join of shards into one file. Both formats register here.

Compressed shards are gzip members (gzip) or BGZF blocks (bgzf), so shards concatenate
into one valid file: the single-file output of `write` is its per-chunk shards joined in
order, with the same bytes whatever the chunk size (members and blocks hold fixed groups
of records: gzip_groups.py, bgzf_groups.py). BGZF output keeps the `.gz` name.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
from numba import njit

from ...errors import SeqrayError
from ..buffers import values_offsets
from ..fs import filesystem_for
from ..schema import NAME, NAME2, QUAL, QUAL2, RECORD, SEQ, SEQ2
from ..writers import AtomicFile, WrittenFile
from . import bgzf_groups, gzip_groups
from .base import Opener, OutputFormat, WrittenShard
from .bgzf_groups import GroupBlocks
from .gzip_groups import EMPTY_GZIP, HEAD_SIZE, GroupJoin, GzipMembers, label
from .registry import register_format

FAKE_QUAL = ord("I")


@njit(cache=True, nogil=True)
def _format_records(
    nv: np.ndarray,
    no: np.ndarray,
    sv: np.ndarray,
    so: np.ndarray,
    qv: np.ndarray,
    qo: np.ndarray,
    has_qual: bool,
    fastq: bool,
    fake_qual: int,
) -> np.ndarray:
    n = len(so) - 1
    size = 0
    for i in range(n):
        size += (no[i + 1] - no[i]) + 2 * (so[i + 1] - so[i]) + 6
    out = np.empty(size, dtype=np.uint8)
    o = 0
    for i in range(n):
        out[o] = 64 if fastq else 62
        o += 1
        for p in range(no[i], no[i + 1]):
            out[o] = nv[p]
            o += 1
        out[o] = 10
        o += 1
        for p in range(so[i], so[i + 1]):
            out[o] = sv[p]
            o += 1
        out[o] = 10
        o += 1
        if fastq:
            out[o] = 43
            out[o + 1] = 10
            o += 2
            if has_qual:
                for p in range(qo[i], qo[i + 1]):
                    out[o] = qv[p]
                    o += 1
            else:
                for _ in range(so[i], so[i + 1]):
                    out[o] = fake_qual
                    o += 1
            out[o] = 10
            o += 1
    return out[:o]


def format_records(table: pa.Table, fastq: bool, mate: bool = False) -> bytes:
    """FASTQ (`@name`, seq, `+`, qual) or single-line FASTA text for one mate of a batch.

    FASTA input written as FASTQ gets quality 'I' (Q40) for every base."""
    name_c, seq_c, qual_c = (NAME2, SEQ2, QUAL2) if mate else (NAME, SEQ, QUAL)
    nv, no = values_offsets(table.column(name_c))
    sv, so = values_offsets(table.column(seq_c))
    quals = table.column(qual_c)
    has_qual = fastq and quals.null_count == 0 and len(quals) > 0
    if fastq and 0 < quals.null_count < len(quals):
        raise SeqrayError("cannot write FASTQ: some reads have a quality string and some do not")
    qv, qo = values_offsets(quals) if has_qual else (np.empty(0, np.uint8), so)
    out: bytes = _format_records(nv, no, sv, so, qv, qo, has_qual, fastq, FAKE_QUAL).tobytes()
    return out


# the compressions written in groups of records, each by its writer of groups
GROUPED: dict[str, Callable[[Callable[[bytes], None], int], GzipMembers | GroupBlocks]] = {
    "gzip": GzipMembers,
    "bgzf": GroupBlocks,
}


class TextShardWriter:
    """FASTQ/FASTA shard. A compressed shard holds its records in groups (gzip members,
    gzip_groups.py, or BGZF blocks, bgzf_groups.py), so shards concatenate, and joined
    parts have the same bytes for any chunking. A compressed shard that no read reached
    is still a valid file: one empty gzip member (EMPTY_GZIP, which `concatenate` leaves
    out where other parts have data), or the BGZF EOF block."""

    def __init__(self, uri: str, fastq: bool, compression: str, mate: bool = False, level: int = 1):
        self.file = AtomicFile(uri)
        self.fastq, self.mate = fastq, mate
        self.rows = 0
        grouped = GROUPED.get(compression)
        self.groups = grouped(self.file.write, level) if grouped is not None else None

    def write(self, table: pa.Table) -> None:
        n = len(table)
        if n == 0:
            return
        if self.groups is None:
            self.file.write(format_records(table, self.fastq, self.mate))
            self.rows += n
            return
        if RECORD in table.column_names:
            ordinals = table.column(RECORD).to_numpy()
        else:  # batches without identity: their order in this file
            ordinals = np.arange(self.rows, self.rows + n)
        groups = ordinals // gzip_groups.GROUP_RECORDS
        cuts = [0, *(np.flatnonzero(np.diff(groups)) + 1).tolist(), n]
        for a, b in zip(cuts[:-1], cuts[1:]):
            text = format_records(table.slice(a, b - a), self.fastq, self.mate)
            self.groups.add(text, int(groups[a]))
        self.rows += n

    def commit(self) -> WrittenShard:
        if self.groups is not None:
            self.groups.close()
        self.file.commit()
        return WrittenShard.of_file(self.file.written(self.rows))

    def abort(self) -> None:
        self.file.abort()


def concatenate(parts: list[str], uri: str) -> WrittenFile:
    """Joins shard files into one file: BGZF parts by `bgzf_groups.concatenate`, others
    here (gzip members concatenate into a valid gzip file; members of one group that
    chunk boundaries cut apart become one again: GroupJoin).

    Parts that are only an empty gzip member (EMPTY_GZIP) are left out: empty chunks add
    no bytes where others have data. If nothing else remains (or a `.gz` target would be
    0 bytes, e.g. from 0-byte parts of an older run), the result is that one empty
    member, so it is still valid gzip."""
    if parts and bgzf_groups.is_bgzf_file(parts[0]):
        return bgzf_groups.concatenate(parts, uri)
    out = AtomicFile(uri)
    groups = GroupJoin(out)
    empty_gzip = False
    try:
        for part in parts:
            fs, path = filesystem_for(part)
            with fs.open_input_stream(path, compression=None) as f:
                head = f.read(HEAD_SIZE)
                if head == EMPTY_GZIP and not f.read(1):
                    empty_gzip = True
                    continue
                while (found := label(head)) is not None:
                    group, size, level = found
                    groups.add(head + f.read(size - len(head)), group, level)
                    head = f.read(HEAD_SIZE)
                if head:  # not written in groups (plain text, an older part): as it is
                    groups.flush()
                    data = head
                    while data:
                        out.write(data)
                        data = f.read(8 << 20)
        groups.flush()
        if out.size == 0 and (empty_gzip or uri.lower().endswith(".gz")):
            out.write(EMPTY_GZIP)
        out.commit()
    except BaseException:
        out.abort()  # no temporary left behind, whatever failed
        raise
    return out.written()


def _opener(fastq: bool) -> Opener:
    def open_text(
        uri: str,
        *,
        schema: pa.Schema,
        paired: bool,
        mate: int,
        compression: str,
        level: int | None,
    ) -> TextShardWriter:
        lv = 1 if level is None else level
        return TextShardWriter(uri, fastq=fastq, compression=compression, mate=mate == 1, level=lv)

    return open_text


register_format(
    OutputFormat(
        name="fastq",
        title="FASTQ",
        extensions=(".fastq", ".fq"),
        open=_opener(True),
        compressions={"gzip": ".gz", "bgzf": ".gz", "none": ""},
        pairs_in_one=False,
        levels=range(0, 4),  # isal's levels
        default_level=1,
        join=concatenate,
    )
)
register_format(
    OutputFormat(
        name="fasta",
        title="FASTA",
        extensions=(".fasta", ".fa", ".fna"),
        open=_opener(False),
        compressions={"gzip": ".gz", "bgzf": ".gz", "none": ""},
        pairs_in_one=False,
        levels=range(0, 4),
        default_level=1,
        join=concatenate,
    )
)
