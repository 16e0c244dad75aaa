"""Writing files: atomically (AtomicFile), in one go (write_file / write_json), and the
record of what was written (WrittenFile). Output formats are in `io/formats/`.

Every file is written atomically: locally to a temporary name renamed into place when
complete; on S3 an object only appears once its upload completes (the manifest commits it).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from typing import Any

from ..errors import OutputError
from .fs import filesystem_for, is_s3


@dataclass
class WrittenFile:
    """One committed file: its rows (of the shard it belongs to, 0 where rows mean
    nothing) and its size and sha256 (what resume and ownership check)."""

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
        try:
            if not is_s3(uri):
                os.makedirs(d, exist_ok=True)
            self.stream = self.fs.open_output_stream(self.tmp, compression=None)
        except OSError as exc:  # a read-only place, a missing mount, no S3 access
            why = os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc))
            raise OutputError(f"{uri}: cannot write here: {why}") from exc
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

    def written(self, rows: int = 0) -> WrittenFile:
        """What was committed: the record resume and ownership check."""
        return WrittenFile(self.uri, rows, self.size, self.sha.hexdigest())

    def abort(self) -> None:
        try:
            self.stream.close()
        finally:
            try:
                self.fs.delete_file(self.tmp)
            except (FileNotFoundError, OSError):
                pass


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


def write_json(uri: str, obj: Any, *, indent: int = 2, sort_keys: bool = False) -> WrittenFile:
    """Writes `obj` as a JSON file atomically."""
    text = json.dumps(obj, indent=indent, sort_keys=sort_keys) + "\n"
    return write_file(uri, text.encode())


def write_npz(uri: str, arrays: dict[str, Any]) -> WrittenFile:
    """NumPy arrays in one .npz file (uncompressed: they are mostly numbers), atomically."""
    import io

    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return write_file(uri, buf.getvalue())
