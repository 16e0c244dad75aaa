"""Writers: Arrow read batches → FASTQ/FASTA (plain or gzip), Parquet, BAM; local or S3.

Every file is written atomically: locally to a temporary name renamed into place when
complete; on S3 an object only appears once its upload completes (the manifest commits it).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from isal import igzip
from numba import njit

from ..errors import SeqrayError
from .buffers import values_offsets
from .fs import filesystem_for, is_s3
from .schema import NAME, NAME2, QUAL, QUAL2, SEQ, SEQ2

FAKE_QUAL = ord("I")


@njit(cache=True, nogil=True)
def _format_records(nv, no, sv, so, qv, qo, has_qual, fastq, fake_qual):
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
    return _format_records(nv, no, sv, so, qv, qo, has_qual, fastq, FAKE_QUAL).tobytes()


@dataclass
class WrittenFile:
    uri: str
    rows: int
    bytes: int
    sha256: str


class AtomicFile:
    """A binary output stream that appears under its final name only when closed cleanly:
    written under a hidden temporary name, then renamed (on S3: copied, then deleted)."""

    def __init__(self, uri: str):
        self.uri = uri
        self.fs, self.path = filesystem_for(uri)
        d, b = self.path.rsplit("/", 1)
        self.tmp = f"{d}/.{b}.tmp-{uuid.uuid4().hex[:8]}"
        if not is_s3(uri):
            os.makedirs(d, exist_ok=True)
        self.stream = self.fs.open_output_stream(self.tmp, compression=None)
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.sha.update(data)
        self.size += len(data)
        self.stream.write(data)

    def commit(self) -> None:
        self.stream.close()
        if is_s3(self.uri):
            self.fs.move(self.tmp, self.path)
        else:
            os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self.stream.close()
        finally:
            try:
                self.fs.delete_file(self.tmp)
            except (FileNotFoundError, OSError):
                pass


class TextShardWriter:
    """FASTQ/FASTA shard; gzip shards are independent members, so shards concatenate."""

    def __init__(self, uri: str, fastq: bool, gzip: bool, mate: bool = False, level: int = 1):
        self.file = AtomicFile(uri)
        self.fastq, self.gzip, self.mate, self.level = fastq, gzip, mate, level
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if len(table) == 0:
            return
        data = format_records(table, self.fastq, self.mate)
        if self.gzip:
            data = igzip.compress(data, compresslevel=self.level, mtime=0)
        self.file.write(data)
        self.rows += len(table)

    def close(self) -> WrittenFile:
        self.file.commit()
        return WrittenFile(self.file.uri, self.rows, self.file.size, self.file.sha.hexdigest())

    def abort(self) -> None:
        self.file.abort()


class _HashingSink:
    def __init__(self, f: AtomicFile):
        self.f = f
        self.closed = False

    def write(self, data) -> int:
        self.f.write(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class ParquetShardWriter:
    """Parquet shard, one row group per batch; zstd by default."""

    def __init__(self, uri: str, schema: pa.Schema, compression: str = "zstd"):
        self.file = AtomicFile(uri)
        self.sink = pa.PythonFile(_HashingSink(self.file), mode="w")
        self.writer = pq.ParquetWriter(self.sink, schema, compression=compression)
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if len(table):
            self.writer.write_table(table)
            self.rows += len(table)

    def close(self) -> WrittenFile:
        self.writer.close()
        self.file.commit()
        return WrittenFile(self.file.uri, self.rows, self.file.size, self.file.sha.hexdigest())

    def abort(self) -> None:
        try:
            self.writer.close()  # before the file goes, so nothing writes to it later
        except (OSError, ValueError):
            pass
        self.file.abort()


class BamWriter:
    """Unaligned BAM (one record per read, flag 4; pairs flagged as mates)."""

    def __init__(self, uri: str, paired: bool = False):
        import pysam

        if is_s3(uri):
            raise SeqrayError("BAM output to S3 is not supported; write locally and upload")
        os.makedirs(os.path.dirname(os.path.abspath(uri)), exist_ok=True)
        d, b = os.path.split(os.path.abspath(uri))
        self.uri, self.tmp = uri, os.path.join(d, f".{b}.tmp-{uuid.uuid4().hex[:8]}")
        header = {"HD": {"VN": "1.6", "SO": "unknown"}}
        self.f = pysam.AlignmentFile(self.tmp, "wb", header=header)
        self.paired = paired
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        import pysam

        mates = [(NAME, SEQ, QUAL, 0x4 | (0x41 if self.paired else 0))]
        if self.paired:
            mates.append((NAME2, SEQ2, QUAL2, 0x4 | 0x81))
        cols = {c: table.column(c).to_pylist() for m in mates for c in m[:3]}
        for i in range(len(table)):
            for name_c, seq_c, qual_c, flag in mates:
                a = pysam.AlignedSegment()
                a.query_name = cols[name_c][i].split()[0] if cols[name_c][i] else "*"
                a.query_sequence = cols[seq_c][i].decode()
                q = cols[qual_c][i]
                if q is not None:
                    a.query_qualities = pysam.qualitystring_to_array(q.decode())
                a.flag = flag | (0x8 if self.paired else 0)
                self.f.write(a)
        self.rows += len(table)

    def close(self) -> WrittenFile:
        self.f.close()
        os.replace(self.tmp, self.uri)
        with open(self.uri, "rb") as fh:
            data = fh.read()
        return WrittenFile(self.uri, self.rows, len(data), hashlib.sha256(data).hexdigest())

    def abort(self) -> None:
        self.f.close()
        if os.path.exists(self.tmp):
            os.remove(self.tmp)


def write_file(uri: str, data: bytes, rows: int = 0) -> WrittenFile:
    """Writes one small file atomically in one go (reports, summaries, indexes)."""
    f = AtomicFile(uri)
    try:
        f.write(data)
        f.commit()
    except BaseException:
        f.abort()
        raise
    return WrittenFile(uri, rows, f.size, f.sha.hexdigest())


def write_json(uri: str, obj, *, indent: int = 2, sort_keys: bool = False) -> WrittenFile:
    """Writes `obj` as a JSON file atomically."""
    text = json.dumps(obj, indent=indent, sort_keys=sort_keys) + "\n"
    return write_file(uri, text.encode())


def concatenate(parts: list[str], uri: str) -> WrittenFile:
    """Join shard files (gzip members concatenate into a valid gzip file) into one file."""
    out = AtomicFile(uri)
    rows = 0
    try:
        for part in parts:
            fs, path = filesystem_for(part)
            with fs.open_input_stream(path, compression=None) as f:
                while True:
                    data = f.read(8 << 20)
                    if not data:
                        break
                    out.write(data)
    except BaseException:
        out.abort()
        raise
    out.commit()
    return WrittenFile(uri, rows, out.size, out.sha.hexdigest())
