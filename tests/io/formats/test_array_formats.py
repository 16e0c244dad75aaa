"""The array formats (HDF5, NetCDF-4, Zarr v3), one suite for all three: a real pipeline
(reads → embed → write, several chunks) read back with each format's own ecosystem
(h5py, netCDF4/xarray, zarr/xarray) gives exactly the Parquet output's vectors and read
identities, in order, float32 and float16, per-read and per-token; the manifest's array
metadata is the files'; shards appear whole or not at all, a killed run resumes to the
same bytes, and read batches are refused before anything is written."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from seqray.errors import ConfigError
from seqray.io.formats import get_format
from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline
from seqray.pipeline.manifest import Journal

from .runs import ARRAY_FORMATS, DIM, READS, config, fixed, make_inputs, parquet_table, run, shards

h5py = pytest.importorskip("h5py", reason="seqray[formats] is not installed")
xr = pytest.importorskip("xarray", reason="seqray[formats] is not installed")
zarr = pytest.importorskip("zarr", reason="seqray[formats] is not installed")
netCDF4 = pytest.importorskip("netCDF4", reason="seqray[formats] is not installed")

warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    base = tmp_path_factory.mktemp("inputs")
    return make_inputs(base)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, inputs):
    """out directory per (format, dtype, per_token), each run once for the module."""
    model, data = inputs
    base = tmp_path_factory.mktemp("runs")
    done: dict[tuple[str, str, bool], Path] = {}

    def get(fmt: str, dtype: str = "float32", per_token: bool = False) -> Path:
        key = (fmt, dtype, per_token)
        if key not in done:
            out = base / f"{fmt}-{dtype}-{int(per_token)}"
            run(out, data, model, fmt, dtype=dtype, per_token=per_token)
            done[key] = out
        return done[key]

    return get


# -- each format's own reader ---------------------------------------------------------


def native(fmt: str, shard: str) -> dict[str, np.ndarray]:
    """A shard's arrays as its own ecosystem reads them; `source` decoded to strings."""
    if fmt == "hdf5":
        with h5py.File(shard, "r") as f:
            out = {
                k: (f[k].asstr()[:] if f[k].dtype.kind == "O" else f[k][:])
                for k in f
                if k != "source_names"
            }
            out["source"] = f["source_names"].asstr()[:][f["source"][:]]
        return out
    if fmt == "netcdf":
        with xr.open_dataset(shard) as ds:
            out = {k: ds[k].values for k in ds.data_vars if k != "source_names"}
            out["source"] = ds["source_names"].values[ds["source"].values]
        return out
    group = zarr.open_group(shard, mode="r")
    out = {k: group[k][:] for k in group.array_keys() if k != "source_names"}
    out["source"] = group["source_names"][:][group["source"][:]]
    return out


def concat(fmt: str, out: Path) -> dict[str, np.ndarray]:
    parts = [native(fmt, s) for s in shards(out, fmt)]
    joined = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    if "token_values_offsets" in joined:  # per shard, each from 0: continue them
        offs, base = [np.zeros(1, np.int64)], 0
        for p in parts:
            offs.append(p["token_values_offsets"][1:] + base)
            base += int(p["token_values_offsets"][-1])
        joined["token_values_offsets"] = np.concatenate(offs)
    return joined


def _strs(a) -> list[str]:
    return [str(x) for x in a]


# -- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("fmt", ARRAY_FORMATS)
def test_vectors_and_identities_equal_the_parquet_output(runs, fmt, dtype):
    ref = parquet_table(runs("parquet", dtype))
    out = runs(fmt, dtype)
    assert len(shards(out, fmt)) == len(shards(runs("parquet", dtype), "parquet")) > 3
    got = concat(fmt, out)
    want = fixed(ref.column("vector"))
    assert want.dtype == np.dtype(dtype) and want.shape == (READS + 40, DIM)
    if fmt == "netcdf" and dtype == "float16":  # NetCDF has no float16: float32, exactly
        assert got["vector"].dtype == np.float32
        np.testing.assert_array_equal(got["vector"].astype(np.float16), want)
    else:
        assert got["vector"].dtype == want.dtype
    np.testing.assert_array_equal(got["vector"], want)
    np.testing.assert_array_equal(got["record"], ref.column("record").to_numpy())
    assert _strs(got["name"]) == ref.column("name").to_pylist()
    assert _strs(got["source"]) == ref.column("source").to_pylist()
    # the chunks' order: each shard holds its chunk's rows, as the Parquet shards do
    rows = [len(native(fmt, s)["record"]) for s in shards(out, fmt)]
    ref_rows = [json.loads((runs("parquet", dtype) / "manifest.json").read_text())["shards"]]
    assert rows == [s["rows"] for s in ref_rows[0]]


@pytest.mark.parametrize("fmt", ARRAY_FORMATS)
def test_per_token_arrays_round_trip_as_values_and_offsets(runs, fmt):
    ref = parquet_table(runs("parquet", "float16", True)).column("token_values")
    ref = ref.combine_chunks()
    got = concat(fmt, runs(fmt, "float16", True))
    want_values = fixed(ref.flatten())
    want_offsets = ref.offsets.to_numpy()
    np.testing.assert_array_equal(got["token_values_offsets"], want_offsets - want_offsets[0])
    np.testing.assert_array_equal(got["token_values"].astype(np.float16), want_values)
    assert want_values.shape[0] > READS  # several tokens a read
    lengths = np.diff(got["token_values_offsets"])
    assert (lengths == 0).any() and lengths.max() > 1  # k-mer-less reads, long ones


@pytest.mark.parametrize("fmt", ARRAY_FORMATS)
def test_the_manifest_records_each_shards_arrays(runs, fmt):
    out = runs(fmt, "float16")
    m = json.loads((out / "manifest.json").read_text())
    entries = m["shards"]
    assert [Path(e["uri"]).name for e in entries] == [Path(s).name for s in shards(out, fmt)]
    for e in entries:
        assert e["format"] == fmt and e["stage"] == "write"
        arrays = e["arrays"]
        assert set(arrays) == {"vector", "record", "name", "source", "source_names"}
        assert arrays["vector"]["shape"] == [e["rows"], DIM]
        assert arrays["vector"]["dims"] == ["read", "dim"]
        stored = "float32" if fmt == "netcdf" else "float16"
        assert arrays["vector"]["dtype"] == stored and arrays["name"]["dtype"] == "string"
        for name, meta in arrays.items():
            shape, chunks = _native_layout(fmt, e["uri"], name)
            assert meta["shape"] == list(shape), name
            assert meta["chunks"] == list(chunks), name
        files = e.get("files") or [e]  # a Zarr part lists each of its files
        for f in files:
            data = Path(f["uri"]).read_bytes()
            assert (f["bytes"], f["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
        assert e["bytes"] == sum(f["bytes"] for f in files)


def _native_layout(fmt: str, uri: str, name: str) -> tuple[tuple, tuple]:
    if fmt == "hdf5":
        with h5py.File(uri, "r") as f:
            return f[name].shape, f[name].chunks
    if fmt == "netcdf":
        with netCDF4.Dataset(uri) as ds:
            v = ds[name]
            chunks = v.chunking()
            return v.shape, (v.shape if chunks == "contiguous" else tuple(chunks))
    a = zarr.open_group(uri, mode="r")[name]
    return a.shape, a.chunks


def test_netcdf_follows_cf_conventions(runs):
    (first, *_) = shards(runs("netcdf", "float16"), "netcdf")
    with xr.open_dataset(first) as ds:
        assert ds.attrs["Conventions"] == "CF-1.10"
        assert "seqray" in ds.attrs["history"] and ds.attrs["seqray_stage"] == "embed"
        assert ds.attrs["seqray_kind"] == "vectors" and ds.attrs["seqray_model"].endswith("model")
        assert ds["vector"].dims == ("read", "dim") and ds.sizes["dim"] == DIM
        assert ds["vector"].attrs["units"] == "1" and ds["vector"].attrs["long_name"]
        assert ds["vector"].attrs["seqray_dtype"] == "float16"
        assert ds["record"].attrs["long_name"].startswith("0-based ordinal")
    with netCDF4.Dataset(first) as ds:
        assert ds.dimensions["read"].isunlimited()
        assert ds["vector"].filters()["zlib"] and ds["vector"].filters()["complevel"] == 4


def test_zarr_parts_are_groups_of_one_store(runs):
    out = runs("zarr", "float32")
    root = out / "vectors"
    parts = [Path(s).name for s in shards(out, "zarr")]
    group = zarr.open_group(str(root), mode="r")  # the root's consolidated metadata
    assert group.attrs["seqray"]["parts"] == parts
    m = json.loads((out / "manifest.json").read_text())
    assert group.attrs["seqray"]["rows"] == [e["rows"] for e in m["shards"]]
    ref = fixed(parquet_table(runs("parquet", "float32")).column("vector"))
    got = np.concatenate([group[f"{p}/vector"][:] for p in parts])
    np.testing.assert_array_equal(got, ref)
    # each part opens with xarray on its own (no dask: chunks=None)
    ds = xr.open_zarr(str(root), group=parts[1], chunks=None, consolidated=False)
    np.testing.assert_array_equal(ds["vector"].values, group[f"{parts[1]}/vector"][:])
    assert ds["vector"].dims == ("read", "dim")
    # the root zarr.json is the run's: listed with its sha256
    (root_entry,) = [f for f in m["files"] if f["uri"].endswith("vectors/zarr.json")]
    data = (root / "zarr.json").read_bytes()
    assert root_entry["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("fmt", "compression", "level"),
    [("hdf5", "lzf", None), ("hdf5", "gzip", 9), ("hdf5", "none", None)]
    + [("netcdf", "none", None), ("zarr", "gzip", 7), ("zarr", "none", None)],
)
def test_compression_settings_reach_the_files(tmp_path, inputs, fmt, compression, level):
    model, data = inputs
    extra = {"compression": compression} | ({"level": level} if level else {})
    out = tmp_path / "o"
    run(out, data, model, fmt, **extra)
    first = shards(out, fmt)[0]
    if fmt == "hdf5":
        with h5py.File(first, "r") as f:
            want = {"lzf": "lzf", "gzip": "gzip", "none": None}[compression]
            assert f["vector"].compression == want
            if level:
                assert f["vector"].compression_opts == level
    elif fmt == "netcdf":
        with netCDF4.Dataset(first) as ds:
            assert not ds["vector"].filters()["zlib"]
    else:
        meta = json.loads((Path(first) / "vector" / "zarr.json").read_text())
        codecs = [c["name"] for c in meta["codecs"]]
        assert codecs == (["bytes", "gzip"] if compression == "gzip" else ["bytes"])
        if level:
            assert meta["codecs"][1]["configuration"]["level"] == level
    ref = fixed(parquet_table(_parquet_run(tmp_path, inputs)).column("vector"))
    np.testing.assert_array_equal(concat(fmt, out)["vector"], ref)


def _parquet_run(tmp_path: Path, inputs) -> Path:
    model, data = inputs
    out = tmp_path / "ref"
    if not out.exists():
        run(out, data, model, "parquet")
    return out


# -- what may not be written ------------------------------------------------------------


@pytest.mark.parametrize("fmt", ARRAY_FORMATS)
def test_read_batches_are_refused_before_anything_is_written(tmp_path, inputs, fmt):
    _, data = inputs
    out = tmp_path / "o"
    cfg = {
        "output": str(out),
        "stages": [{"read": {"paths": [str(data / "a.fq")]}}, {"write": {"format": fmt}}],
    }
    with pytest.raises(ConfigError, match=r"stages\[1\] \(write\) takes tokens or vectors"):
        run_pipeline(parse_config(cfg))
    assert not out.exists()
    with pytest.raises(ConfigError, match="holds arrays, not reads"):
        get_format(fmt).open(
            str(tmp_path / f"x{get_format(fmt).extensions[0]}"),
            schema=pa.schema([("seq", pa.large_binary())]),
            paired=False,
            mate=0,
            compression=get_format(fmt).compression,
            level=None,
        )
    assert not os.listdir(tmp_path)  # refused before a file was made


def test_convert_refuses_an_array_format(tmp_path, inputs, capsys):
    from seqray.cli.main import main

    _, data = inputs
    assert main(["convert", str(data / "a.fq"), str(tmp_path / "x.h5")]) == 1
    assert "holds arrays" in capsys.readouterr().err.replace("\n", " ")
    assert not list(tmp_path.iterdir())


# -- atomicity and resume ---------------------------------------------------------------


def _vector_batch(n: int) -> pa.Table:
    from seqray.io.schema import SOURCE_TYPE

    values = pa.array(np.arange(n * DIM, dtype=np.float32))
    return pa.table(
        {
            "source": pa.array(["f.fq"] * n).dictionary_encode().cast(SOURCE_TYPE),
            "record": pa.array(np.arange(n, dtype=np.int64)),
            "name": pa.array([f"r{i}" for i in range(n)], pa.large_string()),
            "vector": pa.FixedSizeListArray.from_arrays(values, DIM),
        }
    )


@pytest.mark.parametrize("fmt", ARRAY_FORMATS)
def test_an_aborted_shard_leaves_nothing(tmp_path, fmt):
    fmt_ = get_format(fmt)
    d = tmp_path / "vectors"
    d.mkdir()
    (d / "theirs.txt").write_text("a user's file")
    batch = _vector_batch(7)
    w = fmt_.open(
        str(d / f"part-0{fmt_.extensions[0]}"),
        schema=batch.schema,
        paired=False,
        mate=0,
        compression=fmt_.compression,
        level=fmt_.default_level,
    )
    w.write(batch)
    assert len(list(d.iterdir())) == 2  # the hidden temporary beside the user's file
    w.abort()
    assert [p.name for p in d.iterdir()] == ["theirs.txt"]
    assert (d / "theirs.txt").read_text() == "a user's file"


class _Killed(BaseException):
    """The run dies here, as under SIGKILL: nothing after it runs."""


@pytest.mark.parametrize("fmt", ARRAY_FORMATS)
def test_a_killed_run_resumes_to_the_same_files(tmp_path, inputs, runs, monkeypatch, fmt):
    model, data = inputs
    clean = runs(fmt, "float32")
    out = tmp_path / "out"
    beside = tmp_path / "notes.txt"
    beside.write_text("the user's notes")
    real = Journal.record
    calls = {"n": 0}

    def dying(self, outcome):
        calls["n"] += 1
        if calls["n"] == 3:  # the third chunk's shard is committed, not yet journaled
            raise _Killed
        return real(self, outcome)

    with monkeypatch.context() as m:
        m.setattr(Journal, "record", dying)
        with pytest.raises(_Killed):
            run(out, data, model, fmt)
    assert not (out / "manifest.json").exists()
    result = run_pipeline(parse_config(config(out, data, model, fmt)), resume=True)
    assert result.resumed_chunks == 2  # the journaled chunks were verified and kept
    assert _outputs(out) == _outputs(clean)
    assert not list(out.rglob("*.tmp-*"))
    assert beside.read_text() == "the user's notes"
    got = concat(fmt, out)["vector"]
    np.testing.assert_array_equal(got, fixed(parquet_table(runs("parquet")).column("vector")))


def _outputs(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "manifest.json" and "_seqray" not in p.parts
    }


# -- Zarr single-file output: one store, one N×D array ---------------------------------


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of a few rows and merge tasks of a few chunks: regions cross part and
    chunk boundaries, and the copy runs as many tasks."""
    from seqray.io.formats import arrays, zarr_store

    monkeypatch.setattr(arrays, "CHUNK_BYTES", 64)  # vector float32 D=5: 3 rows a chunk
    monkeypatch.setattr(zarr_store, "MERGE_TASK_BYTES", 3 * 40 * 2)


@pytest.mark.parametrize("per_token", [False, True])
def test_zarr_single_file_is_one_store_of_whole_arrays(
    tmp_path, inputs, runs, small_chunks, per_token
):
    model, data = inputs
    out = tmp_path / "o"
    run(out, data, model, "zarr", single_file=True, per_token=per_token, dtype="float16")
    store = out / "vectors.zarr"
    ref = parquet_table(runs("parquet", "float16", per_token))
    group = zarr.open_group(str(store), mode="r")
    assert group.attrs["seqray_parts"] > 3
    if per_token:
        col = ref.column("token_values").combine_chunks()
        np.testing.assert_array_equal(group["token_values"][:], fixed(col.flatten()))
        np.testing.assert_array_equal(group["token_values_offsets"][:], col.offsets.to_numpy())
    else:
        assert group["vector"].shape == (READS + 40, DIM) and group["vector"].chunks == (6, DIM)
        np.testing.assert_array_equal(group["vector"][:], fixed(ref.column("vector")))
        np.testing.assert_array_equal(group["vector"][61:64], fixed(ref.column("vector"))[61:64])
    names = group["source_names"][:]
    assert list(names[group["source"][:]]) == ref.column("source").to_pylist()
    assert len(names) == 2  # one table for the store, both inputs in it
    np.testing.assert_array_equal(group["record"][:], ref.column("record").to_numpy())
    ds = xr.open_zarr(str(store), chunks=None, consolidated=False)
    assert ds.sizes["read"] == READS + 40
    assert list(ds["name"].values) == ref.column("name").to_pylist()
    # one manifest entry: the store, every file, the arrays; the parts are gone
    m = json.loads((out / "manifest.json").read_text())
    (entry,) = m["shards"]
    assert entry["uri"] == str(store) and entry["rows"] == READS + 40
    files = {Path(f["uri"]) for f in entry["files"]}
    assert files == {p for p in store.rglob("*") if p.is_file()}
    assert entry["arrays"]["record"]["shape"] == [READS + 40]
    assert not (out / "_seqray" / "parts").exists()
    assert sorted(p.name for p in out.iterdir()) == ["_seqray", "manifest.json", "vectors.zarr"]


def test_a_run_killed_while_merging_resumes(tmp_path, inputs, small_chunks, monkeypatch):
    from seqray.io.formats import DirectoryShard, zarr_store

    model, data = inputs
    clean = tmp_path / "clean"
    run(clean, data, model, "zarr", single_file=True)
    out = tmp_path / "out"
    real = zarr_store._copy_region
    calls = {"n": 0}

    def dying(item):
        calls["n"] += 1
        if calls["n"] == 4:
            raise _Killed
        return real(item)

    with monkeypatch.context() as m:
        m.setattr(zarr_store, "_copy_region", dying)
        m.setattr(DirectoryShard, "abort", lambda self: None)  # killed: nothing cleans up
        with pytest.raises(_Killed):
            run(out, data, model, "zarr", single_file=True)
    assert [p.name for p in out.glob(".vectors.zarr.tmp-*")]  # the half-merged store
    assert not (out / "vectors.zarr").exists()
    cfg = parse_config(config(out, data, model, "zarr", single_file=True))
    result = run_pipeline(cfg, resume=True)
    assert result.resumed_chunks == result.chunks  # the parts were kept, only the merge redone
    assert not list(out.rglob("*.tmp-*"))
    assert _outputs(out) == _outputs(clean)
    (out / "manifest.json").unlink()  # killed after the merge, before the manifest
    run_pipeline(cfg, resume=True)
    assert _outputs(out) == _outputs(clean)
    run_pipeline(cfg, overwrite=True)
    assert _outputs(out) == _outputs(clean)


def test_zarr_single_file_on_s3_is_refused_before_anything_is_written(tmp_path, inputs):
    model, data = inputs
    cfg = config("s3://nowhere/run", data, model, "zarr", single_file=True)
    with pytest.raises(ConfigError, match="on S3 write its shards"):
        run_pipeline(parse_config(cfg))
    with pytest.raises(ConfigError, match="single_file is for .*zarr; HDF5 output is a set"):
        parse_config(config(tmp_path / "o", data, model, "hdf5", single_file=True))


# -- both runners -----------------------------------------------------------------------


@pytest.mark.integration
def test_both_runners_write_the_same_bytes(tmp_path, inputs, ray_cluster):
    """Ray tasks write the shards (and run the Zarr merge's copy tasks): the same bytes as
    the in-process runner, whatever worker ran which chunk."""
    model, data = inputs
    cases = [(f, {}) for f in ARRAY_FORMATS] + [("zarr", {"single_file": True})]
    for fmt, extra in cases:
        written = {}
        for runner in ("local", "ray"):
            out = tmp_path / f"{fmt}-{len(extra)}-{runner}"
            cfg = config(out, data, model, fmt, dtype="float16", **extra)
            cfg["run"]["runner"] = runner
            run_pipeline(parse_config(cfg))
            written[runner] = _outputs(out)
        assert written["local"] == written["ray"], (fmt, extra)
        assert len(written["local"]) >= 4


@pytest.mark.parametrize("fmt", ARRAY_FORMATS)
def test_predictions_round_trip_with_ragged_strings(tmp_path, fmt):
    """A classifier's batches: labels (strings), scores, and the ragged best labels and
    scores, written in two batches and read back by the format's reader."""
    from seqray.io.schema import source_column

    n = 5
    table = pa.table(
        {
            "source": source_column("/x/a.fq", n),
            "record": pa.array(np.arange(n)),
            "name": pa.array([f"r{i}" for i in range(n)], pa.large_string()),
            "label": pa.array(["a", "b", "unclassified", "a", "c"], pa.large_string()),
            "score": pa.array(np.linspace(0, 1, n).astype(np.float32)),
            "top_labels": pa.array(
                [["a", "b"], [], ["x"], ["a", "c", "d"], ["c"]], pa.list_(pa.large_string())
            ),
            "top_scores": pa.array(
                [[0.5, 0.25], [], [0.125], [0.5, 0.25, 0.125], [1.0]], pa.list_(pa.float32())
            ),
        }
    )
    f = get_format(fmt)
    uri = str(tmp_path / f"part-0{f.extensions[0]}")
    w = f.open(
        uri,
        schema=table.schema,
        paired=False,
        mate=0,
        compression=f.compression,
        level=f.default_level,
    )
    w.write(table.slice(0, 2))
    w.write(table.slice(2))
    shard = w.commit()
    assert shard.rows == n and shard.arrays["top_labels_offsets"]["shape"] == [n + 1]
    r = f.reader(uri)
    every = slice(None)
    assert list(r.read("label", every)) == table.column("label").to_pylist()
    np.testing.assert_array_equal(r.read("score", every), table.column("score").to_numpy())
    offsets = r.read("top_labels_offsets", every)
    labels = r.read("top_labels", every)
    got = [list(labels[offsets[i] : offsets[i + 1]]) for i in range(n)]
    assert got == table.column("top_labels").to_pylist()
    np.testing.assert_array_equal(r.read("top_scores_offsets", every), offsets)
    np.testing.assert_array_equal(
        r.read("top_scores", every), [0.5, 0.25, 0.125, 0.5, 0.25, 0.125, 1.0]
    )
    r.close()


@pytest.mark.parametrize("where", ["vectors/theirs.txt", "vectors/part-0000-00001.zarr/x.txt"])
def test_overwrite_never_removes_a_foreign_file_in_a_zarr_store(tmp_path, inputs, where):
    from seqray.errors import OutputError

    model, data = inputs
    out = tmp_path / "o"
    cfg = parse_config(config(out, data, model, "zarr"))
    run_pipeline(cfg)
    foreign = out / where
    foreign.write_text("the user's")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(OutputError, match=f"{where}.*did not write"):
        run_pipeline(cfg, overwrite=True)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    foreign.unlink()
    run_pipeline(cfg, overwrite=True)
    assert (out / "vectors" / "zarr.json").exists()
