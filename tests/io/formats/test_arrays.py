"""The Arrow → NumPy layout every array format writes (`io/formats/arrays.py`), against a
plain-Python reference: batches of any sizes (sliced ones included) give fixed-size lists
as [rows, D], ragged lists as values + offsets continuing across batches, dictionary
columns as codes into the shard's own name table; columns nothing can hold are refused
before a file is made; a Parquet shard of fixed-size lists round-trips too."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqray.errors import ConfigError
from seqray.io.formats.arrays import BatchArrays, layouts
from seqray.io.formats.parquet import ParquetArrays
from seqray.io.schema import SOURCE_TYPE

D = 3
SCHEMA = pa.schema(
    [
        pa.field("source", SOURCE_TYPE),
        pa.field("record", pa.int64()),
        pa.field("name", pa.large_string()),
        pa.field("vector", pa.list_(pa.float16(), D)),
        pa.field("token_values", pa.large_list(pa.list_(pa.float32(), D))),
        pa.field("top_labels", pa.list_(pa.large_string())),
    ]
)

row = st.fixed_dictionaries(
    {
        "source": st.sampled_from(["a.fq", "b.fq", "s3://x/c.fq"]),
        "name": st.text(max_size=6),
        "vector": st.lists(st.integers(-100, 100), min_size=D, max_size=D),
        "tokens": st.one_of(st.none(), st.lists(st.integers(-9, 9), max_size=4 * D)),
        "labels": st.lists(st.sampled_from(["x", "yy", ""]), max_size=3),
    }
)


def _whole(tokens: list[int] | None) -> list[int] | None:
    """Whole tokens of D values (None: a null list)."""
    return None if tokens is None else tokens[: len(tokens) // D * D]


def _table(rows: list[dict], first: int) -> pa.Table:
    tok = [_whole(r["tokens"]) for r in rows]
    return pa.table(
        {
            "source": pa.array([r["source"] for r in rows]).dictionary_encode().cast(SOURCE_TYPE),
            "record": pa.array(range(first, first + len(rows)), pa.int64()),
            "name": pa.array([r["name"] for r in rows], pa.large_string()),
            "vector": pa.array([r["vector"] for r in rows], SCHEMA.field("vector").type),
            "token_values": pa.array(
                [None if t is None else [t[i : i + D] for i in range(0, len(t), D)] for t in tok],
                SCHEMA.field("token_values").type,
            ),
            "top_labels": pa.array([r["labels"] for r in rows], SCHEMA.field("top_labels").type),
        },
        schema=SCHEMA,
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(row, max_size=6), min_size=1, max_size=4), st.integers(0, 2))
def test_batches_become_the_arrays_a_plain_loop_makes(batches, cut):
    conv = BatchArrays(SCHEMA, "test")
    got: dict[str, list[np.ndarray]] = {k: [v] for k, v in conv.start().items()}
    every: list[dict] = []
    records: list[int] = []
    first = 0
    for rows in batches:
        table = _table(rows, first)
        start = first
        if cut and len(table) > cut:  # a sliced batch: its arrays start at an offset
            table = table.slice(cut)
            rows = rows[cut:]
            start += cut
            assert table.column("token_values").chunk(0).offset == cut
        records += list(range(start, start + len(rows)))
        for k, v in conv.convert(table).items():
            got.setdefault(k, []).append(v)
        every += rows
        first += 100
    got.update({k: [v] for k, v in conv.names().items()})
    arrays = {k: np.concatenate(v) for k, v in got.items()}
    n = len(every)
    assert list(arrays["record"]) == records
    # the reference, one row at a time
    names: list[str] = []
    for r in every:
        if r["source"] not in names:
            names.append(r["source"])
    assert list(arrays["source_names"]) == names
    assert [names[c] for c in arrays["source"]] == [r["source"] for r in every]
    assert list(arrays["name"]) == [r["name"] for r in every]
    vec = np.array([r["vector"] for r in every], np.float16).reshape(n, D)
    assert arrays["vector"].dtype == np.float16 and arrays["vector"].shape == (n, D)
    np.testing.assert_array_equal(arrays["vector"], vec)
    offsets = arrays["token_values_offsets"]
    assert offsets.dtype == np.int64 and len(offsets) == n + 1 and offsets[0] == 0
    for i, r in enumerate(every):
        t = r["tokens"] or []
        t = t[: len(t) // D * D]
        want = np.array(t, np.float32).reshape(-1, D)
        np.testing.assert_array_equal(arrays["token_values"][offsets[i] : offsets[i + 1]], want)
    lab = arrays["top_labels_offsets"]
    assert [list(arrays["top_labels"][lab[i] : lab[i + 1]]) for i in range(n)] == [
        r["labels"] for r in every
    ]
    assert layouts(list(arrays)) == {
        "source": "codes",
        "record": "rows",
        "name": "rows",
        "vector": "rows",
        "token_values": "ragged",
        "top_labels": "ragged",
    }


@pytest.mark.parametrize(
    ("field", "match"),
    [
        (pa.field("seq", pa.large_binary()), "holds arrays, not reads"),
        (pa.field("blob", pa.large_binary()), "cannot hold large_binary"),
        (pa.field("s", pa.struct([("a", pa.int32())])), "cannot hold struct"),
        (pa.field("d", pa.dictionary(pa.int32(), pa.int64())), "only dictionaries of strings"),
    ],
)
def test_columns_no_array_holds_are_refused(field, match):
    with pytest.raises(ConfigError, match=match):
        BatchArrays(pa.schema([field]), "HDF5")


@pytest.mark.parametrize("dtype", [pa.float32(), pa.float16()])
def test_parquet_keeps_fixed_size_lists_and_reads_back_as_arrays(tmp_path, dtype):
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(50, 4)).astype(dtype.to_pandas_dtype())
    vec = pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), 4)
    table = pa.table({"record": pa.array(np.arange(50)), "vector": vec})
    path = tmp_path / "v.parquet"
    pq.write_table(table, path, row_group_size=16)  # several row groups
    back = pq.read_table(path)
    assert back.schema.field("vector").type == pa.list_(dtype, 4)
    r = ParquetArrays(str(path))
    assert r.shape("vector") == (50, 4) and r.dtype("vector") == matrix.dtype
    np.testing.assert_array_equal(r.read("vector", slice(None)), matrix)
    np.testing.assert_array_equal(r.read("vector", slice(14, 35)), matrix[14:35])
    idx = np.array([0, 15, 16, 49])
    np.testing.assert_array_equal(r.read("vector", idx), matrix[idx])
    r.close()
