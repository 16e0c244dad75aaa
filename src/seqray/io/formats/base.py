"""What every output format provides: an `OutputFormat` declaration, its `ShardWriter`, and the
`WrittenShard` a committed shard is recorded as.

A shard is what one chunk writes for one sink: one file, or a directory of files (a
directory store). Either way it appears whole or not at all, and every file in it is
recorded with its size and sha256, which resume and output ownership check.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from ...errors import OutputError
from ..fs import filesystem_for, is_s3, join
from ..writers import AtomicFile, WrittenFile


@dataclass
class WrittenShard:
    """A committed shard: `uri` is the file, or the directory of a directory shard;
    `files` every file it holds (one for a file shard)."""

    uri: str
    rows: int
    files: list[WrittenFile]
    directory: bool = False
    # an array format's arrays: {name: {shape, dtype, chunks, ...}} (the manifest lists them)
    arrays: dict[str, Any] | None = None

    @classmethod
    def of_file(cls, f: WrittenFile) -> WrittenShard:
        return cls(f.uri, f.rows, [f])

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    def to_json(self) -> dict[str, Any]:
        """The shard as a chunk outcome lists it (the stage adds `stage`, `stage_index`)."""
        out = {
            "uri": self.uri,
            "rows": self.rows,
            "files": [{"uri": f.uri, "bytes": f.bytes, "sha256": f.sha256} for f in self.files],
        }
        if self.arrays is not None:
            out["arrays"] = self.arrays
        return out


class ShardWriter(Protocol):
    """One shard being written: batches go in with `write`; `commit` makes the shard
    appear under its name and says what it holds; `abort` removes what was written.
    A format's `open` gives one."""

    def write(self, table: pa.Table) -> None: ...

    def commit(self) -> WrittenShard: ...

    def abort(self) -> None: ...


class Opener(Protocol):
    """A format's factory. `schema`: the batches' schema; `paired`: the batches hold
    pairs; `mate`: 0 or 1, the mate a one-file-per-mate format writes (0 otherwise);
    `compression` and `level` are resolved (one of the format's, its default level)."""

    def __call__(
        self,
        uri: str,
        *,
        schema: pa.Schema,
        paired: bool,
        mate: int,
        compression: str,
        level: int | None,
    ) -> ShardWriter: ...


@dataclass(frozen=True, eq=False)
class OutputFormat:
    """An output format, as `write` and `convert` see it. Registered by name
    (`register_format`); file names are looked up by `extensions` + a compression's
    suffix (`reads.fq.gz`)."""

    name: str  # in configs: `write: {format: NAME}`
    title: str  # in messages: "FASTQ"
    extensions: tuple[str, ...]  # what names end with (lower case); seqray writes the first
    open: Opener
    # allowed compressions → the suffix each adds to a file name ("" for none); the
    # first is the default
    compressions: Mapping[str, str]
    pairs_in_one: bool  # both mates of a pair in one shard (else one shard per mate)
    needs_reads: bool = True  # writes read batches only; False: any Arrow batch
    levels: range | None = None  # compression levels it takes, if any
    default_level: int | None = None
    directory: bool = False  # a shard is a directory of files
    # shards that concatenate into one valid file: single-file output (`single_file`)
    join: Callable[[list[str], str], WrittenFile] | None = None
    # the batch kinds it writes (by name); None: reads only, or any kind (`needs_reads`)
    kinds: tuple[str, ...] | None = None
    # modules it needs (an extra such as seqray[formats]): checked when a config names it
    requires: tuple[str, ...] = ()
    # its opener also takes `provenance` ({str: str}: the kind, the stage that made the
    # batches, the model) for the files' own metadata
    provenance: bool = False
    # writes what joins a directory of directory shards into one store (Zarr's root group),
    # given the directory and its shards in read order; returns the files it wrote
    finish_dir: Callable[[str, list[Any]], list[WrittenFile]] | None = None
    # reads a shard back as named NumPy arrays (`seqray.load_embeddings`)
    reader: Callable[[str], Any] | None = None
    # merges a directory format's shards (ShardRecords, in read order) into one store at
    # the target, the work spread by the runner (a TaskMapper): single-file output for
    # formats whose shards do not simply concatenate (Zarr: one N×D array); opt-in
    merge: Callable[[list[Any], str, Any], WrittenFile] | None = None

    @property
    def takes_reads(self) -> bool:
        """Whether it writes read batches (array formats do not)."""
        return self.kinds is None or "reads" in self.kinds

    def missing(self) -> list[str]:
        """The modules it requires that are not installed."""
        import importlib.util

        return [m for m in self.requires if importlib.util.find_spec(m) is None]

    @property
    def compression(self) -> str:
        """The default compression."""
        return next(iter(self.compressions))

    def extension(self, compression: str) -> str:
        return self.extensions[0] + self.compressions[compression]

    def compression_of(self, name: str) -> str | None:
        """The compression a file name says (its suffix after one of the extensions),
        or None when the name is not one of this format's."""
        low = name.lower()
        best: tuple[int, str] | None = None
        for ext in self.extensions:
            for comp, suffix in self.compressions.items():
                if low.endswith(ext + suffix) and (best is None or len(suffix) > best[0]):
                    best = (len(suffix), comp)
        if best is None:
            return None
        suffix_len, comp = best
        # several compressions without a suffix (Parquet's codecs): the default's name
        if suffix_len == 0 and self.compressions[self.compression] == "":
            return self.compression
        return comp

    def compression_named(self, name: str) -> str | None:
        """The compression a name given for output says by its suffix (`x.gz`: gzip),
        whatever comes before it; else the one without a suffix (None if none has)."""
        low = name.lower()
        for comp, suffix in self.compressions.items():
            if suffix and low.endswith(suffix):
                return comp
        return next((c for c, s in self.compressions.items() if not s), None)

    def check(self, compression: str | None, level: int | None) -> tuple[str, int | None]:
        """(compression, level) resolved to the defaults; ValueError names what is wrong."""
        comp = compression or self.compression
        if comp not in self.compressions:
            raise ValueError(
                f"compression {comp!r} is not one {self.title} takes; allowed: "
                + ", ".join(self.compressions)
            )
        if level is None:
            return comp, self.default_level
        if self.levels is None:
            raise ValueError(f"level: {self.title} output takes no compression level")
        if level not in self.levels:
            raise ValueError(
                f"level: {self.title} takes levels {self.levels.start}..{self.levels.stop - 1}"
            )
        return comp, level


def _relative_name(name: str) -> bool:
    """Whether `name` is a relative path inside a shard: `a`, `a/b/c`, never `..`, `.`,
    an empty part, or a hidden name (hidden names are seqray's temporaries)."""
    parts = name.split("/")
    return all(p and not p.startswith(".") for p in parts)


class DirectoryShard:
    """The files of a directory shard, appearing together: locally they are written into
    a hidden temporary directory beside the shard (`.NAME.tmp-XXXX/`, which a killed
    run's sweep removes) that `commit` renames into place; on S3, where a prefix cannot
    be renamed, each object is written under its final name (as `AtomicFile` does) and
    the run's journal commits the shard. File names may hold `/` (a store's tree).

    A library that writes a tree of files by path (zarr) writes into `local_dir()`: the
    staging directory itself locally, a local temporary directory for S3 whose files
    `commit` uploads."""

    def __init__(self, uri: str):
        self.uri = uri
        self.s3 = is_s3(uri)
        if self.s3:
            self.staging = uri
        else:
            d, b = os.path.split(os.path.abspath(uri))
            self.staging = os.path.join(d, f".{b}.tmp-{uuid.uuid4().hex[:8]}")
            os.makedirs(self.staging)
        self.files: dict[str, AtomicFile] = {}
        self._local: str | None = None  # local_dir(), once asked for

    def file(self, name: str) -> AtomicFile:
        """A new file `name` in the shard, committed with it."""
        if name in self.files or not _relative_name(name):
            raise ValueError(f"{self.uri}: {name!r} is not a new file name in the shard")
        f = self.files[name] = AtomicFile(join(self.staging, name))
        return f

    def local_dir(self) -> str:
        """A local directory whose files (at commit) are the shard's."""
        if self._local is None:
            self._local = tempfile.mkdtemp(prefix="seqray-") if self.s3 else self.staging
        return self._local

    def _local_files(self) -> list[WrittenFile]:
        """The files written into `local_dir()`: hashed in place locally, uploaded to S3."""
        if self._local is None:
            return []
        out = []
        pending = {os.path.abspath(f.tmp) for f in self.files.values()}  # file()'s temporaries
        for d, _, names in os.walk(self._local):
            for n in names:
                path = os.path.join(d, n)
                if os.path.abspath(path) in pending:
                    continue
                rel = os.path.relpath(path, self._local).replace(os.sep, "/")
                if rel in self.files or not _relative_name(rel):
                    raise OutputError(f"{self.uri}: {rel!r} is not a file name in the shard")
                if self.s3:
                    f = self.file(rel)
                    with open(path, "rb") as src:
                        while data := src.read(8 << 20):
                            f.write(data)
                    continue
                sha, size = hashlib.sha256(), 0
                with open(path, "rb") as src:
                    while data := src.read(8 << 20):
                        sha.update(data)
                        size += len(data)
                out.append(WrittenFile(rel, 0, size, sha.hexdigest()))
        return out

    def commit(self, rows: int) -> WrittenShard:
        in_place = self._local_files()
        for f in self.files.values():
            f.commit()
        if self.s3 and self._local is not None:
            shutil.rmtree(self._local, ignore_errors=True)
        if not self.s3:
            self._replace([*self.files, *(f.uri for f in in_place)])
        written = [
            WrittenFile(join(self.uri, name), rows, f.size, f.sha.hexdigest())
            for name, f in self.files.items()
        ] + [WrittenFile(join(self.uri, f.uri), rows, f.bytes, f.sha256) for f in in_place]
        written.sort(key=lambda f: f.uri)
        return WrittenShard(self.uri, rows, written, directory=True)

    def _replace(self, names: list[str]) -> None:
        """Renames the staging directory into place. A shard already there is this
        shard's earlier copy (a chunk done again on resume): its files of these names go
        first (and the subdirectories that leaves empty); anything else in it is not
        seqray's, and stops the commit."""
        final = os.path.abspath(self.uri)
        if os.path.isdir(final) and not os.path.islink(final):
            for name in names:
                try:
                    os.remove(os.path.join(final, name))
                except FileNotFoundError:
                    pass
            for d, _, _ in sorted(os.walk(final), key=lambda w: -len(w[0])):
                if d != final:
                    try:
                        os.rmdir(d)  # only when empty
                    except OSError:
                        pass
        try:
            os.replace(self.staging, final)
        except OSError as exc:
            left = sorted(os.listdir(final)) if os.path.isdir(final) else []
            raise OutputError(
                f"{self.uri}: cannot replace this shard directory"
                + (f": it holds files seqray did not write ({', '.join(left[:5])})" if left else "")
                + f" ({exc.strerror}); move them away"
            ) from None

    def abort(self) -> None:
        for f in self.files.values():
            f.abort()
        if self.s3 and self._local is not None:
            shutil.rmtree(self._local, ignore_errors=True)
        fs, path = filesystem_for(self.staging)
        if self.s3:
            for name in self.files:  # objects already committed under their final names
                try:
                    fs.delete_file(f"{path}/{name}")
                except OSError:
                    pass
            return
        try:
            fs.delete_dir(path)
        except (FileNotFoundError, OSError):
            pass
