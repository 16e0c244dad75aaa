"""Output formats: one module each, registered by name (`registry.py`).

A format module declares an `OutputFormat` — its name, file extensions, the compressions it
takes, whether a pair's mates share a shard, whether a shard is a directory — with a
factory that opens a `ShardWriter`, and calls `register_format`. The built-in formats
are imported below: adding one is its module plus its name on that line. The array
formats (HDF5, NetCDF-4, Zarr) share `arrays.py`; their libraries are an extra
(`seqray[formats]`), imported only when a shard is written or read.
"""

from .base import DirectoryShard, Opener, OutputFormat, ShardWriter, WrittenShard
from .registry import extensions_hint, format_for_path, format_names, get_format, register_format

# the built-in formats, each registering itself (in this order: messages list them so)
# isort: off
from . import text, parquet, bam, hdf5, netcdf, zarr_store  # noqa: F401
# isort: on

__all__ = [
    "DirectoryShard",
    "OutputFormat",
    "Opener",
    "ShardWriter",
    "WrittenShard",
    "extensions_hint",
    "format_for_path",
    "format_names",
    "get_format",
    "register_format",
]
