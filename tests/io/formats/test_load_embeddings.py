"""`seqray.load_embeddings` over multi-shard runs in every format: the lazy view equals the
concatenated Parquet output (vectors, identities, per-token values and offsets) under
every kind of indexing, reads only the shards it needs, gives an xarray Dataset, checks
the files against the manifest, picks the right output of a run with several, and reads
from S3."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import seqray
from seqray.errors import InputError, ManifestError
from seqray.io.load_embeddings import ShardedArray
from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline

from .runs import DIM, READS, config, fixed, make_inputs, parquet_table, run, shards

pytest.importorskip("h5py", reason="seqray[formats] is not installed")
xr = pytest.importorskip("xarray", reason="seqray[formats] is not installed")

FORMATS = ["parquet", "hdf5", "netcdf", "zarr"]
pytestmark = pytest.mark.filterwarnings("ignore:.*[Cc]onsolidated metadata")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return make_inputs(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory, inputs):
    model, data = inputs
    base = tmp_path_factory.mktemp("runs")
    done: dict[tuple, Path] = {}

    def get(fmt: str, dtype: str = "float16", per_token: bool = False) -> Path:
        key = (fmt, dtype, per_token)
        if key not in done:
            out = base / f"{fmt}-{dtype}-{int(per_token)}"
            run(out, data, model, fmt, dtype=dtype, per_token=per_token)
            done[key] = out
        return done[key]

    return get


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_view_equals_the_concatenated_output(runs, fmt):
    ref = parquet_table(runs("parquet"))
    want = fixed(ref.column("vector"))
    e = seqray.load_embeddings(str(runs(fmt)))
    assert len(e) == READS + 40 and len(e.shards) == len(shards(runs(fmt), fmt)) > 3
    v = e.vectors
    assert v is not None and e.values is None and e.offsets is None
    assert (v.shape, v.dtype, v.ndim, len(v)) == ((READS + 40, DIM), np.float16, 2, READS + 40)
    np.testing.assert_array_equal(np.asarray(v), want)
    np.testing.assert_array_equal(e.record[:], ref.column("record").to_numpy())
    assert list(e.name[:]) == ref.column("name").to_pylist()
    assert list(e.source[:]) == ref.column("source").to_pylist()
    n = len(want)
    mask = np.zeros(n, bool)
    mask[[0, 61, 62, 189]] = True
    keys = [
        5,
        -1,
        np.int64(100),
        slice(None),
        slice(40, 41),
        slice(10, 170, 7),
        slice(None, None, -3),
        slice(500, 600),
        [150, 3, 3, 77, -2],
        np.array([[1, 2], [180, 0]]),
        mask,
        (slice(2, 9), slice(1, 3)),
        ([4, 120], 2),
        (7, slice(None, 2)),
    ]
    for key in keys:
        np.testing.assert_array_equal(v[key], want[key], err_msg=repr(key))
    ids = np.array([189, 0, 64, 64])
    assert list(e.record[ids]) == list(ref.column("record").to_numpy()[ids])
    for bad in (n, -n - 1, [0, n]):
        with pytest.raises(IndexError):
            v[bad]
    e.close()


@pytest.mark.parametrize("fmt", ["parquet", "hdf5", "zarr"])
def test_only_the_shards_holding_the_rows_are_read(runs, fmt):
    e = seqray.load_embeddings(str(runs(fmt)))
    first = e.shards[0].rows
    e.vectors[first - 2 : first + 1]  # the end of shard 0, the start of shard 1
    assert [s._reader is not None for s in e.shards] == [True, True] + [False] * (len(e.shards) - 2)


@pytest.mark.parametrize("fmt", FORMATS)
def test_per_token_values_and_offsets(runs, fmt):
    col = parquet_table(runs("parquet", per_token=True)).column("token_values").combine_chunks()
    offsets = col.offsets.to_numpy()
    values = fixed(col.flatten())
    with seqray.load_embeddings(str(runs(fmt, per_token=True))) as e:
        assert e.vectors is None and e.values is not None
        np.testing.assert_array_equal(e.offsets, offsets - offsets[0])
        assert e.values.shape == values.shape and e.values.dtype == np.float16
        for i in (0, 1, 61, 62, 100, -1):
            j = i % len(e)
            np.testing.assert_array_equal(e.tokens(i), values[offsets[j] : offsets[j + 1]])
        np.testing.assert_array_equal(np.asarray(e.values), values)
        assert "token_values" in e.columns and len(e.record[:]) == READS + 40


@pytest.mark.parametrize("fmt", FORMATS)
def test_to_xarray_is_lazy_and_aligned(runs, fmt, monkeypatch):
    from seqray.io import load_embeddings as le

    ref = parquet_table(runs("parquet"))
    reads = {"n": 0}
    real = le._Shard.read

    def counting(self, name, sel):
        reads["n"] += 1
        return real(self, name, sel)

    monkeypatch.setattr(le._Shard, "read", counting)
    ds = seqray.load_embeddings(str(runs(fmt))).to_xarray()
    assert reads["n"] == 0  # opening reads no values
    assert dict(ds.sizes) == {"read": READS + 40, "dim": DIM}
    assert ds["vector"].dims == ("read", "dim") and ds["vector"].dtype == np.float16
    picked = ds["vector"].isel(read=[3, 150, 62]).values
    np.testing.assert_array_equal(picked, fixed(ref.column("vector"))[[3, 150, 62]])
    assert reads["n"] > 0
    assert list(ds["name"].isel(read=slice(60, 64)).values) == ref.column("name").to_pylist()[60:64]
    np.testing.assert_array_equal(ds["record"].values, ref.column("record").to_numpy())


def test_to_xarray_of_per_token_output(runs):
    e = seqray.load_embeddings(str(runs("netcdf", per_token=True)))
    ds = e.to_xarray()
    assert ds["token_values"].dims == ("token", "dim")
    np.testing.assert_array_equal(ds["token_values_offsets"].values, e.offsets)
    i = 70
    a, b = e.offsets[i], e.offsets[i + 1]
    np.testing.assert_array_equal(ds["token_values"][a:b].values, e.tokens(i))


@pytest.mark.parametrize("fmt", ["hdf5", "zarr"])
def test_a_changed_file_is_found(tmp_path, inputs, fmt):
    model, data = inputs
    out = tmp_path / "o"
    run(out, data, model, fmt)
    m = json.loads((out / "manifest.json").read_text())
    entry = m["shards"][1]
    victim = Path((entry.get("files") or [entry])[-1]["uri"])
    body = victim.read_bytes()
    victim.write_bytes(bytes([body[0] ^ 1]) + body[1:])  # same size, other bytes
    e = seqray.load_embeddings(str(out))
    e.vectors[: entry["rows"]]  # the size is right, and shard 0 is intact
    with pytest.raises(ManifestError, match="sha256"):
        seqray.load_embeddings(str(out), verify=True).vectors[:]
    victim.write_bytes(body[:-3])
    with pytest.raises(ManifestError, match=rf"{victim.name}: has {len(body) - 3} bytes"):
        seqray.load_embeddings(str(out)).vectors[:]
    victim.unlink()
    with pytest.raises(ManifestError, match="is missing"):
        seqray.load_embeddings(str(out)).vectors[m["shards"][0]["rows"]]


def test_a_run_with_two_outputs_names_the_one_to_load(tmp_path, inputs):
    model, data = inputs
    cfg = config(tmp_path / "o", data, model, "parquet")
    cfg["stages"].append({"write": {"format": "hdf5", "path": "h5"}})
    run_pipeline(parse_config(cfg))
    with pytest.raises(ManifestError, match=r"several array outputs \(h5, vectors\)"):
        seqray.load_embeddings(str(tmp_path / "o"))
    a = seqray.load_embeddings(str(tmp_path / "o"), stage="h5")
    b = seqray.load_embeddings(str(tmp_path / "o" / "manifest.json"), stage="vectors")
    assert (a.format, b.format) == ("hdf5", "parquet")
    np.testing.assert_array_equal(a.vectors[:], b.vectors[:])
    with pytest.raises(ManifestError, match="no array output named 'x'"):
        seqray.load_embeddings(str(tmp_path / "o"), stage="x")


def test_an_unfinished_run_is_refused(tmp_path, inputs):
    model, data = inputs
    run(tmp_path / "o", data, model, "hdf5")
    (tmp_path / "o" / "manifest.json").unlink()
    with pytest.raises(ManifestError, match="no manifest there"):
        seqray.load_embeddings(str(tmp_path / "o"))


def test_a_sharded_array_with_no_rows():
    empty = ShardedArray([], np.dtype(np.float32), (DIM,))
    assert empty.shape == (0, DIM) and np.asarray(empty).shape == (0, DIM)
    assert empty[[]].shape == (0, DIM)


# -- S3 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "hdf5", "netcdf"])
def test_load_from_s3(s3_env, inputs, runs, fmt):
    client, bucket, _ = s3_env
    model, data = inputs
    out = f"s3://{bucket}/runs/{fmt}"
    run_pipeline(parse_config(config(out, data, model, fmt, dtype="float16")))
    e = seqray.load_embeddings(out, verify=True)
    ref = parquet_table(runs("parquet"))
    assert len(e.shards) > 3 and all(s.uri.startswith("s3://") for s in e.shards)
    np.testing.assert_array_equal(e.vectors[:], fixed(ref.column("vector")))
    assert list(e.name[[189, 0]]) == [ref.column("name").to_pylist()[i] for i in (189, 0)]


def test_zarr_on_s3_is_written_and_reading_it_needs_s3fs(s3_env, inputs):
    import importlib.util

    client, bucket, _ = s3_env
    model, data = inputs
    out = f"s3://{bucket}/runs/zarr"
    run_pipeline(parse_config(config(out, data, model, "zarr")))
    m = json.loads(client.get_object(Bucket=bucket, Key="runs/zarr/manifest.json")["Body"].read())
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    listed = {f["uri"][len(f"s3://{bucket}/") :] for s in m["shards"] for f in s["files"]}
    assert listed and listed <= keys and "runs/zarr/vectors/zarr.json" in keys
    assert not [k for k in keys if ".tmp-" in k]
    if importlib.util.find_spec("s3fs") is None:
        with pytest.raises(InputError, match="needs s3fs"):
            seqray.load_embeddings(out).vectors[0]


def test_the_manifest_validates_array_entries(tmp_path, inputs):
    from seqray.pipeline.manifest import load

    model, data = inputs
    out = tmp_path / "o"
    run(out, data, model, "zarr")
    m = load(str(out))
    first = m.shards[0]
    assert first.arrays is not None and first.files is not None
    assert first.arrays["vector"].shape == [first.rows, DIM]
    assert first.arrays["vector"].dims == ["read", "dim"]
    assert sum(f.bytes for f in first.files) == first.bytes
    raw = json.loads((out / "manifest.json").read_text())
    raw["shards"][0]["arrays"]["vector"]["shape"] = "wide"
    (out / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match=r"shards\.0\.arrays\.vector\.shape"):
        seqray.load_embeddings(str(out))
