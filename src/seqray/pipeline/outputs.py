"""Preflight: what a run will write, checked before it reads anything.

A run declares every file and shard directory it writes (`Target`s, from its stages).
Before the first read they are checked against the inputs (never the same file, never an
input inside the output), against each other (no two stages write the same place), and for
being writable (no regular file in the way; on S3 the bucket takes a probe object).
"""

from __future__ import annotations

import os
import posixpath
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow.fs as pafs

from ..errors import ConfigError, OutputError
from ..io.fs import exists, filesystem_for, is_s3

STATE_DIR = "_seqray"  # a run's own state, inside its output
MARKER_NAME = "run.json"  # in STATE_DIR: the output holds a seqray run (ownership.py)
JOURNAL_NAME = "journal"  # in STATE_DIR: what the run wrote, chunk by chunk (manifest.py)


@dataclass(frozen=True)
class Target:
    """A file (`kind` "file") or a directory of shards (`kind` "dir") a stage writes.
    `pattern` is the name of the shards in a directory (`part-*.parquet`): where a run was
    interrupted before its journal listed a shard, a name of that form is still its own.
    `directories`: the shards are directories of files (a directory store's format)."""

    uri: str
    kind: str  # "file" | "dir"
    stage: str  # who writes it, for messages: "stages[2] (write)"
    pattern: str | None = None
    directories: bool = False

    def to_json(self) -> dict:
        out: dict = {"uri": self.uri, "kind": self.kind, "stage": self.stage}
        out["pattern"] = self.pattern
        if self.directories:
            out["directories"] = True
        return out

    @classmethod
    def from_json(cls, d: dict) -> Target:
        return cls(
            d["uri"], d["kind"], d.get("stage", ""), d.get("pattern"), d.get("directories", False)
        )


def absolute(uri: str) -> str:
    """An absolute local path (symlinks kept) or the S3 URI: how runs record locations, so
    a run's records mean the same from any working directory."""
    return uri.rstrip("/") if is_s3(uri) else os.path.abspath(uri)


def normalize(uri: str) -> str:
    """The form used to compare locations: the real absolute path (symlinks resolved), or
    the S3 URI without a trailing slash."""
    if is_s3(uri):
        return uri.rstrip("/")
    return os.path.realpath(os.path.abspath(uri))


def within(path: str, directory: str) -> bool:
    """Whether normalised `path` is `directory` or lies below it."""
    sep = "/" if is_s3(directory) else os.sep
    return path == directory or path.startswith(directory.rstrip(sep) + sep)


def same_file(a: str, b: str) -> bool:
    if is_s3(a) or is_s3(b):
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


# -- clashes: targets against each other and against the inputs -------------------------


def check_clashes(
    targets: list[Target], inputs: Iterable[str], output: str, roots: Iterable[str] = ()
) -> None:
    """No two targets in the same place (a file is nobody's directory either), no input
    written or inside the output, and no output inside a directory that is read (`roots`:
    the directories and glob bases the inputs were named by, which would take the run's
    own files for inputs the next time)."""
    out = normalize(output)
    norm = [(normalize(t.uri), t) for t in targets]
    for i, (a, ta) in enumerate(norm):
        for b, tb in norm[i + 1 :]:
            if a == b or within(a, b) or within(b, a):
                where = ta.uri if a == b else _deeper(ta, tb)
                raise ConfigError(
                    f"{ta.stage} and {tb.stage} both write {where}: give one of them another path"
                )
        if ta.kind == "file" and within(out, a):
            raise ConfigError(f"{ta.stage} would write the file {ta.uri} where the output is")
    for root in roots:
        if within(out, normalize(root)):
            raise ConfigError(
                f"the output {output} lies inside {root}, which is read as input: its files "
                "would be read back as reads; choose an output outside it"
            )
    for src in inputs:
        s = normalize(src)
        if within(s, out):
            raise ConfigError(
                f"input {src} lies inside the output {output}: choose an output directory "
                "that holds no inputs"
            )
        for t, target in norm:
            if s == t or (target.kind == "dir" and within(s, t)) or same_file(src, target.uri):
                raise ConfigError(
                    f"{target.stage} would write {target.uri}, which is the input {src}: "
                    "choose another output"
                )


def _deeper(a: Target, b: Target) -> str:
    return b.uri if len(b.uri) > len(a.uri) else a.uri


# -- preflight: can every target be written? ----------------------------------------------


def check_writable(targets: list[Target]) -> None:
    """Every target's place exists or can be created, with no regular file in the way; an
    S3 bucket takes (and loses) a zero-byte probe where its first target goes (the run's
    state prefix, for a run's own output)."""
    probed: set[str] = set()
    for t in targets:
        if is_s3(t.uri):
            bucket = t.uri[len("s3://") :].split("/", 1)[0]
            if bucket not in probed:
                _probe_s3(t)
                probed.add(bucket)
            continue
        _check_local(t)


def _check_local(t: Target) -> None:
    path = os.path.abspath(t.uri)
    if os.path.exists(path):
        if t.kind == "dir" and not os.path.isdir(path):
            raise OutputError(f"{t.uri}: {t.stage} writes a directory here, but it is a file")
        if t.kind == "file" and os.path.isdir(path):
            raise OutputError(f"{t.uri}: {t.stage} writes a file here, but it is a directory")
    parent = path if t.kind == "dir" else os.path.dirname(path)
    while not os.path.exists(parent):
        up = os.path.dirname(parent)
        if up == parent:
            break
        parent = up
    if not os.path.isdir(parent):
        raise OutputError(f"{t.uri}: cannot write here: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{t.uri}: cannot write here: {parent} is not writable")


def _probe_s3(t: Target) -> None:
    fs, path = filesystem_for(t.uri)
    tag = uuid.uuid4().hex[:8]
    if t.kind == "dir":
        probe = f"{path.rstrip('/')}/.probe.tmp-{tag}"
    else:  # beside the file, named as its temporaries are
        probe = f"{posixpath.dirname(path)}/.{posixpath.basename(path)}.tmp-{tag}"
    try:
        with fs.open_output_stream(probe) as f:
            f.write(b"")
        fs.delete_file(probe)
    except OSError as exc:
        raise OutputError(f"{t.uri}: cannot write to this S3 location: {exc}") from None


def check_new_file(uri: str, inputs: Iterable[str], label: str) -> None:
    """A single output file that no run records (`convert`): it is not an input, does not
    exist yet (seqray cannot know it wrote it), and can be written."""
    t = Target(uri, "file", label)
    for src in inputs:
        if normalize(src) == normalize(uri) or same_file(src, uri):
            raise ConfigError(f"{label} would write {uri}, which is the input {src}")
    if exists(uri):
        raise OutputError(
            f"{uri}: already exists; seqray does not replace files it cannot tell it wrote: "
            "remove it or choose another name"
        )
    check_writable([t])


def check_new_directory(uri: str, label: str) -> None:
    """A directory of files that no run records (`tokenizer export`): missing or empty,
    since seqray cannot tell whether it wrote what is there."""
    fs, path = filesystem_for(uri)
    try:
        info = fs.get_file_info(path)
        entries = (
            fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
            if info.type != pafs.FileType.File
            else []
        )
    except (OSError, ValueError) as exc:
        raise OutputError(f"{uri}: cannot look at this output: {exc}") from None
    if info.type == pafs.FileType.File:
        raise OutputError(f"{uri}: {label} writes a directory here, but it is a file")
    if entries:
        raise OutputError(
            f"{uri}: {label} writes into a new or empty directory, and this one holds files "
            "seqray cannot tell it wrote: remove them or choose another directory"
        )
    check_writable([Target(uri, "dir", label)])
