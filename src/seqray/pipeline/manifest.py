"""The run journal (resume) and the manifest (the contract with downstream jobs).

While a run goes on, each finished chunk is recorded as its own small JSON object under
`_seqray/journal/` (objects, not an appended file, so it works on S3 too). The manifest is
written last, atomically: its presence with `"complete": true` is what marks a run done.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pyarrow.fs as pafs
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .. import __version__, versions
from ..errors import ManifestError, ResumeError
from ..io.fs import filesystem_for, join, read_json
from ..io.writers import write_json
from .outputs import JOURNAL_NAME, MARKER_NAME, STATE_DIR

MANIFEST = "manifest.json"
# 2: stage counters count rows of any kind (`rows_in`, `takes`, …); chunk shards list files
MANIFEST_VERSION = 2
# 2: chunk outcomes with typed shards (`files`) and counters (`rows_in`); 1 had neither
JOURNAL_VERSION = 2


def _write_json(uri: str, obj: Any) -> None:
    write_json(uri, obj, indent=1, sort_keys=True)


def file_sha256(uri: str) -> tuple[int, str]:
    fs, path = filesystem_for(uri)
    h = hashlib.sha256()
    size = 0
    with fs.open_input_stream(path, compression=None) as f:
        while True:
            b = f.read(8 << 20)
            if not b:
                break
            size += len(b)
            h.update(b)
    return size, h.hexdigest()


class Journal:
    def __init__(self, output: str):
        self.output = output
        self.dir = join(output, STATE_DIR, JOURNAL_NAME)
        self.run_uri = join(output, STATE_DIR, MARKER_NAME)

    def start(self, header: dict[str, Any]) -> None:
        _write_json(self.run_uri, header)

    def check_header(self, header: dict[str, Any]) -> None:
        old = read_json(self.run_uri)
        if old is None:
            raise ResumeError(f"{self.output}: nothing to resume (no run journal)")
        if old.get("journal_version", 1) != header["journal_version"]:
            raise ResumeError(
                f"{self.output}: the run there was started by another seqray version, whose "
                "journal this one cannot read; rerun with --overwrite"
            )
        if old.get("config_hash") != header["config_hash"]:
            raise ResumeError(
                f"{self.output}: the config changed since the run there was started "
                "(output-shaping settings or stages differ); rerun with --overwrite"
            )
        old_inputs = {i["uri"]: i for i in old.get("inputs", [])}
        for i in header["inputs"]:
            o = old_inputs.get(i["uri"])
            if o is None or o["size"] != i["size"] or o["mtime"] != i["mtime"]:
                raise ResumeError(
                    f"{i['uri']}: input changed since the run there was started (size or mtime); "
                    "rerun with --overwrite"
                )
        if set(old_inputs) != {i["uri"] for i in header["inputs"]}:
            raise ResumeError(
                f"{self.output}: the set of input files changed; rerun with --overwrite"
            )

    def _entry_uri(self, key: str, *sub: str) -> str:
        name = hashlib.sha256(key.encode()).hexdigest()[:24] + ".json"
        return join(self.dir, *sub, name)

    def record(self, outcome: dict[str, Any]) -> None:
        _write_json(self._entry_uri(outcome["chunk"]), outcome)

    def record_file(self, entry: dict[str, Any]) -> None:
        """A file a finishing step wrote ({uri, bytes, sha256, stage}), as soon as it is
        committed: an interrupted run owns exactly what its journal lists."""
        _write_json(self._entry_uri(entry["uri"], "files"), entry)

    def file_entries(self) -> list[dict[str, Any]]:
        return self._read_all(join(self.dir, "files"))

    def entries(self) -> list[dict[str, Any]]:
        """Every journaled chunk outcome (unverified)."""
        return self._read_all(self.dir)

    @staticmethod
    def _read_all(directory: str) -> list[dict[str, Any]]:
        fs, path = filesystem_for(directory)
        try:
            infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
        except OSError:
            return []
        out = []
        for info in sorted(infos, key=lambda i: i.path):
            if not info.base_name.endswith(".json"):
                continue
            uri = ("s3://" + info.path) if directory.startswith("s3://") else info.path
            entry = read_json(uri)
            if entry:
                out.append(entry)
        return out

    @staticmethod
    def verified(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """chunk key → outcome, for the entries whose shards are all present and intact."""
        return {e["chunk"]: e for e in entries if all(file_ok(s) for s in e["shards"])}


def shard_files(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The files ({uri, bytes, sha256}) of a shard entry; an entry that is one file (a
    report, or a shard journaled before shards listed their files) is its own."""
    files: list[dict[str, Any]] = entry.get("files") or [entry]
    return files


def file_ok(entry: dict[str, Any]) -> bool:
    """Whether the files an entry lists (a shard's `files`, or the entry itself: {uri,
    bytes, sha256}) are all there, unchanged."""
    return damaged_file(entry) is None


def damaged_file(entry: dict[str, Any]) -> str | None:
    """The first file an entry lists that is missing or changed (None: all intact)."""
    for f in shard_files(entry):
        try:
            size, sha = file_sha256(f["uri"])
        except OSError:
            return str(f["uri"])
        if size != f["bytes"] or sha != f["sha256"]:
            return str(f["uri"])
    return None


def write_manifest(output: str, body: dict[str, Any]) -> str:
    body = {
        "manifest_version": MANIFEST_VERSION,
        "seqray_version": __version__,
        "versions": versions(),  # seqray, python, ray, pyarrow, numba (as --version)
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **body,
        "complete": True,
    }
    uri = join(output, MANIFEST)
    _write_json(uri, body)
    return uri


class _Entry(BaseModel):
    model_config = ConfigDict(extra="allow")  # a newer seqray may add keys: readers ignore them


class FileEntry(_Entry):
    uri: str
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ArrayEntry(_Entry):
    """One array of an array-format shard: what a job needs to allocate and read it."""

    shape: list[int]
    dtype: str  # a NumPy dtype name, or "string" (variable-length UTF-8)
    chunks: list[int]
    dims: list[str] = Field(default_factory=list)


class OutputEntry(FileEntry):
    """A sink's shard (or single-file output). A directory shard (a Zarr part) lists its
    `files`, its sha256 being that of their `sha256sum` listing; an array format's shard
    lists its `arrays`."""

    rows: int = Field(ge=0)
    stage: str
    format: str | None = None
    files: list[FileEntry] | None = None
    arrays: dict[str, ArrayEntry] | None = None


class InputEntry(_Entry):
    uri: str
    size: int = Field(ge=0)
    format: str | None
    checksum: str | None


class ChunkEntry(_Entry):
    id: str
    source: str
    records: int = Field(ge=0)
    rejected: int = Field(ge=0)


class StageEntry(_Entry):
    takes: str
    gives: str
    rows_in: int = Field(ge=0)
    rows_out: int = Field(ge=0)
    seconds: float = Field(ge=0)


class Manifest(_Entry):
    """A finished run's manifest, validated: what downstream (HPC) jobs may rely on."""

    manifest_version: int
    seqray_version: str
    created: str
    complete: bool
    config: dict[str, Any]
    config_hash: str
    inputs: list[InputEntry]
    chunks: list[ChunkEntry]
    shards: list[OutputEntry]  # the stages' outputs
    files: list[FileEntry]  # reports and other files the stages wrote
    rejects: list[FileEntry]
    stages: dict[str, StageEntry]
    reports: dict[str, Any]
    reads: dict[str, int]


def load(where: str) -> Manifest:
    """The manifest of the run at `where` (its output directory, or the manifest file),
    checked: a missing, unfinished, damaged or newer-versioned manifest is an error naming
    the file and what is wrong."""
    uri = where if where.endswith(".json") else join(where, MANIFEST)
    fs, path = filesystem_for(uri)
    try:
        with fs.open_input_stream(path, compression=None) as f:
            raw = f.read()
    except OSError:
        raise ManifestError(
            f"{uri}: no manifest there (the run has not finished, or never ran)"
        ) from None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ManifestError(f"{uri}: not a seqray manifest: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{uri}: not a seqray manifest: not a JSON object")
    version = data.get("manifest_version")
    if not isinstance(version, int) or not 1 <= version <= MANIFEST_VERSION:
        raise ManifestError(
            f"{uri}: manifest_version {version!r} is not one this seqray reads "
            f"(1 to {MANIFEST_VERSION}); a newer seqray wrote it"
        )
    if version < MANIFEST_VERSION:
        raise ManifestError(
            f"{uri}: manifest_version {version} was written by an older seqray "
            f"(this one reads {MANIFEST_VERSION}); rerun the pipeline to refresh it"
        )
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        where_what = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise ManifestError(f"{uri}: not a valid seqray manifest: {where_what}") from None
    if not manifest.complete:
        raise ManifestError(f"{uri}: the run did not finish (complete is false)")
    return manifest
