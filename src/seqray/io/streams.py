"""Decompressed byte streams over chunks, with a digest of the raw bytes each chunk owns."""

from __future__ import annotations

import hashlib
import zlib

from isal import igzip, igzip_threaded, isal_zlib

from ..errors import FormatError
from .chunks import Chunk
from .compression import Compression, bgzf_block_size
from .fs import map_local, open_input

READ_SIZE = 8 * 1024 * 1024
UNBOUNDED = 1 << 62


class _HashingReader:
    """Wraps a raw file: hashes the bytes read within [0, limit) of what it serves."""

    def __init__(self, raw, limit: int = UNBOUNDED, enabled: bool = True):
        self.raw = raw
        self.limit = limit
        self.seen = 0
        self.sha = hashlib.sha256() if enabled else None

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n) if n is not None and n >= 0 else self.raw.read()
        if self.sha is not None and self.seen < self.limit:
            self.sha.update(data[: self.limit - self.seen])
        self.seen += len(data)
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.raw.close()


class _ZstdFrames:
    """zstd frames one after another. A stream that ends inside a frame is an error:
    zstandard's own stream reader takes a cut frame for a complete one."""

    def __init__(self, raw, zstandard):
        self.raw, self.zstd = raw, zstandard
        self.obj = zstandard.ZstdDecompressor().decompressobj()
        self.in_frame = False  # the current frame has had input

    def read(self, n: int) -> bytes:
        out: list[bytes] = []
        size = 0
        while size < n:
            data = self.raw.read(READ_SIZE)
            if not data:
                if self.in_frame and not self.obj.eof:
                    raise EOFError("the zstd stream ends inside a frame (truncated file?)")
                break
            while data:
                self.in_frame = True
                piece = self.obj.decompress(data)
                out.append(piece)
                size += len(piece)
                data = b""
                if self.obj.eof:  # the next frame starts with what is left
                    data = self.obj.unused_data
                    self.obj = self.zstd.ZstdDecompressor().decompressobj()
                    self.in_frame = False
        return b"".join(out)

    def close(self) -> None:
        pass


class ChunkStream:
    """Decompressed text of a chunk, served in pieces.

    `owner_end` is the stream position past which records belong to later chunks; it can
    grow while a BGZF range is being read. `digest` is the sha256 of the chunk's raw bytes.
    """

    def __init__(
        self,
        chunk: Chunk,
        path: str | None = None,
        compression: Compression | None = None,
        digest: bool = True,
        mapped: bool = True,
    ):
        self.chunk = chunk
        self.path = path or chunk.source
        self.compression = compression or chunk.compression
        self.raw = open_input(self.path)
        # a local plain file is also mapped: the window scans it in place (see _Window)
        plain = self.compression == Compression.NONE
        self.map = map_local(self.path) if mapped and plain else None
        self.eof = False
        self.owner_end = UNBOUNDED  # records starting before this are surely the chunk's
        self.range_end: int | None = None  # stream length of the chunk's own bytes, once known
        self._bgzf_pos = 0
        self._bgzf_buf = b""
        self._bgzf_owned = 0
        whole = chunk.whole_file or path is not None
        if whole:
            self._hasher = _HashingReader(self.raw, enabled=digest)
            if self.compression in (Compression.GZIP, Compression.BGZF):
                # decompressed on a thread of its own (isal releases the GIL), so a whole
                # gzip file is inflated while the caller parses the previous piece
                self._reader = igzip_threaded.open(self._hasher, "rb", threads=1)
            elif self.compression == Compression.ZSTD:
                try:
                    import zstandard
                except ImportError as exc:  # pragma: no cover - optional extra
                    raise FormatError(
                        "zstd input needs the 'zstandard' package (pip install seqray[formats])",
                        path=self.path,
                    ) from exc
                self._reader = _ZstdFrames(self._hasher, zstandard)
            else:
                self._reader = self._hasher
            self._mode = "whole"
        elif self.compression == Compression.NONE:
            self.raw.seek(chunk.start)
            self._hasher = _HashingReader(self.raw, chunk.end - chunk.start, digest)
            self._reader = self._hasher
            self.range_end = chunk.end - chunk.start
            self.owner_end = self.range_end + 1
            self._mode = "range"
        elif self.compression == Compression.BGZF:
            self.raw.seek(chunk.start)
            self._hasher = _HashingReader(self.raw, chunk.end - chunk.start, digest)
            self._bgzf_pos = chunk.start
            self.owner_end = 1
            self._mode = "bgzf"
        else:  # pragma: no cover - planner never splits other streams
            raise ValueError(f"cannot split {self.compression} streams")

    @property
    def raw_consumed(self) -> int:
        """Raw (compressed) bytes read from the file for this stream so far."""
        return self._hasher.seen

    def read(self) -> bytes:
        """The next piece of decompressed text; b'' at the end of the stream."""
        if self.eof:
            return b""
        try:
            if self._mode == "bgzf":
                data = self._read_bgzf()
            else:
                data = self._reader.read(READ_SIZE)
        # isal's stub declares isal_zlib.error an Exception instance; it is the class
        except (OSError, EOFError, ValueError, zlib.error, isal_zlib.error) as exc:  # type: ignore[misc]
            raise FormatError(f"corrupt compressed data: {exc}", path=self.path) from exc
        except Exception as exc:  # zstandard.ZstdError is not an OSError
            if type(exc).__name__ != "ZstdError":
                raise
            raise FormatError(f"corrupt compressed data: {exc}", path=self.path) from exc
        if not data:
            self.eof = True
        return data

    def _read_bgzf(self) -> bytes:
        out = []
        total = 0
        while total < READ_SIZE:
            if len(self._bgzf_buf) < 18:
                more = self._hasher.read(READ_SIZE)
                self._bgzf_buf += more
                if len(self._bgzf_buf) == 0:
                    break
                if not more and len(self._bgzf_buf) < 18:
                    raise FormatError("truncated BGZF block", path=self.path, offset=self._bgzf_pos)
            bsize = bgzf_block_size(self._bgzf_buf[:64])
            if bsize is None:
                raise FormatError(
                    "corrupt BGZF block header", path=self.path, offset=self._bgzf_pos
                )
            while len(self._bgzf_buf) < bsize:
                more = self._hasher.read(READ_SIZE)
                if not more:
                    raise FormatError("truncated BGZF block", path=self.path, offset=self._bgzf_pos)
                self._bgzf_buf += more
            block = self._bgzf_buf[:bsize]
            self._bgzf_buf = self._bgzf_buf[bsize:]
            text = igzip.decompress(block)
            owned = self._bgzf_pos < self.chunk.end
            self._bgzf_pos += bsize
            if owned:
                self._bgzf_owned += len(text)
                self.owner_end = self._bgzf_owned + 1
            elif self.range_end is None:
                self.range_end = self._bgzf_owned
            out.append(text)
            total += len(text)
            if not text and bsize == 28:  # the EOF marker block
                continue
        return b"".join(out)

    def drain(self) -> None:
        """Read on until every raw byte the chunk owns has gone through the digest."""
        if self._hasher.sha is None:
            return
        if self.map is not None and self._hasher.seen == 0:  # scanned in place, not read
            end = len(self.map) if self._mode == "whole" else min(self.chunk.end, len(self.map))
            self._hasher.sha.update(memoryview(self.map)[self.chunk.start : end])
            return
        if self._mode == "whole":
            while self.read():
                pass
        else:
            while not self.eof and self._hasher.seen < self._hasher.limit:
                self.read()

    @property
    def digest(self) -> str:
        """sha256 of the raw bytes the chunk owns ('' when digests are off)."""
        return self._hasher.sha.hexdigest() if self._hasher.sha is not None else ""

    def close(self) -> None:
        try:
            if self._mode == "whole" and self._reader is not self._hasher:
                self._reader.close()  # stops a decompression thread
        finally:
            self.raw.close()
        if self.map is not None:
            try:
                self.map.close()  # its own file descriptor goes with it
            except BufferError:
                pass  # arrays still view it (a traceback kept): freed with them

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
