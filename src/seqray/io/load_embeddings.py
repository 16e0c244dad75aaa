"""`seqray.load_embeddings`: a finished run's vectors (or per-token arrays) as one lazy,
NumPy-compatible view across its shards, read identities aligned — the way an HPC job
or a notebook reads what the Ray stage wrote, whatever the format.

The manifest is the contract: it names the shards in read order (the chunks' order),
their format, rows and files. Nothing is read until rows are asked for, and then only the
shards — and within them the row groups (Parquet) or chunks (HDF5, NetCDF-4, Zarr) —
that hold them. Each file's size is checked against the manifest when it is opened
(`verify=True` checks sha256 too).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..errors import ManifestError
from .formats import get_format
from .formats.arrays import OFFSETS_DIM, ROWS, layouts
from .fs import filesystem_for, is_s3

if TYPE_CHECKING:
    import xarray as xr

    from ..pipeline.manifest import Manifest, OutputEntry

EMBEDDINGS = ("vector", "token_values")  # the columns an embedding output holds


class ShardArrays(Protocol):
    """A format's reader of one shard (`OutputFormat.reader`): the arrays of
    `io/formats/arrays.py`, by name; `read` takes a slice or sorted unique indices."""

    attrs: dict[str, Any]

    def has(self, name: str) -> bool: ...

    def names(self) -> list[str]: ...

    def shape(self, name: str) -> tuple[int, ...]: ...

    def dtype(self, name: str) -> np.dtype: ...

    def dims(self, name: str) -> tuple[str, ...]: ...

    def read(self, name: str, sel: slice | np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


class _Shard:
    """One shard of the output: opened (and its files checked) on first use."""

    def __init__(self, entry: OutputEntry, verify: bool):
        self.entry = entry
        self.uri = entry.uri
        self.rows = entry.rows
        self.format = entry.format or ""
        self.verify = verify
        self._reader: ShardArrays | None = None
        self._names: dict[str, np.ndarray] = {}

    @property
    def reader(self) -> ShardArrays:
        if self._reader is None:
            _check_files(self.entry, self.verify)
            opener = get_format(self.format).reader
            assert opener is not None  # shards without a reader are not picked
            self._reader = opener(self.uri)
        return self._reader

    def arrays(self) -> dict[str, dict[str, Any]]:
        """The manifest's {name: {shape, dtype, chunks, dims}}, or the reader's (Parquet)."""
        if self.entry.arrays:
            return {n: a.model_dump() for n, a in self.entry.arrays.items()}
        r = self.reader
        return {n: {"dims": list(r.dims(n))} for n in r.names()}

    def read(self, name: str, sel: slice | np.ndarray) -> np.ndarray:
        """Rows of `name`; a dictionary column (`source`) decoded into its strings."""
        r = self.reader
        got = r.read(name, sel)
        if r.has(f"{name}_names") and got.dtype.kind in "iu":
            if name not in self._names:
                self._names[name] = r.read(f"{name}_names", slice(None))
            return np.asarray(self._names[name][got], dtype=object)
        return got

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def _check_files(entry: OutputEntry, verify: bool) -> None:
    """Each file the entry lists is there with its recorded size (and sha256)."""
    from ..pipeline.manifest import file_sha256, shard_files

    for f in shard_files(entry.model_dump(exclude_none=True)):
        fs, path = filesystem_for(f["uri"])
        info = fs.get_file_info(path)
        if info.size is None or info.size != f["bytes"]:
            what = "is missing" if info.size is None else f"has {info.size} bytes"
            raise ManifestError(
                f"{f['uri']}: {what}, the manifest says {f['bytes']}: the output changed since "
                "the run wrote it"
            )
        if verify and file_sha256(f["uri"])[1] != f["sha256"]:
            raise ManifestError(f"{f['uri']}: its sha256 is not the manifest's: it changed")


class ShardedArray:
    """One array across the shards, as one lazy NumPy-like array: `shape`, `dtype`,
    `len`, indexing with ints, slices, integer or boolean arrays (then the other axes),
    and `np.asarray(view)`. Only the shards holding the rows asked for are read."""

    def __init__(
        self,
        parts: list[tuple[_Shard, str, int]],
        dtype: np.dtype,
        inner: tuple[int, ...],
    ):
        self._parts = parts
        self.dtype = np.dtype(dtype)
        self._inner = tuple(inner)
        self._bounds = np.concatenate([[0], np.cumsum([n for _, _, n in parts], dtype=np.int64)])

    @property
    def shape(self) -> tuple[int, ...]:
        return (int(self._bounds[-1]), *self._inner)

    @property
    def ndim(self) -> int:
        return 1 + len(self._inner)

    def __len__(self) -> int:
        return int(self._bounds[-1])

    def __repr__(self) -> str:
        return f"ShardedArray(shape={self.shape}, dtype={self.dtype}, shards={len(self._parts)})"

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, key: Any) -> Any:
        rest: tuple[Any, ...] = ()
        if isinstance(key, tuple):
            key, rest = (key[0] if key else slice(None)), key[1:]
        if key is Ellipsis:
            key = slice(None)
        n = len(self)
        if isinstance(key, (int, np.integer)):
            i = int(key) + (n if int(key) < 0 else 0)
            if not 0 <= i < n:
                raise IndexError(f"row {int(key)} is out of range for {n} rows")
            out = self._take(np.array([i], np.int64))[0]
            return out[rest] if rest else out
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            if step == 1:
                out = self._slice(start, max(start, stop))
            else:
                out = self._take(np.arange(start, stop, step, dtype=np.int64))
        else:
            idx = np.asarray(key)
            if idx.dtype == np.bool_:
                if idx.shape != (n,):
                    raise IndexError(f"a boolean index must have {n} entries, not {idx.shape}")
                idx = np.flatnonzero(idx)
            elif idx.dtype.kind not in "iu" and idx.size:  # [] is float64: no rows
                raise IndexError(f"cannot index rows with {idx.dtype} values")
            flat = idx.reshape(-1).astype(np.int64)
            flat = np.where(flat < 0, flat + n, flat)
            if len(flat) and (flat.min() < 0 or flat.max() >= n):
                raise IndexError(f"row index out of range for {n} rows")
            out = self._take(flat).reshape(*idx.shape, *self._inner)
        return out[(slice(None),) + rest] if rest else out

    def _empty(self) -> np.ndarray:
        return np.empty((0, *self._inner), dtype=self.dtype)

    def _slice(self, start: int, stop: int) -> np.ndarray:
        pieces = []
        for k, (shard, name, _) in enumerate(self._parts):
            lo, hi = int(self._bounds[k]), int(self._bounds[k + 1])
            a, b = max(start, lo), min(stop, hi)
            if a < b:
                pieces.append(shard.read(name, slice(a - lo, b - lo)))
        return self._join(pieces)

    def _take(self, idx: np.ndarray) -> np.ndarray:
        uniq, inverse = np.unique(idx, return_inverse=True)
        which = np.searchsorted(self._bounds, uniq, "right") - 1
        pieces = []
        for k in np.unique(which):
            shard, name, _ = self._parts[int(k)]
            pieces.append(shard.read(name, uniq[which == k] - self._bounds[k]))
        return self._join(pieces)[inverse.reshape(-1)]

    def _join(self, pieces: list[np.ndarray]) -> np.ndarray:
        if not pieces:
            return self._empty()
        out = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
        return np.asarray(out, dtype=self.dtype)


class Embeddings:
    """A run's embedding output, lazily across its shards (`load_embeddings`).

    `vectors`: [reads, D] (one vector per read), or for per-token output `values`
    [tokens, D] with `offsets` [reads + 1] (read i's tokens: `tokens(i)`); `record`,
    `name`, `source` (the input file of each read), aligned with the rows; `column(name)`
    for any other per-read column (a classifier's `label`, `score`); `to_xarray()`."""

    def __init__(self, manifest: Manifest, where: str, shards: list[_Shard]):
        self.manifest = manifest
        self.where = where
        self.shards = shards
        self.format = shards[0].format if shards else ""
        self.uris = [s.uri for s in shards]
        first = shards[0].arrays() if shards else {}
        self._layouts = layouts(list(first))
        self._dims = {n: tuple(m.get("dims") or ()) for n, m in first.items()}
        self._offsets: np.ndarray | None = None
        self._cache: dict[str, ShardedArray] = {}

    def __len__(self) -> int:
        return sum(s.rows for s in self.shards)

    def __repr__(self) -> str:
        what = f"vectors {self.vectors.shape}" if self.vectors is not None else ""
        if self.values is not None:
            what = f"per-token values {self.values.shape}"
        return f"Embeddings({len(self)} reads, {what}, {self.format}, {len(self.shards)} shards)"

    def __enter__(self) -> Embeddings:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for s in self.shards:
            s.close()

    @property
    def columns(self) -> list[str]:
        """The per-read columns (ragged ones included)."""
        return list(self._layouts)

    def _rows_array(self, name: str) -> ShardedArray:
        if name not in self._cache:
            if name not in self._layouts or self._layouts[name] == "ragged":
                raise KeyError(f"{name!r} is not a per-read column here: {self.columns}")
            parts = [(s, name, s.rows) for s in self.shards]
            r = self.shards[0].reader if self.shards else None
            inner: tuple[int, ...]
            if r is None or self._layouts[name] == "codes" or r.dtype(name).kind in "OUS":
                dtype, inner = np.dtype(object), ()
            else:
                dtype, inner = r.dtype(name), tuple(r.shape(name)[1:])
            self._cache[name] = ShardedArray(parts, dtype, inner)
        return self._cache[name]

    def column(self, name: str) -> ShardedArray:
        """Any per-read column, lazily (`label`, `score`, `record`)."""
        return self._rows_array(name)

    @property
    def vectors(self) -> ShardedArray | None:
        """[reads, D]: one vector per read (None for per-token output)."""
        return self._rows_array("vector") if self._layouts.get("vector") == "rows" else None

    @property
    def record(self) -> ShardedArray:
        """Each read's 0-based ordinal in its input file."""
        return self._rows_array("record")

    @property
    def name(self) -> ShardedArray:
        return self._rows_array("name")

    @property
    def source(self) -> ShardedArray:
        """The input file of each read (strings)."""
        return self._rows_array("source")

    @property
    def offsets(self) -> np.ndarray | None:
        """Per-token output: [reads + 1] int64; read i's rows of `values` are
        offsets[i]:offsets[i + 1]. Read once (8 bytes a read)."""
        if self._layouts.get("token_values") != "ragged":
            return None
        if self._offsets is None:
            parts = [np.zeros(1, np.int64)]
            base = 0
            for s in self.shards:
                local = s.read("token_values_offsets", slice(None)).astype(np.int64)
                parts.append(local[1:] + base)
                base += int(local[-1])
            self._offsets = np.concatenate(parts)
        return self._offsets

    @property
    def values(self) -> ShardedArray | None:
        """Per-token output: [tokens, D], every read's token vectors end to end."""
        if self._layouts.get("token_values") != "ragged":
            return None
        if "token_values" not in self._cache:
            offsets = self.offsets
            assert offsets is not None
            parts = []
            starts = np.concatenate([[0], np.cumsum([s.rows for s in self.shards])])
            for k, s in enumerate(self.shards):
                n = int(offsets[starts[k + 1]] - offsets[starts[k]])
                parts.append((s, "token_values", n))
            r = self.shards[0].reader
            shape = r.shape("token_values")
            self._cache["token_values"] = ShardedArray(
                parts, r.dtype("token_values"), tuple(shape[1:])
            )
        return self._cache["token_values"]

    def tokens(self, i: int) -> np.ndarray:
        """Read i's per-token vectors, [tokens of read i, D]."""
        offsets, values = self.offsets, self.values
        if offsets is None or values is None:
            raise ValueError("this output has one vector per read, not per-token arrays")
        n = len(offsets) - 1
        j = i + n if i < 0 else i
        if not 0 <= j < n:
            raise IndexError(f"read {i} is out of range for {n} reads")
        return np.asarray(values[int(offsets[j]) : int(offsets[j + 1])])

    def to_xarray(self) -> xr.Dataset:
        """An xarray Dataset over every shard, lazily indexed (nothing is read until
        values are asked for): dimensions `read`, `dim` (and `token`, `read_offset` for
        per-token output), the shards' own attributes."""
        import xarray as xr
        from xarray.core import indexing

        data_vars: dict[str, Any] = {}
        for name, layout in self._layouts.items():
            if layout == "ragged":
                if name != "token_values":
                    continue  # other ragged columns (top_labels): read them per shard
                values = self.values
                assert values is not None and self.offsets is not None
                dims = self._dims.get(name) or ("token", "dim")
                data_vars[name] = xr.Variable(dims, indexing.LazilyIndexedArray(_Backend(values)))
                data_vars[f"{name}_offsets"] = xr.Variable((OFFSETS_DIM,), self.offsets)
                continue
            arr = self._rows_array(name)
            dims = self._dims.get(name) or (ROWS,)
            if layout == "codes":
                dims = (ROWS,)
            data_vars[name] = xr.Variable(dims, indexing.LazilyIndexedArray(_Backend(arr)))
        attrs = dict(self.shards[0].reader.attrs) if self.shards else {}
        attrs = {k: v for k, v in attrs.items() if isinstance(v, (str, int, float))}
        attrs["seqray_shards"] = len(self.shards)
        return xr.Dataset(data_vars, attrs=attrs)


def _backend_class() -> type:
    from xarray.backends import BackendArray
    from xarray.core import indexing

    class Backend(BackendArray):
        """A ShardedArray as xarray's lazily indexed backend array."""

        def __init__(self, arr: ShardedArray):
            self.arr = arr
            self.shape = arr.shape
            self.dtype = arr.dtype

        def __getitem__(self, key: Any) -> Any:
            return indexing.explicit_indexing_adapter(
                key, self.shape, indexing.IndexingSupport.OUTER_1VECTOR, self._raw
            )

        def _raw(self, key: tuple[Any, ...]) -> np.ndarray:
            return np.asarray(self.arr[key])

    return Backend


def _Backend(arr: ShardedArray) -> Any:  # noqa: N802  a class made on first use (xarray is optional)
    global _BACKEND
    if _BACKEND is None:
        _BACKEND = _backend_class()
    return _BACKEND(arr)


_BACKEND: Callable[..., Any] | None = None


def _group(uri: str) -> str:
    """The output a shard belongs to: the directory of a write stage's `part-*` shards,
    or a single-file output itself (a merged Zarr store)."""
    base = posixpath.basename(uri) if is_s3(uri) else os.path.basename(uri)
    if not base.startswith("part-"):
        return uri
    return posixpath.dirname(uri) if is_s3(uri) else os.path.dirname(uri)


def _output_name(group: str) -> str:
    """`vectors` for `OUT/vectors/` and for `OUT/vectors.zarr`: the write stage's path."""
    return os.path.basename(group.rstrip("/")).split(".")[0]


def load_embeddings(where: str, stage: str | None = None, *, verify: bool = False) -> Embeddings:
    """The embeddings a finished run wrote, lazily across its shards.

    `where`: the run's output directory or its manifest (local or s3://). `stage`: which
    output, when the run wrote several — the write stage's `path` (`vectors`) or its
    stage name; by default the one output holding vectors or per-token arrays. Each
    file's size is checked against the manifest when its shard is first read; `verify`
    checks sha256 too. A missing, unfinished or changed output is a ManifestError."""
    from ..pipeline.manifest import load

    manifest = load(where)
    groups: dict[str, list[OutputEntry]] = {}
    for e in manifest.shards:
        fmt = e.format
        try:
            readable = fmt is not None and get_format(fmt).reader is not None
        except Exception:  # noqa: BLE001  a format this seqray does not know: not offered
            readable = False
        if readable and (stage is None or stage in (e.stage, _output_name(_group(e.uri)))):
            groups.setdefault(_group(e.uri), []).append(e)
    if stage is None and len(groups) > 1:
        holding = {g: es for g, es in groups.items() if _holds_embeddings(es[0])}
        groups = holding or groups
    if not groups:
        raise ManifestError(
            f"{where}: the run wrote no array output"
            + (f" named {stage!r}" if stage else "")
            + " (Parquet, HDF5, NetCDF-4 or Zarr shards)"
        )
    if len(groups) > 1:
        names = ", ".join(sorted(_output_name(g) for g in groups))
        raise ManifestError(f"{where}: the run wrote several array outputs ({names}): pass stage")
    entries = next(iter(groups.values()))
    return Embeddings(manifest, where, [_Shard(e, verify) for e in entries])


def _holds_embeddings(entry: OutputEntry) -> bool:
    if entry.arrays:
        return any(n in entry.arrays for n in EMBEDDINGS)
    reader = get_format(entry.format or "").reader
    if reader is None:
        return False
    r = reader(entry.uri)
    try:
        return any(r.has(n) for n in EMBEDDINGS)
    finally:
        r.close()
