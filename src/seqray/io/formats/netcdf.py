"""NetCDF-4 (netCDF4, CF-1.10 conventions): one `.nc` file per shard, the arrays of
`arrays.py` as variables over named dimensions — `read` (unlimited: one per row),
`read_offset` (rows + 1, for the ragged arrays' offsets), `dim` (the vector size),
`token` (every token's row of a per-token array), `source_name` — each with `long_name`
and `units` attributes, zlib-compressed (`level`) and chunked (about 1 MiB of rows).
Global attributes: Conventions, title, history, source, and the seqray version, batch
kind, stage and model. `xarray.open_dataset` opens a shard as a Dataset.

NetCDF has no 16-bit float type: float16 vectors are stored as float32 (exactly: every
float16 is a float32), with the variable attribute `seqray_dtype = "float16"` saying so;
`seqray.load_embeddings` gives them back as float16. bfloat16 is never produced.
Variable-length strings (names) are not compressed (netCDF-4 does not compress them).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from ..writers import StagedFile
from .arrays import ARRAY_KINDS, ROWS, ArrayShardWriter, ArraySpec
from .base import OutputFormat, WrittenShard
from .hdf5 import HDF5Arrays
from .registry import register_format

_UNITS = {"record": "1", "source": "1", "vector": "1", "token_values": "1", "score": "1"}


class NetCDFShardWriter(ArrayShardWriter):
    title = "NetCDF-4"

    def __init__(
        self,
        uri: str,
        schema: pa.Schema,
        compression: str,
        level: int | None,
        provenance: dict[str, str] | None,
    ):
        import netCDF4  # an extra: seqray[formats]

        super().__init__(uri, schema, compression, level, provenance)
        self.compression = compression
        self.level = level
        self.staged = StagedFile(uri)
        self.ds = netCDF4.Dataset(self.staged.path, "w", format="NETCDF4")
        self.ds.set_auto_mask(False)
        self.vars: dict[str, Any] = {}
        try:
            self._start()
        except BaseException:
            self.abort()
            raise

    def stored_dtype(self, spec: ArraySpec) -> np.dtype:
        if spec.dtype == np.float16:
            return np.dtype(np.float32)
        if spec.dtype == np.bool_:
            return np.dtype(np.int8)
        return spec.dtype

    def _dimension(self, name: str, size: int | None) -> None:
        if name not in self.ds.dimensions:
            self.ds.createDimension(name, size)

    def _create(self, spec: ArraySpec, length: int | None) -> None:
        first = spec.dims[0]
        self._dimension(first, length)  # None: unlimited (rows, tokens, offsets)
        for d, size in zip(spec.dims[1:], spec.inner):
            self._dimension(d, size)
        string = spec.is_string
        opts: dict[str, Any] = {}
        if self.compression == "zlib" and not string:
            opts = {"zlib": True, "complevel": self.level, "shuffle": True}
        if length is None:
            opts["chunksizes"] = self.chunks(spec)
        else:
            opts["contiguous"] = True  # a table written once (names)
        var = self.ds.createVariable(
            spec.name, str if string else self.stored_dtype(spec), spec.dims, **opts
        )
        var.long_name = spec.long_name
        if not string:
            var.units = _UNITS.get(spec.name, "1")
        if spec.dtype == np.float16:
            var.seqray_dtype = "float16"
        if spec.dtype == np.bool_:
            var.seqray_dtype = "bool"
        self.vars[spec.name] = var

    def _append(self, spec: ArraySpec, arr: np.ndarray, at: int) -> None:
        if not len(arr):
            return
        if not spec.is_string:
            arr = arr.astype(self.stored_dtype(spec), copy=False)
        self.vars[spec.name][at : at + len(arr)] = arr

    def commit(self) -> WrittenShard:
        from ... import __version__

        self._names()
        attrs = self.attributes()
        kind = self.provenance.get("kind", "arrays")
        self.ds.setncatts(
            {
                "Conventions": "CF-1.10",
                "title": f"seqray {kind}: one row per {ROWS}",
                "history": f"written by seqray {__version__} (write stage, "
                f"from the {self.provenance.get('stage', 'read')} stage)",
                "source": f"seqray {__version__}",
                **attrs,
            }
        )
        arrays = self.arrays()
        self.ds.close()
        f = self.staged.commit(self.rows)
        return WrittenShard(f.uri, f.rows, [f], arrays=arrays)

    def abort(self) -> None:
        try:
            self.ds.close()
        except Exception:  # noqa: BLE001  closing a dataset given up on: the file goes anyway
            pass
        self.staged.abort()


register_format(
    OutputFormat(
        name="netcdf",
        title="NetCDF-4",
        extensions=(".nc",),
        open=NetCDFShardWriter.open,
        compressions={"zlib": "", "none": ""},  # inside the file
        pairs_in_one=True,
        needs_reads=False,
        levels=range(1, 10),
        default_level=4,
        kinds=ARRAY_KINDS,
        requires=("netCDF4",),
        provenance=True,
        reader=HDF5Arrays,  # a NetCDF-4 file is an HDF5 file
    )
)
