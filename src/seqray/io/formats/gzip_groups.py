"""Gzip members cut at fixed record ordinals, so that a file joined from per-chunk parts
has the same bytes whatever the chunk size.

A gzip text shard holds one member per *group*: a run of consecutive records whose input
ordinals (the `record` column) share `ordinal // GROUP_RECORDS`, as long as the run goes
(a run stops where the ordinals of a new input file start again). Each member's header
carries an extra subfield 'SQ' (RFC 1952, FEXTRA) with the group, the member's size and
its deflate level, so parts are walked without inflating them. Joining parts, the
members that a chunk boundary cut in two — the last member of a part and the first of
the next, with the same group — are inflated and deflated again as one member; every
other member is copied as it is. The result is what one writer that saw every record
would write: the same bytes for any `chunk_bytes` (and `block_bases`).

Cost: per chunk boundary, at most one group's text (GROUP_RECORDS records) is inflated
and deflated again in the join; the writer holds one group's text before deflating it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from isal import isal_zlib

from ..writers import AtomicFile

GROUP_RECORDS = 4096  # input records per group: ~1.4 MB of 150 bp FASTQ text
_HEAD = struct.Struct("<4BI2BH")  # ID1 ID2 CM FLG, MTIME, XFL OS, XLEN
_SUB = struct.Struct("<2sHQIB")  # SI1 SI2, LEN, group, member size, deflate level
HEAD_SIZE = _HEAD.size + _SUB.size
EMPTY_GZIP = bytes.fromhex("1f8b08000000000000ff03000000000000000000")  # one empty member


def member(text: bytes, group: int, level: int) -> bytes:
    """One gzip member holding `text`, labelled with its group."""
    body = isal_zlib.compress(text, level, -15)
    size = HEAD_SIZE + len(body) + 8
    head = _HEAD.pack(31, 139, 8, 4, 0, 0, 255, _SUB.size)
    sub = _SUB.pack(b"SQ", _SUB.size - 4, group, size, level)
    tail = struct.pack("<II", isal_zlib.crc32(text) & 0xFFFFFFFF, len(text) & 0xFFFFFFFF)
    return head + sub + body + tail


def label(head: bytes) -> tuple[int, int, int] | None:
    """(group, member size, level) from the first HEAD_SIZE bytes of a member that
    `member` wrote; None for anything else (another writer's gzip, plain text)."""
    if len(head) < HEAD_SIZE:
        return None
    id1, id2, cm, flg, _, _, _, xlen = _HEAD.unpack_from(head)
    if (id1, id2, cm, flg, xlen) != (31, 139, 8, 4, _SUB.size):
        return None
    si, length, group, size, level = _SUB.unpack_from(head, _HEAD.size)
    if si != b"SQ" or length != _SUB.size - 4 or size < HEAD_SIZE + 8:
        return None
    return group, size, level


def _inflate(data: bytes) -> bytes:
    text: bytes = isal_zlib.decompress(data[HEAD_SIZE:-8], -15)
    return text


class GroupJoin:
    """Writes labelled members to `out` in order, merging consecutive members of one
    group (and level) into one; `flush` before anything else is written."""

    def __init__(self, out: AtomicFile):
        self.out = out
        self.key: tuple[int, int] | None = None
        self.members: list[bytes] = []

    def add(self, data: bytes, group: int, level: int) -> None:
        if self.members and (group, level) != self.key:
            self.flush()
        self.key = (group, level)
        self.members.append(data)

    def flush(self) -> None:
        if len(self.members) == 1:
            self.out.write(self.members[0])
        elif self.members:
            assert self.key is not None
            text = b"".join(_inflate(m) for m in self.members)
            self.out.write(member(text, *self.key))
        self.members = []


class GzipMembers:
    """A shard's text in groups (`add(text, group)`, in order) as labelled members
    (`member`), one per run of a group; `close` writes one empty member (EMPTY_GZIP, a valid
    gzip file on its own) if nothing else was written."""

    def __init__(self, write: Callable[[bytes], None], level: int):
        self.write, self.level = write, level
        self.group = -1  # the group whose text is pending
        self.pending: list[bytes] = []
        self.wrote = False

    def add(self, text: bytes, group: int) -> None:
        if self.pending and group != self.group:
            self._deflate()
        self.group = group
        self.pending.append(text)

    def _deflate(self) -> None:
        self.write(member(b"".join(self.pending), self.group, self.level))
        self.pending, self.wrote = [], True

    def close(self) -> None:
        if self.pending:
            self._deflate()
        if not self.wrote:
            self.write(EMPTY_GZIP)
