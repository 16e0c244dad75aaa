"""Compression and format detection by content (magic bytes), never by extension."""

from __future__ import annotations

import struct
from enum import Enum

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"


class Compression(str, Enum):
    NONE = "none"
    GZIP = "gzip"
    BGZF = "bgzf"
    ZSTD = "zstd"


def detect_compression(head: bytes) -> Compression:
    if head.startswith(GZIP_MAGIC):
        return Compression.BGZF if is_bgzf_header(head) else Compression.GZIP
    if head.startswith(ZSTD_MAGIC):
        return Compression.ZSTD
    return Compression.NONE


def is_bgzf_header(head: bytes) -> bool:
    """A gzip member with FEXTRA holding the 'BC' subfield (SAM spec section 4.1)."""
    if len(head) < 18 or head[:4] != b"\x1f\x8b\x08\x04":
        return False
    xlen = struct.unpack_from("<H", head, 10)[0]
    extra = head[12 : 12 + xlen]
    i = 0
    while i + 4 <= len(extra):
        si1, si2, slen = extra[i], extra[i + 1], struct.unpack_from("<H", extra, i + 2)[0]
        if si1 == 66 and si2 == 67 and slen == 2:
            return True
        i += 4 + slen
    return False


def bgzf_block_size(head: bytes) -> int | None:
    """Total size of the BGZF block whose header starts `head`, or None if not a block."""
    if not is_bgzf_header(head):
        return None
    xlen = struct.unpack_from("<H", head, 10)[0]
    extra = head[12 : 12 + xlen]
    i = 0
    while i + 4 <= len(extra):
        si1, si2, slen = extra[i], extra[i + 1], struct.unpack_from("<H", extra, i + 2)[0]
        if si1 == 66 and si2 == 67 and slen == 2:
            return struct.unpack_from("<H", extra, i + 4)[0] + 1
        i += 4 + slen
    return None


class Format(str, Enum):
    FASTQ = "FASTQ"
    FASTA = "FASTA"
    SAM = "SAM"
    BAM = "BAM"
    CRAM = "CRAM"
    PARQUET = "Parquet"


def _fastq_record(lines: list[bytes]) -> bool:
    """The first lines hold a FASTQ record: a '+' line two below the header and a quality
    line as long as the sequence (a SAM header line is never followed by that)."""
    if len(lines) < 4 or lines[2][:1] != b"+":
        return False
    return len(lines[1].rstrip(b"\r")) == len(lines[3].rstrip(b"\r"))


def detect_format(decompressed_head: bytes, raw_head: bytes) -> Format | None:
    """The format of a file from its first decompressed bytes; None if empty."""
    if raw_head.startswith(b"PAR1"):
        return Format.PARQUET
    if raw_head.startswith(b"CRAM"):
        return Format.CRAM
    if decompressed_head.startswith(b"BAM\x01"):
        return Format.BAM
    text = decompressed_head.lstrip(b"\r\n\t ")
    if not text:
        return None
    if text[:1] == b">" or text[:1] == b";":
        return Format.FASTA
    if text[:1] == b"@":
        lines = text.split(b"\n", 4)
        if lines[0][:4] in (b"@HD\t", b"@SQ\t", b"@RG\t", b"@PG\t", b"@CO\t") and not (
            _fastq_record(lines)  # a read named like a SAM header line
        ):
            return Format.SAM
        return Format.FASTQ
    if b"\t" in text.split(b"\n", 1)[0] and text.count(b"\t", 0, 2000) >= 10:
        return Format.SAM
    return None
