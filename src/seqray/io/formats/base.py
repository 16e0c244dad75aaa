"""What every output format provides: an `OutputFormat` declaration, its `ShardWriter`, and the
`WrittenShard` a committed shard is recorded as.

A shard is what one chunk writes for one sink: one file, or a directory of files (a
directory store). Either way it appears whole or not at all, and every file in it is
recorded with its size and sha256, which resume and output ownership check.
"""

from __future__ import annotations

import os
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

    @classmethod
    def of_file(cls, f: WrittenFile) -> WrittenShard:
        return cls(f.uri, f.rows, [f])

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    def to_json(self) -> dict[str, Any]:
        """The shard as a chunk outcome lists it (the stage adds `stage`, `stage_index`)."""
        return {
            "uri": self.uri,
            "rows": self.rows,
            "files": [{"uri": f.uri, "bytes": f.bytes, "sha256": f.sha256} for f in self.files],
        }


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


class DirectoryShard:
    """The files of a directory shard, appearing together: locally they are written into
    a hidden temporary directory beside the shard (`.NAME.tmp-XXXX/`, which a killed
    run's sweep removes) that `commit` renames into place; on S3, where a prefix cannot
    be renamed, each object is written under its final name (as `AtomicFile` does) and
    the run's journal commits the shard."""

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

    def file(self, name: str) -> AtomicFile:
        """A new file `name` in the shard, committed with it."""
        if name in self.files or "/" in name:
            raise ValueError(f"{self.uri}: {name!r} is not a new file name in the shard")
        f = self.files[name] = AtomicFile(join(self.staging, name))
        return f

    def commit(self, rows: int) -> WrittenShard:
        for f in self.files.values():
            f.commit()
        if not self.s3:
            self._replace()
        written = [
            WrittenFile(join(self.uri, name), rows, f.size, f.sha.hexdigest())
            for name, f in sorted(self.files.items())
        ]
        return WrittenShard(self.uri, rows, written, directory=True)

    def _replace(self) -> None:
        """Renames the staging directory into place. A shard already there is this
        shard's earlier copy (a chunk done again on resume): its files of these names go
        first; anything else in it is not seqray's, and stops the commit."""
        final = os.path.abspath(self.uri)
        if os.path.isdir(final) and not os.path.islink(final):
            for name in self.files:
                try:
                    os.remove(os.path.join(final, name))
                except FileNotFoundError:
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
