"""Filesystem access for local paths and S3 URIs, through pyarrow.fs.

S3-compatible stores (MinIO, moto, Ceph) are reached through an endpoint URL taken from
`SEQRAY_S3_ENDPOINT_URL` or the standard `AWS_ENDPOINT_URL`; credentials and region come
from the usual AWS variables.
"""

from __future__ import annotations

import fnmatch
import json
import mmap
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import pyarrow.fs as pafs

from ..errors import InputError

GLOB_CHARS = "*?["


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def s3_filesystem() -> pafs.S3FileSystem:
    endpoint = os.environ.get("SEQRAY_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
    kwargs: dict = {}
    if endpoint:
        parsed = urlparse(endpoint)
        kwargs["endpoint_override"] = parsed.netloc or parsed.path
        kwargs["scheme"] = parsed.scheme or "https"
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        kwargs["region"] = region
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        kwargs["access_key"] = key
        kwargs["secret_key"] = secret
        if os.environ.get("AWS_SESSION_TOKEN"):
            kwargs["session_token"] = os.environ["AWS_SESSION_TOKEN"]
    return pafs.S3FileSystem(**kwargs)


def filesystem_for(uri: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem and the path inside it for a local path or an s3:// URI."""
    if is_s3(uri):
        return s3_filesystem(), uri[len("s3://") :]
    return pafs.LocalFileSystem(), os.path.abspath(uri)


def join(base: str, *parts: str) -> str:
    if is_s3(base):
        return "/".join([base.rstrip("/"), *parts])
    return os.path.join(base, *parts)


@dataclass(frozen=True)
class FileInfo:
    uri: str
    size: int
    mtime: float | None


def _info(fs: pafs.FileSystem, path: str, uri: str) -> pafs.FileInfo:
    try:
        return fs.get_file_info(path)
    except OSError as exc:
        raise InputError(f"{uri}: cannot access: {exc}") from exc


def _uri(uri_template: str, path: str) -> str:
    return "s3://" + path if is_s3(uri_template) else path


def expand_paths(paths: str | list[str]) -> list[FileInfo]:
    """Files named by paths, globs and directories, in a stable (sorted) order per entry."""
    if isinstance(paths, str):
        paths = [paths]
    if not paths:
        raise InputError("no input paths given")
    out: list[FileInfo] = []
    for entry in paths:
        fs, path = filesystem_for(entry)
        if any(c in path for c in GLOB_CHARS):
            base = path
            while any(c in base for c in GLOB_CHARS):
                base = base.rsplit("/", 1)[0]
            selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
            # '*' stays inside one path component, as in a shell (unless the pattern says **)
            depth = None if "**" in path else path.count("/")
            matches = sorted(
                (
                    i
                    for i in fs.get_file_info(selector)
                    if i.type == pafs.FileType.File
                    and (depth is None or i.path.count("/") == depth)
                    and fnmatch.fnmatchcase(i.path, path)
                ),
                key=lambda i: i.path,
            )
            if not matches:
                raise InputError(f"{entry}: no files match this pattern")
            out += [_file_info(entry, i) for i in matches]
            continue
        info = _info(fs, path, entry)
        if info.type == pafs.FileType.NotFound:
            raise InputError(f"{entry}: no such file or directory")
        if info.type == pafs.FileType.Directory:
            selector = pafs.FileSelector(path, recursive=True)
            files = sorted(
                (
                    i
                    for i in fs.get_file_info(selector)
                    if i.type == pafs.FileType.File and not i.base_name.startswith(".")
                ),
                key=lambda i: i.path,
            )
            if not files:
                raise InputError(f"{entry}: directory holds no files")
            out += [_file_info(entry, i) for i in files]
            continue
        out.append(_file_info(entry, info))
    for f in out:
        if not is_s3(f.uri) and not os.access(f.uri, os.R_OK):
            raise InputError(f"{f.uri}: permission denied (file is not readable)")
    return out


def _file_info(entry: str, info: pafs.FileInfo) -> FileInfo:
    mtime = info.mtime.timestamp() if info.mtime is not None else None
    return FileInfo(uri=_uri(entry, info.path), size=int(info.size or 0), mtime=mtime)


def read_json(uri: str) -> Any:
    """The JSON value in a file, or None where the file is missing, unreadable or not JSON
    (state files a resumed run may or may not find; seqray writes them atomically, so a
    broken one was edited by hand and is as good as missing)."""
    fs, path = filesystem_for(uri)
    try:
        with fs.open_input_stream(path, compression=None) as f:
            return json.loads(f.read())
    except (OSError, ValueError):  # FileNotFoundError, JSONDecodeError, a bad S3 path
        return None


def exists(uri: str) -> bool:
    """Whether a file or directory (or S3 object or prefix) is at `uri`; False where it
    cannot be looked at (the write that follows reports why)."""
    fs, path = filesystem_for(uri)
    try:
        return fs.get_file_info(path).type != pafs.FileType.NotFound
    except (OSError, ValueError):  # ValueError: pyarrow's ArrowInvalid, a malformed path
        return False


def is_directory(uri: str) -> bool:
    """A local directory, or an S3 prefix with objects below it."""
    fs, path = filesystem_for(uri)
    try:
        return fs.get_file_info(path).type == pafs.FileType.Directory
    except (OSError, ValueError):
        return False


@contextmanager
def local_copy(uri: str, piece: int = 8 << 20) -> Iterator[str]:
    """A local path holding the file's bytes: the path itself for a local file, else a
    temporary copy (in TMPDIR) deleted on exit. For libraries that open paths only."""
    if not is_s3(uri):
        yield uri
        return
    fs, path = filesystem_for(uri)
    suffix = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(prefix="seqray-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with fs.open_input_stream(path, compression=None) as src:
                    while data := src.read(piece):
                        out.write(data)
            except FileNotFoundError:
                raise InputError(f"{uri}: no such object") from None
            except OSError as exc:
                raise InputError(f"{uri}: cannot read: {exc}") from exc
        yield tmp
    finally:
        os.remove(tmp)


def map_local(uri: str) -> mmap.mmap | None:
    """A read-only memory map of a local, non-empty regular file (else None): the
    parser scans the page cache in place, with no copy into Python bytes."""
    if is_s3(uri):
        return None
    try:
        with open(uri, "rb") as f:
            if not os.path.isfile(uri) or os.fstat(f.fileno()).st_size == 0:
                return None
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None  # the ordinary reader reports what is wrong


def open_input(uri: str):
    """A seekable binary file for a local path or an S3 object."""
    fs, path = filesystem_for(uri)
    try:
        return fs.open_input_file(path)
    except (OSError, FileNotFoundError) as exc:
        raise InputError(f"{uri}: cannot open: {exc}") from exc


def read_npz(uri: str) -> dict[str, Any]:
    """The arrays of an .npz file (local or S3), read whole."""
    import io

    import numpy as np

    fs, path = filesystem_for(uri)
    with fs.open_input_file(path) as f:
        data = f.read()
    with np.load(io.BytesIO(data)) as z:
        return {name: z[name] for name in z.files}
