"""Embedding tables and model directories: lookup, npy round trips (memory-mapped too),
float16/bfloat16 storage against independent conversions, word2vec files that gensim
loads (text and binary), Parquet export, and a model directory's checks and ownership."""

from __future__ import annotations

import json
import struct

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seqray.embed.model import EmbeddingModel
from seqray.embed.table import EmbeddingTable, from_bfloat16_bits, to_bfloat16_bits
from seqray.errors import InputError, OutputError

from .exact_hasher import tiny_model


def _table(dtype: str = "float32", n: int = 50, dim: int = 6, seed: int = 3) -> EmbeddingTable:
    rng = np.random.default_rng(seed)
    buckets = rng.choice(2**32 - 1, size=n, replace=False).astype(np.uint32)
    buckets[0] = 7  # a short decimal id beside ten-digit ones
    matrix = rng.normal(size=(n, dim)).astype(np.float32)
    return EmbeddingTable.from_float32(buckets, matrix, dtype, rng.integers(1, 9, n))


def test_lookup_finds_rows_and_flags_the_unknown():
    t = EmbeddingTable.from_float32(
        np.array([40, 3, 17], np.uint32), np.arange(6, dtype=np.float32).reshape(3, 2)
    )
    assert t.buckets.tolist() == [3, 17, 40]  # sorted with their rows
    assert t.as_float32().tolist() == [[2, 3], [4, 5], [0, 1]]
    rows, found = t.lookup(np.array([17, 5, 40, 3, 2**32 - 1, 0], np.uint32))
    assert found.tolist() == [True, False, True, True, False, False]
    assert rows[found].tolist() == [1, 2, 0]


def test_unsorted_or_mistyped_tables_are_refused():
    with pytest.raises(ValueError, match="strictly increasing"):
        EmbeddingTable(
            np.array([2, 2], np.uint32), np.zeros((2, 1), np.float32), "float32", np.ones(2)
        )
    with pytest.raises(ValueError, match="stored as uint16"):
        EmbeddingTable(np.array([1], np.uint32), np.zeros((1, 1), np.float32), "bfloat16", [1])


def test_float16_storage_is_numpys_float16():
    t32 = _table("float32")
    t16 = _table("float16")
    assert t16.vectors.dtype == np.float16
    assert np.array_equal(t16.as_float32(), t32.as_float32().astype(np.float16).astype(np.float32))


def test_bfloat16_rounds_to_nearest_even_by_hand():
    # bfloat16 keeps float32's top 16 bits; the low 16 decide: above half → up,
    # below → down, exactly half → to the even upper half
    def f32(bits: int) -> float:
        return struct.unpack("<f", struct.pack("<I", bits))[0]

    cases = {
        0x3F800000: 0x3F80,  # 1.0 exact
        0x3F808000: 0x3F80,  # tie, upper half even: stays
        0x3F818000: 0x3F82,  # tie, upper half odd: up to even
        0x3F807FFF: 0x3F80,  # below half: down
        0x3F808001: 0x3F81,  # above half: up
        0xBF80C000: 0xBF81,  # negative, above half: away from zero
        0x7F7FFFFF: 0x7F80,  # float32 max rounds to infinity
    }
    x = np.array([f32(b) for b in cases], np.float32)
    assert to_bfloat16_bits(x).tolist() == list(cases.values())
    widened = from_bfloat16_bits(np.array(list(cases.values()), np.uint16))
    assert widened.view(np.uint32).tolist() == [v << 16 for v in cases.values()]
    nan = to_bfloat16_bits(np.array([np.nan], np.float32))
    assert np.isnan(from_bfloat16_bits(nan))[0]


def test_bfloat16_table_is_within_half_a_unit_of_float32():
    t32, tb = _table("float32"), _table("bfloat16")
    assert tb.vectors.dtype == np.uint16
    a, b = t32.as_float32(), tb.as_float32()
    # 8 significant bits: half a unit in the last place is at most 2^-8 of the value
    assert np.all(np.abs(a - b) <= np.abs(a) * 2.0**-8)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("mmap", [True, False])
def test_npy_round_trip(tmp_path, dtype, mmap):
    t = _table(dtype)
    t.save_arrays(str(tmp_path))
    back = EmbeddingTable.load_arrays(str(tmp_path), dtype, mmap=mmap)
    assert isinstance(back.vectors, np.memmap) == mmap
    assert np.array_equal(back.buckets, t.buckets)
    assert np.array_equal(back.vectors, t.vectors)
    assert np.array_equal(back.counts, t.counts)
    assert np.array_equal(back.as_float32(), t.as_float32())
    if mmap:
        assert not back.vectors.flags.writeable


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_gensim_loads_the_word2vec_export(tmp_path, binary, dtype):
    from gensim.models import KeyedVectors

    t = _table(dtype)
    path = tmp_path / ("v.bin" if binary else "v.txt")
    written = t.to_word2vec(str(path), binary=binary)
    assert written.bytes == path.stat().st_size
    kv = KeyedVectors.load_word2vec_format(str(path), binary=binary)
    assert kv.index_to_key == [str(b) for b in t.buckets]
    # both forms are exact for float32 (binary: the bits; text: 9 significant digits)
    assert np.array_equal(kv.vectors, t.as_float32())


def test_word2vec_binary_layout_is_word2vecs(tmp_path):
    t = EmbeddingTable.from_float32(
        np.array([5, 12], np.uint32), np.array([[1.5, -2], [0.25, 8]], np.float32)
    )
    t.to_word2vec(str(tmp_path / "v.bin"), binary=True)
    expected = (
        b"2 2\n5 " + struct.pack("<2f", 1.5, -2) + b"\n12 " + struct.pack("<2f", 0.25, 8) + b"\n"
    )
    assert (tmp_path / "v.bin").read_bytes() == expected
    t.to_word2vec(str(tmp_path / "v.txt"))
    assert (tmp_path / "v.txt").read_text() == "2 2\n5 1.5 -2\n12 0.25 8\n"


def test_parquet_export(tmp_path):
    t = _table("float16")
    t.to_parquet(str(tmp_path / "t.parquet"))
    got = pq.read_table(tmp_path / "t.parquet")
    assert str(got.schema.field("bucket").type) == "uint32"
    vtype = got.schema.field("vector").type
    assert pa.types.is_fixed_size_list(vtype) and vtype.list_size == 6
    assert vtype.value_type == pa.float32()
    assert got.column("bucket").to_pylist() == t.buckets.tolist()
    vec = np.array(got.column("vector").to_pylist(), np.float32)
    assert np.array_equal(vec, t.as_float32())


def test_model_round_trip(tmp_path, monkeypatch):
    m = tiny_model(dtype="bfloat16")
    written = m.save(str(tmp_path / "m"))
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == sorted(
        ["model.json", "hash.npz", "buckets.npy", "vectors.npy", "counts.npy"]
    )
    assert written[-1].uri.endswith("model.json")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["format"] == "seqray-embedding-model" and meta["version"] == 1
    assert (meta["dim"], meta["dtype"], meta["vocab_size"]) == (4, "bfloat16", m.table.size)
    assert meta["hash"] == {"scheme": "exact", "k": 3, "version": 1}
    back = EmbeddingModel.load(str(tmp_path / "m"), verify=True)
    assert back.hasher.k == 3 and back.training == {"note": "test"}
    assert np.array_equal(back.table.vectors, m.table.vectors)
    assert isinstance(back.table.vectors, np.memmap)


def test_model_save_refuses_to_replace(tmp_path, monkeypatch):
    d = tmp_path / "m"
    tiny_model().save(str(d))
    (d / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="already holds an embedding model"):
        tiny_model(seed=1).save(str(d))
    tiny_model(seed=1).save(str(d), overwrite=True)  # its own files: replaced
    assert (d / "notes.txt").read_text() == "mine"
    assert np.array_equal(
        EmbeddingModel.load(str(d)).table.buckets, tiny_model(seed=1).table.buckets
    )
    (d / "counts.npy").write_bytes(b"edited by hand")
    with pytest.raises(OutputError, match="counts.npy, which seqray cannot tell it wrote"):
        tiny_model().save(str(d), overwrite=True)
    assert (d / "counts.npy").read_bytes() == b"edited by hand"
    other = tmp_path / "other"
    other.mkdir()
    (other / "vectors.npy").write_bytes(b"someone else's")
    with pytest.raises(OutputError, match="vectors.npy"):
        tiny_model().save(str(other), overwrite=True)
    assert (other / "vectors.npy").read_bytes() == b"someone else's"


def test_model_load_errors_name_the_file(tmp_path, monkeypatch):
    d = tmp_path / "m"
    with pytest.raises(InputError, match="no such directory"):
        EmbeddingModel.load(str(d))
    d.mkdir()
    with pytest.raises(InputError, match="no model.json"):
        EmbeddingModel.load(str(d))
    tiny_model().save(str(d))
    meta = json.loads((d / "model.json").read_text())
    (d / "model.json").write_text(json.dumps({**meta, "version": 99}))
    with pytest.raises(InputError, match=r"model.json: model format version 99"):
        EmbeddingModel.load(str(d))
    (d / "model.json").write_text(json.dumps({**meta, "format": "other"}))
    with pytest.raises(InputError, match="not a seqray embedding model"):
        EmbeddingModel.load(str(d))
    (d / "model.json").write_text(json.dumps({**meta, "dtype": "int8"}))
    with pytest.raises(InputError, match="dtype 'int8'"):
        EmbeddingModel.load(str(d))
    (d / "model.json").write_text(json.dumps({**meta, "files": {"hash.npz": {}}}))
    with pytest.raises(InputError, match="files must list the bytes and sha256 of hash.npz"):
        EmbeddingModel.load(str(d))
    (d / "model.json").write_text(json.dumps(meta))
    (d / "vectors.npy").write_bytes((d / "vectors.npy").read_bytes()[:-4])
    with pytest.raises(InputError, match=r"vectors.npy: \d+ bytes, but model.json records"):
        EmbeddingModel.load(str(d))
    (d / "vectors.npy").unlink()
    with pytest.raises(InputError, match="vectors.npy: missing"):
        EmbeddingModel.load(str(d))
    (d / "model.json").write_text("{not json")
    with pytest.raises(InputError, match="model.json: not a readable JSON file"):
        EmbeddingModel.load(str(d))
