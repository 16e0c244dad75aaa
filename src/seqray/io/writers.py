"""Writing files: atomically (AtomicFile), in one go (write_file / write_json), and the
record of what was written (WrittenFile). Output formats are in `io/formats/`.

Every file is written atomically: locally to a temporary name renamed into place when
complete; on S3 an object only appears once its upload completes (the manifest commits it).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import uuid
from dataclasses import dataclass
from typing import Any

from ..errors import OutputError
from .fs import filesystem_for, is_s3


@dataclass
class WrittenFile:
    """One committed file: its rows (of the shard it belongs to, 0 where rows mean
    nothing) and its size and sha256 (what resume and ownership check).

    A directory shard is listed as one entry too: `files` are its files, `bytes` their
    total and `sha256` the digest of their `sha256sum` listing (`tree_digest`). `arrays`:
    what an array format's shard holds ({name: {shape, dtype, chunks}}), for the manifest."""

    uri: str
    rows: int
    bytes: int
    sha256: str
    files: list[WrittenFile] | None = None
    arrays: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The entry the journal and the manifest list (with `files` and `arrays` when set)."""
        out: dict[str, Any] = {"uri": self.uri, "bytes": self.bytes, "sha256": self.sha256}
        if self.files is not None:
            out["files"] = [
                {"uri": f.uri, "bytes": f.bytes, "sha256": f.sha256} for f in self.files
            ]
        if self.arrays is not None:
            out["arrays"] = self.arrays
        return out


def tree_digest(base: str, files: list[WrittenFile]) -> str:
    """The sha256 of a directory shard: of its files' `sha256sum` listing, relative paths
    in byte order (`cd DIR && find . -type f | sed 's|^\\./||' | LC_ALL=C sort | xargs
    sha256sum | sha256sum` gives it)."""
    prefix = base.rstrip("/") + "/"
    listed = sorted((f.uri[len(prefix) :], f.sha256) for f in files)
    lines = "".join(f"{sha}  {rel}\n" for rel, sha in listed)
    return hashlib.sha256(lines.encode()).hexdigest()


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


class StagedFile:
    """A file that a library writes by path (h5py, netCDF4), appearing atomically: a
    local output is written at a hidden temporary name beside its final one (swept like
    AtomicFile's) and renamed; an S3 output is written in a local temporary directory and
    uploaded through AtomicFile when complete. `path` is where the library writes."""

    def __init__(self, uri: str):
        self.uri = uri
        name = os.path.basename(uri.rstrip("/"))
        tag = uuid.uuid4().hex[:8]
        if is_s3(uri):
            self.path = os.path.join(tempfile.mkdtemp(prefix="seqray-"), name)
        else:
            d = os.path.dirname(os.path.abspath(uri))
            try:
                os.makedirs(d, exist_ok=True)
            except OSError as exc:
                raise OutputError(f"{uri}: cannot write here: {exc.strerror}") from exc
            self.path = os.path.join(d, f".{name}.tmp-{tag}")

    def commit(self, rows: int = 0) -> WrittenFile:
        """Renames (or uploads) the finished file; what was written, with its sha256."""
        if is_s3(self.uri):
            f = AtomicFile(self.uri)
            try:
                with open(self.path, "rb") as src:
                    while data := src.read(8 << 20):
                        f.write(data)
                f.commit()
            except BaseException:
                f.abort()
                raise
            finally:
                self._remove_local()
            return f.written(rows)
        sha = hashlib.sha256()
        size = 0
        with open(self.path, "rb") as src:
            while data := src.read(8 << 20):
                sha.update(data)
                size += len(data)
        os.replace(self.path, os.path.abspath(self.uri))
        return WrittenFile(self.uri, rows, size, sha.hexdigest())

    def abort(self) -> None:
        self._remove_local()

    def _remove_local(self) -> None:
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass
        if is_s3(self.uri):
            try:
                os.rmdir(os.path.dirname(self.path))
            except OSError:
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
