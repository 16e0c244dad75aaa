"""HDF5 (h5py): one `.h5` file per shard, the arrays of `arrays.py` as datasets at its
root — chunked (about 1 MiB of rows per chunk), compressed (gzip with `level`, lzf, or
none; numbers byte-shuffled first), growing along rows as batches come. Attributes: each
dataset's `long_name` and `dims`; the file's seqray version, batch kind, the stage that
made the batches and its model. float32 and float16 are stored as such (HDF5 has IEEE
half floats); bfloat16 is never produced (the pipeline's outputs are float32|float16).

h5py writes by path, so a shard is written at a hidden temporary name and renamed (on
S3: written locally, then uploaded) when complete (`StagedFile`). The reader here reads
NetCDF-4 files too: they are HDF5 files.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from ...errors import InputError
from ..fs import is_s3, open_input
from ..writers import StagedFile
from .arrays import ARRAY_KINDS, ArrayShardWriter, ArraySpec
from .base import OutputFormat, WrittenShard
from .registry import register_format


class HDF5ShardWriter(ArrayShardWriter):
    title = "HDF5"

    def __init__(
        self,
        uri: str,
        schema: pa.Schema,
        compression: str,
        level: int | None,
        provenance: dict[str, str] | None,
    ):
        import h5py  # type: ignore[import-untyped]  # an extra: seqray[formats]

        super().__init__(uri, schema, compression, level, provenance)
        self.h5py = h5py
        self.compression = compression
        self.level = level
        self.staged = StagedFile(uri)
        self.file = h5py.File(self.staged.path, "w", track_order=True)
        self.datasets: dict[str, Any] = {}
        try:
            self._start()
        except BaseException:
            self.abort()
            raise

    def _create(self, spec: ArraySpec, length: int | None) -> None:
        h5py = self.h5py
        string = spec.is_string
        dtype = h5py.string_dtype("utf-8") if string else spec.dtype
        opts: dict[str, Any] = {}
        if self.compression == "gzip":
            opts = {"compression": "gzip", "compression_opts": self.level}
        elif self.compression == "lzf":
            opts = {"compression": "lzf"}
        if opts and not string:
            opts["shuffle"] = True
        rows = length if length is not None else 0
        ds = self.file.create_dataset(
            spec.name,
            shape=(rows, *spec.inner),
            maxshape=(None, *spec.inner),
            chunks=self.chunks(spec) if length is None else (max(1, rows), *spec.inner),
            dtype=dtype,
            track_times=False,  # identical bytes from identical input
            **opts,
        )
        ds.attrs["long_name"] = spec.long_name
        ds.attrs["dims"] = ",".join(spec.dims)
        self.datasets[spec.name] = ds

    def _append(self, spec: ArraySpec, arr: np.ndarray, at: int) -> None:
        ds = self.datasets[spec.name]
        if ds.shape[0] < at + len(arr):
            ds.resize(at + len(arr), axis=0)
        if len(arr):
            ds[at : at + len(arr)] = arr

    def commit(self) -> WrittenShard:
        self._names()
        for k, v in self.attributes().items():
            self.file.attrs[k] = v
        arrays = self.arrays()
        self.file.close()
        f = self.staged.commit(self.rows)
        return WrittenShard(f.uri, f.rows, [f], arrays=arrays)

    def abort(self) -> None:
        try:
            self.file.close()
        except Exception:  # noqa: BLE001  an h5py error while giving up: the file goes anyway
            pass
        self.staged.abort()


class HDF5Arrays:
    """A shard's arrays read with h5py (HDF5 and NetCDF-4 files), lazily: `read` reads
    the rows asked for. Local files are opened by path; S3 objects through a seekable
    stream, reading only the byte ranges the rows need."""

    def __init__(self, uri: str):
        import h5py

        self.uri = uri
        try:
            self.file = h5py.File(open_input(uri) if is_s3(uri) else uri, "r")
        except OSError as exc:
            raise InputError(f"{uri}: cannot open as HDF5: {exc}") from None
        self.attrs = {k: _plain(v) for k, v in self.file.attrs.items()}

    def has(self, name: str) -> bool:
        return name in self.file

    def names(self) -> list[str]:
        """The arrays (a NetCDF-4 file's bare dimension scales left out)."""
        return [k for k, v in self.file.items() if "long_name" in v.attrs]

    def dims(self, name: str) -> tuple[str, ...]:
        return tuple(_plain(self.file[name].attrs.get("dims", "")).split(","))

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.file[name].shape)

    def dtype(self, name: str) -> np.dtype:
        ds = self.file[name]
        if ds.dtype.kind in "OS":
            return np.dtype(object)
        saved = ds.attrs.get("seqray_dtype")  # NetCDF-4: float16 stored as float32
        return np.dtype(_plain(saved)) if saved is not None else ds.dtype

    def read(self, name: str, sel: slice | np.ndarray) -> np.ndarray:
        ds = self.file[name]
        if ds.dtype.kind in "OS":
            got = ds.asstr()[sel]
            return np.asarray(got, dtype=object)
        out = ds[sel]
        return np.asarray(out, dtype=self.dtype(name))

    def close(self) -> None:
        self.file.close()


def _plain(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


register_format(
    OutputFormat(
        name="hdf5",
        title="HDF5",
        extensions=(".h5", ".hdf5"),
        open=HDF5ShardWriter.open,
        compressions={"gzip": "", "lzf": "", "none": ""},  # inside the file
        pairs_in_one=True,
        needs_reads=False,
        levels=range(0, 10),
        default_level=4,
        kinds=ARRAY_KINDS,
        requires=("h5py",),
        provenance=True,
        reader=HDF5Arrays,
    )
)
