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

        super().__init__(uri, schema, provenance)
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


def _open(
    uri: str,
    *,
    schema: pa.Schema,
    paired: bool,
    mate: int,
    compression: str,
    level: int | None,
    provenance: dict[str, str] | None = None,
) -> ZarrShardWriter:
    return ZarrShardWriter(uri, schema, compression, level, provenance)


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
        open=_open,
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
    )
)
