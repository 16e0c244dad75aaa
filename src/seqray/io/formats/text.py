"""FASTQ and FASTA: a Numba formatter of one mate's records, the text shard writer, and
the join of shards into one file. Both formats register here.

Gzip shards are independent members, so shards concatenate into one valid gzip file:
the single-file output of `write` is its per-chunk shards joined in order, with the same
bytes whatever the chunk size (members hold fixed groups of records: gzip_groups.py).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit

from ...errors import SeqrayError
from ..buffers import values_offsets
from ..fs import filesystem_for
from ..schema import NAME, NAME2, QUAL, QUAL2, RECORD, SEQ, SEQ2
from ..writers import AtomicFile, WrittenFile
from . import gzip_groups
from .base import Opener, OutputFormat, WrittenShard
from .gzip_groups import HEAD_SIZE, GroupJoin, label, member
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


EMPTY_GZIP = bytes.fromhex("1f8b08000000000000ff03000000000000000000")  # one empty member


class TextShardWriter:
    """FASTQ/FASTA shard. Gzip shards are independent members, one per group of records
    (gzip_groups.py), so shards concatenate, and joined parts have the same bytes for any
    chunking. A gzip shard that no read reached is one empty member (EMPTY_GZIP), a valid
    gzip file on its own, which `concatenate` leaves out where other parts have data."""

    def __init__(self, uri: str, fastq: bool, gzip: bool, mate: bool = False, level: int = 1):
        self.file = AtomicFile(uri)
        self.fastq, self.gzip, self.mate, self.level = fastq, gzip, mate, level
        self.rows = 0
        self.group = -1  # the group whose text is pending
        self.pending: list[bytes] = []

    def write(self, table: pa.Table) -> None:
        n = len(table)
        if n == 0:
            return
        if not self.gzip:
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
            group = int(groups[a])
            if self.pending and group != self.group:
                self._deflate()
            self.group = group
            self.pending.append(format_records(table.slice(a, b - a), self.fastq, self.mate))
        self.rows += n

    def _deflate(self) -> None:
        self.file.write(member(b"".join(self.pending), self.group, self.level))
        self.pending = []

    def commit(self) -> WrittenShard:
        if self.pending:
            self._deflate()
        if self.gzip and self.file.size == 0:
            self.file.write(EMPTY_GZIP)
        self.file.commit()
        return WrittenShard.of_file(self.file.written(self.rows))

    def abort(self) -> None:
        self.file.abort()


def concatenate(parts: list[str], uri: str) -> WrittenFile:
    """Join shard files (gzip members concatenate into a valid gzip file) into one file;
    members of one group that chunk boundaries cut apart become one again (GroupJoin).

    Parts that are only an empty gzip member (EMPTY_GZIP) are left out: empty chunks add
    no bytes where others have data. If nothing else remains (or a `.gz` target would be
    0 bytes, e.g. from 0-byte parts of an older run), the result is that one empty
    member, so it is still valid gzip."""
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
        gzip, lv = compression == "gzip", 1 if level is None else level
        return TextShardWriter(uri, fastq=fastq, gzip=gzip, mate=mate == 1, level=lv)

    return open_text


register_format(
    OutputFormat(
        name="fastq",
        title="FASTQ",
        extensions=(".fastq", ".fq"),
        open=_opener(True),
        compressions={"gzip": ".gz", "none": ""},
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
        compressions={"gzip": ".gz", "none": ""},
        pairs_in_one=False,
        levels=range(0, 4),
        default_level=1,
        join=concatenate,
    )
)
