"""BGZF (SAM spec section 4.1) text output cut at fixed record groups, so that a file
joined from per-chunk parts has the same bytes whatever the chunk size: the BGZF
counterpart of gzip_groups.py, with the same groups (`gzip_groups.GROUP_RECORDS`).

Layout. A group's text is cut into blocks of BLOCK_TEXT (65,280, as htslib) uncompressed
bytes counted from the group's start; its last block holds the rest. Every part ends
with the 28-byte EOF block, so each shard is a BGZF file on its own.

Labels. htslib takes a block for BGZF only when its header is exactly the spec's 18
bytes (XLEN 6, the 'BC' subfield alone), so the label that gzip_groups puts in an extra
subfield goes here into the header's MTIME, which BGZF leaves unused:
`LABELLED | (group mod 2**29) << 2 | level`. The join writes MTIME 0 (as bgzip does), so
a joined file carries no labels; a shard of `single_file: false` output keeps them.

Join. Blocks are copied as they are, but for a group that a chunk boundary cut in two:
the first part's short last block of the group and the blocks after it are inflated and
cut again from that point (`BlockJoin`); the EOF blocks of the parts are left out and
one is written at the end. Parts are read in pieces of 8 MiB, never inflated whole.

Cost: per chunk boundary, at most one group's text is inflated and deflated again.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator

from isal import isal_zlib

from ...errors import FormatError
from ..compression import bgzf_block_size
from ..fs import filesystem_for
from ..writers import AtomicFile, WrittenFile

BLOCK_TEXT = 0xFF00  # uncompressed bytes per block, as htslib
MAX_BLOCK = 0x10000  # BSIZE is a uint16 of the block size - 1
EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
LABELLED = 1 << 31
GROUP_MASK = (1 << 29) - 1
_HEAD = struct.Struct("<4BI2BH2BHH")  # ID1 ID2 CM FLG MTIME XFL OS XLEN SI1 SI2 SLEN BSIZE
_TAIL = struct.Struct("<II")  # CRC32, ISIZE
_READ = 8 << 20


def block(text: bytes | bytearray | memoryview, level: int, mtime: int = 0) -> bytes:
    """One BGZF block holding `text` (at most BLOCK_TEXT bytes), deflated by isal at
    `level`; stored (deflate level 0) where isal's output would not fit in a block."""
    body = isal_zlib.compress(text, level, -15)
    if _HEAD.size + len(body) + _TAIL.size > MAX_BLOCK:  # incompressible: stored
        z = zlib.compressobj(0, zlib.DEFLATED, -15)
        body = z.compress(text) + z.flush()
    size = _HEAD.size + len(body) + _TAIL.size
    head = _HEAD.pack(31, 139, 8, 4, mtime, 0, 255, 6, 66, 67, 2, size - 1)
    return head + body + _TAIL.pack(isal_zlib.crc32(text) & 0xFFFFFFFF, len(text))


def label(group: int, level: int) -> int:
    """The MTIME that marks a block of `group` written at `level`."""
    return LABELLED | (group & GROUP_MASK) << 2 | level


def key(raw: bytes) -> tuple[int, int] | None:
    """(group mod 2**29, level) of a labelled block; None for an unlabelled one."""
    mtime = int.from_bytes(raw[4:8], "little")
    return ((mtime >> 2) & GROUP_MASK, mtime & 3) if mtime & LABELLED else None


def text_size(raw: bytes) -> int:
    """The uncompressed size of a block (its ISIZE)."""
    return int.from_bytes(raw[-4:], "little")


def inflate(raw: bytes) -> bytes:
    text: bytes = isal_zlib.decompress(memoryview(raw)[_HEAD.size : -_TAIL.size], -15)
    return text


def unlabelled(raw: bytes) -> bytes:
    """The block with MTIME 0."""
    return raw if raw[4:8] == b"\0\0\0\0" else raw[:4] + b"\0\0\0\0" + raw[8:]


class Blocks:
    """Text in, blocks out through `write`: each full block as soon as it fills, the
    rest at `end()`. Blocks are cut from the first byte given, every BLOCK_TEXT bytes."""

    def __init__(self, write: Callable[[bytes], None], level: int, mtime: int = 0):
        self.write, self.level, self.mtime = write, level, mtime
        self.pending = bytearray()

    def add(self, text: bytes) -> None:
        if not self.pending and len(text) < BLOCK_TEXT:
            self.pending += text
            return
        data = self.pending + text if self.pending else text
        view = memoryview(data)
        full = len(data) - len(data) % BLOCK_TEXT
        for at in range(0, full, BLOCK_TEXT):
            self.write(block(view[at : at + BLOCK_TEXT], self.level, self.mtime))
        self.pending = bytearray(view[full:])

    def end(self) -> None:
        if self.pending:
            self.write(block(self.pending, self.level, self.mtime))
            self.pending = bytearray()


class GroupBlocks:
    """A shard's text in groups (`add(text, group)`, in order): each run of one group's
    text is cut into labelled blocks from its start; `close` writes the EOF block."""

    def __init__(self, write: Callable[[bytes], None], level: int):
        self.write, self.level = write, level
        self.group: int | None = None
        self.blocks: Blocks | None = None

    def add(self, text: bytes, group: int) -> None:
        if self.blocks is None or group != self.group:
            if self.blocks is not None:
                self.blocks.end()
            self.group = group
            self.blocks = Blocks(self.write, self.level, label(group, self.level))
        self.blocks.add(text)

    def close(self) -> None:
        if self.blocks is not None:
            self.blocks.end()
            self.blocks = None
        self.write(EOF)


class BlockJoin:
    """Writes the blocks of parts, in order, as one file's blocks: runs of blocks with one
    label become what one writer of the run's text would have written (cut every
    BLOCK_TEXT bytes from the run's start), labels removed; empty blocks (the parts' EOF)
    are dropped; unlabelled blocks are copied as they are. `end` after the last."""

    def __init__(self, write: Callable[[bytes], None]):
        self.write = write
        self.key: tuple[int, int] | None = None
        self.held: bytes | None = None  # a short block: the run's last, unless it goes on
        self.again: Blocks | None = None  # the run's text cut again past a short block

    def add(self, raw: bytes) -> None:
        size = text_size(raw)
        if size == 0:
            return
        k = key(raw)
        if k is None:  # not seqray's: as it is
            self.end()
            self.write(raw)
            return
        if k != self.key:
            self.end()
            self.key = k
        if self.held is not None:  # the run goes on past a short block: cut it again
            self.again = Blocks(self.write, k[1])
            self.again.add(inflate(self.held))
            self.held = None
        if self.again is not None and self.again.pending:
            self.again.add(inflate(raw))
        elif size == BLOCK_TEXT:  # starts where a block of the run starts: as it is
            self.again = None
            self.write(unlabelled(raw))
        else:
            self.again = None
            self.held = raw

    def end(self) -> None:
        if self.held is not None:
            self.write(unlabelled(self.held))
        if self.again is not None:
            self.again.end()
        self.key, self.held, self.again = None, None, None


def read_blocks(uri: str) -> Iterator[bytes]:
    """The blocks of a BGZF file, one at a time (read in pieces of 8 MiB)."""
    fs, path = filesystem_for(uri)
    with fs.open_input_stream(path, compression=None) as f:
        buf, at, offset, done = b"", 0, 0, False
        while True:
            while not done and len(buf) - at < MAX_BLOCK:
                more = f.read(_READ)
                if not more:
                    done = True
                else:
                    offset += at
                    buf, at = buf[at:] + more, 0
            if at == len(buf):
                return
            size = bgzf_block_size(buf[at : at + 64])
            if size is None or at + size > len(buf):
                what = "a truncated" if size is not None else "not a"
                raise FormatError(f"{what} BGZF block", path=uri, offset=offset + at)
            yield buf[at : at + size]
            at += size


def is_bgzf_file(uri: str) -> bool:
    """Whether the file starts with a BGZF block."""
    fs, path = filesystem_for(uri)
    with fs.open_input_stream(path, compression=None) as f:
        return bgzf_block_size(f.read(64)) is not None


def concatenate(parts: list[str], uri: str) -> WrittenFile:
    """Joins BGZF parts into one BGZF file (`BlockJoin`), with one EOF block at its end."""
    out = AtomicFile(uri)
    try:
        join = BlockJoin(out.write)
        for part in parts:
            for raw in read_blocks(part):
                join.add(raw)
        join.end()
        out.write(EOF)
        out.commit()
    except BaseException:
        out.abort()  # no temporary left behind, whatever failed
        raise
    return out.written()
