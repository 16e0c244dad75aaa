"""An embedding model directory: the k-mer hasher, the bucket table and their metadata.

```
MODEL_DIR/model.json   {"format": "seqray-embedding-model", "version": 1, "hash": ...,
                        "dim", "dtype", "vocab_size", "training": {...},
                        "files": {name: {"bytes", "sha256"}}}
MODEL_DIR/hash.npz     the hasher's arrays (LSH planes)
MODEL_DIR/buckets.npy  uint32[V] sorted bucket ids
MODEL_DIR/vectors.npy  [V, dim] float32 | float16 | bfloat16 bits (uint16)
MODEL_DIR/counts.npy   int64[V] training counts
```
Every file is written atomically and model.json last, so a directory with a model.json
holds a complete model; `model.json` lists the size and sha256 of every file, which is how
a later save knows which files it may replace (only those, and only with `overwrite`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..errors import InputError, OutputError
from ..io.fs import exists, filesystem_for, join, read_json
from ..io.writers import WrittenFile, write_json, write_npz
from ..pipeline.manifest import file_ok
from .table import DTYPES, EmbeddingTable, write_npy

FORMAT = "seqray-embedding-model"
VERSION = 1
META = "model.json"
ARRAY_FILES = ("hash.npz", "buckets.npy", "vectors.npy", "counts.npy")


class Hasher(Protocol):
    """What a model needs of a k-mer hasher (seqray.embed.hashing.KmerHasher)."""

    k: int

    def id_space(self) -> int: ...

    def hash_reads(
        self, values: np.ndarray, offsets: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def to_json(self) -> dict: ...

    def arrays(self) -> dict[str, np.ndarray]: ...


def load_hasher(meta: dict, arrays: dict[str, np.ndarray]) -> Hasher:
    """The hasher a model.json's `hash` entry and hash.npz describe."""
    from .hashing import hasher_from

    hasher: Hasher = hasher_from(meta, arrays)
    return hasher


@dataclass
class EmbeddingModel:
    """A hasher (k-mer → bucket id), the table of bucket vectors, and how it was trained."""

    hasher: Hasher
    table: EmbeddingTable
    training: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return self.table.dim

    @property
    def dtype(self) -> str:
        return self.table.dtype

    def save(
        self,
        directory: str,
        overwrite: bool = False,
        extra_arrays: dict[str, np.ndarray] | None = None,
        extra_meta: dict[str, Any] | None = None,
    ) -> list[WrittenFile]:
        """Writes the model directory (model.json last). Refuses when a model is there
        unless `overwrite`, and even then refuses to replace a file that is not the one
        its model.json records (seqray did not write it). Other files are left alone.
        A model built on this one (the classifier) adds its arrays (`name.npy`) and its
        model.json entries."""
        extra_arrays = extra_arrays or {}
        _check_replaceable(directory, overwrite, [*ARRAY_FILES, *extra_arrays, META])
        written = {"hash.npz": write_npz(join(directory, "hash.npz"), self.hasher.arrays())}
        written.update(self.table.save_arrays(directory))
        for name, array in extra_arrays.items():
            written[name] = write_npy(join(directory, name), array)
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "hash": self.hasher.to_json(),
            "dim": self.dim,
            "dtype": self.dtype,
            "vocab_size": self.table.size,
            "training": self.training,
            **(extra_meta or {}),
            "files": {n: {"bytes": f.bytes, "sha256": f.sha256} for n, f in written.items()},
        }
        return [*written.values(), write_json(join(directory, META), meta)]

    @classmethod
    def load(cls, directory: str, mmap: bool = True, verify: bool = False) -> EmbeddingModel:
        """The model in `directory` (its table memory-mapped when local and `mmap`).
        Checks the format, the version and that every file has its recorded size (with
        `verify`, its sha256 too); errors name the file."""
        meta = read_meta(directory)
        for name in ARRAY_FILES:
            rec = {"uri": join(directory, name), **meta["files"][name]}
            if verify and not file_ok(rec):
                raise InputError(f"{rec['uri']}: does not match the size and sha256 in {META}")
            _check_size(rec)
        npz_uri = join(directory, "hash.npz")
        fs, path = filesystem_for(npz_uri)
        try:
            with fs.open_input_file(path) as src, np.load(io.BytesIO(src.read())) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError) as exc:
            raise InputError(f"{npz_uri}: not a readable .npz file: {exc}") from None
        try:
            hasher = load_hasher(meta["hash"], arrays)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{join(directory, META)}: bad `hash` entry: {exc}") from None
        table = EmbeddingTable.load_arrays(directory, meta["dtype"], mmap)
        if table.dim != meta["dim"] or table.size != meta["vocab_size"]:
            raise InputError(
                f"{join(directory, 'vectors.npy')}: {table.size} x {table.dim} vectors, but "
                f"{META} says {meta['vocab_size']} x {meta['dim']}"
            )
        return cls(hasher, table, dict(meta.get("training") or {}))


def read_meta(directory: str) -> dict[str, Any]:
    """model.json, checked: format, version, dtype, dim and the list of files."""
    uri = join(directory, META)
    meta = read_json(uri)
    if meta is None:
        if exists(uri):
            raise InputError(f"{uri}: not a readable JSON file")
        what = "no such directory" if not exists(directory) else f"no {META} in it"
        raise InputError(f"{directory}: not an embedding model directory ({what})")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(f"{uri}: not a seqray embedding model (format is not {FORMAT!r})")
    if meta.get("version") != VERSION:
        raise InputError(
            f"{uri}: model format version {meta.get('version')!r}; this seqray reads "
            f"version {VERSION}"
        )
    problems = []
    if meta.get("dtype") not in DTYPES:
        problems.append(f"dtype {meta.get('dtype')!r} is not one of {', '.join(DTYPES)}")
    if not isinstance(meta.get("dim"), int) or meta["dim"] < 1:
        problems.append("dim must be a positive integer")
    if not isinstance(meta.get("vocab_size"), int) or not isinstance(meta.get("hash"), dict):
        problems.append("vocab_size and hash are missing")
    files = meta.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(files.get(n), dict)
        and isinstance(files[n].get("bytes"), int)
        and isinstance(files[n].get("sha256"), str)
        for n in ARRAY_FILES
    ):
        problems.append(f"files must list the bytes and sha256 of {', '.join(ARRAY_FILES)}")
    if problems:
        raise InputError(f"{uri}: {'; '.join(problems)}")
    return meta


def _check_size(rec: dict) -> None:
    fs, path = filesystem_for(rec["uri"])
    info = fs.get_file_info(path)
    if info.size is None:
        raise InputError(f"{rec['uri']}: missing (listed in {META})")
    if info.size != rec["bytes"]:
        raise InputError(f"{rec['uri']}: {info.size} bytes, but {META} records {rec['bytes']}")


def _check_replaceable(directory: str, overwrite: bool, names: list[str]) -> None:
    """Refuses to write over a model (without `overwrite`) or over any of `names` that
    model.json does not record as written by seqray."""
    present = [n for n in names if exists(join(directory, n))]
    if not present:
        return
    meta = read_json(join(directory, META)) if META in present else None
    ours = isinstance(meta, dict) and meta.get("format") == FORMAT
    if ours and not overwrite:
        raise OutputError(
            f"{directory}: already holds an embedding model: use --overwrite to replace it"
        )
    recorded = (meta or {}).get("files", {}) if ours else {}
    foreign = []
    for n in present:
        if n == META:
            if not ours:
                foreign.append(n)
        elif n not in recorded or not file_ok({"uri": join(directory, n), **recorded[n]}):
            foreign.append(n)
    if foreign:
        raise OutputError(
            f"{directory}: holds {', '.join(foreign)}, which seqray cannot tell it wrote; "
            "remove them or choose another directory"
        )


def describe(model: EmbeddingModel) -> str:
    """One line: scheme, k, buckets and dimensions (for messages)."""
    h = model.hasher.to_json()
    return (
        f"{h.get('scheme', '?')} k={model.hasher.k}, {model.table.size:,} buckets x "
        f"{model.dim} ({model.dtype})"
    )
