"""Zarr v3: the write stage's directory (`OUT/<path>/`) is one Zarr v3 group, and each
chunk of the run writes its own disjoint part of it, in parallel: a child group
`part-<chunk>.zarr/` holding the arrays of `arrays.py` (each with `dimension_names`, so
`xarray.open_zarr(OUT/<path>, group="part-….zarr")` opens it), chunked (about 1 MiB of
rows) and compressed (zstd or gzip at `level`, or none). A part is a directory shard:
staged in a hidden directory and renamed into place whole (on S3: uploaded object by
object, committed by the run's journal), every file recorded with its size and sha256,
so a resumed run verifies and keeps finished parts.

When every part is written, the write stage's finishing step writes the root group's
`zarr.json`: its attributes list the parts in read order with their rows
(`seqray.parts`), and it holds the parts' metadata consolidated, so a reader opens the
whole store with one request. float32 and float16 are Zarr data types; bfloat16 is never
produced. Names are Zarr's variable-length `string` type (vlen-utf8).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pyarrow as pa

from ...errors import InputError
from ..fs import is_s3, join, read_json
from ..writers import WrittenFile, write_json
from .arrays import ARRAY_KINDS, ArrayShardWriter, ArraySpec
from .base import DirectoryShard, OutputFormat, WrittenShard
from .registry import register_format


def _compressors(compression: str, level: int | None) -> Any:
    from zarr.codecs import GzipCodec, ZstdCodec

    if compression == "zstd":
        return [ZstdCodec(level=level if level is not None else 3)]
    if compression == "gzip":
        return [GzipCodec(level=level if level is not None else 5)]
    return None


class ZarrShardWriter(ArrayShardWriter):
    title = "Zarr"

    def __init__(
        self,
        uri: str,
        schema: pa.Schema,
        compression: str,
        level: int | None,
        provenance: dict[str, str] | None,
    ):
        import zarr
        from zarr.storage import LocalStore

        super().__init__(uri, schema, compression, level, provenance)
        self.compressors = _compressors(compression, level)
        self.shard = DirectoryShard(uri)
        try:
            store = LocalStore(self.shard.local_dir())
            self.group = zarr.open_group(store=store, mode="w", zarr_format=3)
            self.zarrays: dict[str, Any] = {}
            self._start()
        except BaseException:
            self.shard.abort()
            raise

    def _create(self, spec: ArraySpec, length: int | None) -> None:
        rows = length if length is not None else 0
        arr = self.group.create_array(
            spec.name,
            shape=(rows, *spec.inner),
            chunks=self.chunks(spec) if length is None else (max(1, rows), *spec.inner),
            dtype=str if spec.is_string else spec.dtype,
            compressors=None if spec.is_string else self.compressors,
            dimension_names=spec.dims,
            attributes={"long_name": spec.long_name},
            fill_value="" if spec.is_string else 0,
        )
        self.zarrays[spec.name] = arr

    def _append(self, spec: ArraySpec, arr: np.ndarray, at: int) -> None:
        if not len(arr):
            return
        z = self.zarrays[spec.name]
        if z.shape[0] < at + len(arr):
            z.resize((at + len(arr), *spec.inner))
        z[at : at + len(arr)] = arr

    def commit(self) -> WrittenShard:
        self._names()
        self.group.attrs.update(self.attributes())
        arrays = self.arrays()
        shard = self.shard.commit(self.rows)
        shard.arrays = arrays
        return shard

    def abort(self) -> None:
        self.shard.abort()


def root_metadata(directory: str, shards: list[Any]) -> dict[str, Any]:
    """The root group's `zarr.json`: the parts in read order with their rows, and every
    part's metadata (its `zarr.json` files) consolidated."""
    consolidated: dict[str, Any] = {}
    base = directory.rstrip("/") + "/"
    for s in shards:
        for f in s.files:
            if not f.uri.endswith("/zarr.json") or not f.uri.startswith(base):
                continue
            meta = read_json(f.uri)
            if meta is None:
                raise InputError(f"{f.uri}: cannot read this Zarr metadata back")
            consolidated[f.uri[len(base) : -len("/zarr.json")]] = meta
    parts = [s.uri[len(base) :] for s in shards]
    return {
        "zarr_format": 3,
        "node_type": "group",
        "attributes": {
            "seqray": {"parts": parts, "rows": [s.rows for s in shards]},
        },
        "consolidated_metadata": {
            "kind": "inline",
            "must_understand": False,
            "metadata": dict(sorted(consolidated.items())),
        },
    }


def _finish_dir(directory: str, shards: list[Any]) -> list[WrittenFile]:
    return [write_json(join(directory, "zarr.json"), root_metadata(directory, shards))]


# -- single-file output: the parts merged into one store --------------------------------

MERGE_TASK_BYTES = 64 << 20  # about this much of an array per merge task


def _copy_region(item: tuple[str, str, int, int, list[tuple[Any, ...]]]) -> int:
    """One merge task: rows [a, b) of the store's array `name` (a whole number of its
    chunks, so tasks write disjoint chunk files), from the parts' segments overlapping
    it: (store row, part, part row, rows, add, remap). Returns the rows written."""
    import zarr
    from zarr.storage import LocalStore

    root, name, a, b, segments = item
    dest = zarr.open_array(store=LocalStore(root), path=name, mode="r+")
    pieces = []
    for start, part, src, n, add, remap in segments:
        lo, hi = max(a, start), min(b, start + n)
        if lo >= hi:
            continue
        if part is None:  # the leading 0 of an offsets array
            pieces.append(np.zeros(hi - lo, dtype=dest.dtype))
            continue
        got = zarr.open_array(store=LocalStore(part, read_only=True), path=name, mode="r")
        block = np.asarray(got[src + lo - start : src + hi - start])
        if remap is not None:
            block = np.asarray(remap, dtype=np.int32)[block]
        if add:
            block = block + add
        pieces.append(block)
    data = np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
    dest[a:b] = data
    return b - a


def _merge(shards: list[Any], target: str, runner: Any) -> WrittenFile:
    """The parts (`part-*.zarr` groups, in read order) as one Zarr v3 group at `target`:
    each array end to end — `vector` [N, D], `record` [N], … — with `source` codes into
    one name table and per-token offsets continued. Written in a staging directory renamed
    into place when complete; the copy is spread over the runner in tasks that each write
    whole chunks of one array (disjoint files)."""
    import zarr
    from zarr.storage import LocalStore

    from ..writers import tree_digest

    store = DirectoryShard(target)
    try:
        root = store.local_dir()
        parts = [s.uri for s in shards]
        first = (
            zarr.open_group(store=LocalStore(parts[0], read_only=True), mode="r") if parts else None
        )
        group = zarr.open_group(store=LocalStore(root), mode="w", zarr_format=3)
        if first is not None:
            group.attrs.update({**dict(first.attrs), "seqray_parts": len(parts)})
        rows = [s.rows for s in shards]
        starts = np.concatenate([[0], np.cumsum(rows, dtype=np.int64)])
        total = int(starts[-1])
        meta: dict[str, Any] = dict(shards[0].arrays or {}) if shards else {}
        names = {n[: -len("_names")] for n in meta if n.endswith("_names") and n[:-6] in meta}
        ragged = {n[: -len("_offsets")] for n in meta if n.endswith("_offsets")}
        # the name tables: one for the store, and each part's codes remapped into it
        tables: dict[str, list[str]] = {}
        remaps: dict[str, list[list[int]]] = {}
        for col in sorted(names):
            table: dict[str, int] = {}
            remaps[col] = []
            for p in parts:
                g: Any = zarr.open_group(store=LocalStore(p, read_only=True), mode="r")
                local = [str(x) for x in np.asarray(g[f"{col}_names"][:])]
                remaps[col].append([table.setdefault(x, len(table)) for x in local])
            tables[col] = list(table)
        # each part's length of every ragged column's values
        values = {col: [int(s.arrays[col]["shape"][0]) for s in shards] for col in ragged}
        items = []
        out_arrays: dict[str, Any] = {}
        for name, m in meta.items():
            src: Any = first[name] if first is not None else None
            inner = tuple(m["shape"][1:])
            if name.endswith("_names") and name[:-6] in names:
                length = len(tables[name[:-6]])
            elif name.endswith("_offsets") and name[:-8] in ragged:
                length = total + 1
            elif name in ragged:
                length = sum(values[name])
            else:
                length = total
            chunks = tuple(m["chunks"]) if not name.endswith("_names") else (max(1, length),)
            arr = group.create_array(
                name,
                shape=(length, *inner),
                chunks=(chunks[0], *inner),
                dtype=src.dtype if src is not None else m["dtype"],
                compressors=src.compressors if src is not None else None,
                dimension_names=tuple(m["dims"]),
                attributes=dict(src.attrs) if src is not None else {},
                fill_value=src.fill_value if src is not None else 0,
            )
            out_arrays[name] = {
                "shape": [length, *inner],
                "dtype": m["dtype"],
                "chunks": [chunks[0], *inner],
                "dims": m["dims"],
            }
            if name.endswith("_names") and name[:-6] in names:
                if length:
                    arr[:] = np.array(tables[name[:-6]], dtype=object)
                continue
            segments: list[tuple[Any, ...]] = []
            if name.endswith("_offsets") and name[:-8] in ragged:
                vals = values[name[:-8]]
                bases = np.concatenate([[0], np.cumsum(vals, dtype=np.int64)])
                segments.append((0, None, 0, 1, 0, None))
                for k, p in enumerate(parts):
                    segments.append((1 + int(starts[k]), p, 1, rows[k], int(bases[k]), None))
            elif name in ragged:
                bases = np.concatenate([[0], np.cumsum(values[name], dtype=np.int64)])
                for k, p in enumerate(parts):
                    segments.append((int(bases[k]), p, 0, values[name][k], 0, None))
            else:
                for k, p in enumerate(parts):
                    remap = remaps[name][k] if name in names else None
                    segments.append((int(starts[k]), p, 0, rows[k], 0, remap))
            row_bytes = max(1, int(np.prod(inner, dtype=np.int64)) * 8)
            step = chunks[0] * max(1, MERGE_TASK_BYTES // (chunks[0] * row_bytes))
            for a in range(0, length, step):
                b = min(length, a + step)
                mine = [g for g in segments if g[0] < b and g[0] + g[3] > a]
                items.append((root, name, a, b, mine))
        done = sum(runner.map(_copy_region, items)) if items else 0
        assert done == sum(it[3] - it[2] for it in items)
        written = store.commit(total)
    except BaseException:
        store.abort()
        raise
    files = written.files
    size = sum(f.bytes for f in files)
    return WrittenFile(target, total, size, tree_digest(target, files), files, out_arrays)


class ZarrArrays:
    """A part's arrays read with zarr-python, lazily (`read` reads the chunks the rows
    need). S3 needs fsspec's s3fs (zarr's FsspecStore)."""

    def __init__(self, uri: str):
        import zarr

        self.uri = uri
        try:
            if is_s3(uri):
                store: Any = _s3_store(uri)
            else:
                from zarr.storage import LocalStore

                store = LocalStore(uri, read_only=True)
            self.group = zarr.open_group(store=store, mode="r", zarr_format=3)
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            raise InputError(f"{uri}: cannot open as a Zarr group: {exc}") from None
        self.attrs = dict(self.group.attrs)
        self._arrays: dict[str, Any] = {}

    def _array(self, name: str) -> Any:
        if name not in self._arrays:
            self._arrays[name] = self.group[name]
        return self._arrays[name]

    def has(self, name: str) -> bool:
        return name in self.group

    def names(self) -> list[str]:
        return sorted(self.group.array_keys())

    def dims(self, name: str) -> tuple[str, ...]:
        return tuple(self._array(name).metadata.dimension_names or ())

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._array(name).shape)

    def dtype(self, name: str) -> np.dtype:
        dt = self._array(name).dtype
        return np.dtype(object) if dt.kind in "OUT" else np.dtype(dt)

    def read(self, name: str, sel: slice | np.ndarray) -> np.ndarray:
        z = self._array(name)
        got = z[sel] if isinstance(sel, slice) else z.oindex[sel]
        if self.dtype(name) == np.dtype(object):
            return np.asarray(got, dtype=object)
        return np.asarray(got)

    def close(self) -> None:
        pass


def _s3_store(uri: str) -> Any:
    import importlib.util

    if importlib.util.find_spec("s3fs") is None:  # zarr's FsspecStore needs it for s3://
        raise InputError(
            f"{uri}: reading Zarr from S3 needs s3fs (pip install s3fs); Parquet, HDF5 and "
            "NetCDF-4 shards are read from S3 without it"
        )
    from zarr.storage import FsspecStore

    endpoint = os.environ.get("SEQRAY_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
    opts: dict[str, Any] = {"client_kwargs": {"endpoint_url": endpoint}} if endpoint else {}
    return FsspecStore.from_url(uri, storage_options=opts, read_only=True)


register_format(
    OutputFormat(
        name="zarr",
        title="Zarr",
        extensions=(".zarr",),
        open=ZarrShardWriter.open,
        compressions={"zstd": "", "gzip": "", "none": ""},  # inside the store
        pairs_in_one=True,
        needs_reads=False,
        levels=range(1, 10),
        default_level=3,
        directory=True,
        kinds=ARRAY_KINDS,
        requires=("zarr",),
        provenance=True,
        finish_dir=_finish_dir,
        reader=ZarrArrays,
        merge=_merge,
    )
)
