"""Duplicate marking while the one chunk of an input is read (no first pass): the same reads
survive as with the two-pass scheme and as an exact-match model, whatever the threads."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline
from seqray.qc.dedup_inline import SeenHashes

from .test_dedup import _first_copies, _with_copies, _write_fastq


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 3)), max_size=400),
    st.lists(st.integers(1, 50), min_size=1, max_size=20),
)
def test_seen_hashes_match_a_set_through_growth(keys, cuts):
    """`add` says "seen before" exactly when a Python set has the key, across batch
    boundaries and every growth of the table (it starts at 2 slots here)."""
    hi = np.array([k[0] for k in keys], np.uint64)
    lo = np.array([k[1] * 0x9E3779B97F4A7C15 % 2**64 for k in keys], np.uint64)
    seen = SeenHashes(slots=2)
    model: set[tuple[int, int]] = set()
    got, want = [], []
    start, c = 0, 0
    while start < len(keys):
        end = min(len(keys), start + cuts[c % len(cuts)])
        got += seen.add(hi[start:end], lo[start:end]).tolist()
        for h, g in zip(hi[start:end].tolist(), lo[start:end].tolist()):
            want.append((h, g) in model)
            model.add((h, g))
        start, c = end, c + 1
    assert got == want
    assert seen.size == len(model) <= 0.7 * len(seen.used)


def _gz(path: Path, records) -> Path:
    plain = _write_fastq(path.with_suffix(""), records)
    path.write_bytes(gzip.compress(plain.read_bytes()))
    return path


def _run(out: Path, read: dict, stages: list[dict], **run) -> dict:
    cfg = {
        "output": str(out),
        "run": {"block_bases": 700, **run},
        "stages": [{"read": read}, *stages, {"write": {"format": "parquet", "path": "pq"}}],
    }
    run_pipeline(parse_config(cfg), runner="local")
    return json.loads((out / "manifest.json").read_text())


@pytest.mark.parametrize("num_cpus", [1, 3])
def test_one_gzip_file_is_marked_in_one_pass_as_two_passes_mark_it(tmp_path, num_cpus):
    recs = _with_copies(1500, 5)
    gz = _gz(tmp_path / "a.fq.gz", recs)
    plain = tmp_path / "a.fq"
    inline = _run(tmp_path / "one", {"paths": [str(gz)]}, [{"dedup": {}}], num_cpus=num_cpus)
    [prep] = inline["prepare"]
    assert prep["chunks_scanned"] == 0 and len(inline["chunks"]) == 1
    # the same reads as plain text in small chunks: the scan and reduce mark them
    split = _run(tmp_path / "many", {"paths": [str(plain)]}, [{"dedup": {}}], chunk_bytes=4000)
    assert len(split["chunks"]) > 5 and split["prepare"][0]["chunks_scanned"] > 5
    names = {
        k: pq.read_table(tmp_path / k / "pq").column("name").to_pylist() for k in ("one", "many")
    }
    assert names["one"] == names["many"] == _first_copies([recs])[0]
    for m in (inline, split):
        assert m["reports"]["dedup"]["duplicate_reads"] == len(recs) - len(names["one"])


def test_qc_pairs_in_one_pass_equal_the_two_pass_run_and_its_report(tmp_path):
    rng = random.Random(3)
    r1 = _with_copies(1200, 8)
    # mate 2 is read 1 reversed, but differs in some copies: such pairs are not duplicates
    r2 = [(n, s[::-1] + ("A" if rng.random() < 0.2 else ""), q[::-1] + "I") for n, s, q in r1]
    r2 = [(n, s, q[: len(s)]) for n, s, q in r2]
    g1, g2 = _gz(tmp_path / "r1.fq.gz", r1), _gz(tmp_path / "r2.fq.gz", r2)
    runs = {}
    for label, read, run in (
        ("one", {"paths": [str(g1)], "mate_paths": [str(g2)]}, {}),
        ("many", {"paths": [str(g1.with_suffix(""))], "mate_paths": [str(g2.with_suffix(""))]},
         {"chunk_bytes": 5000}),
    ):  # fmt: skip
        out = tmp_path / label
        report = str(tmp_path / f"{label}.json")
        stage = {"qc": {"dedup": True, "length_required": 1, "json_report": report}}
        runs[label] = _run(out, read, [stage], **run)
    assert runs["one"]["prepare"][0]["chunks_scanned"] == 0
    assert runs["many"]["prepare"][0]["chunks_scanned"] > 1
    tables = {k: pq.read_table(tmp_path / k / "pq") for k in runs}
    assert (
        tables["one"]
        .select(["name", "seq", "qual", "seq2", "qual2"])
        .equals(tables["many"].select(["name", "seq", "qual", "seq2", "qual2"]))
    )
    kept = _first_copies([[(n, s + "|" + m[1], "") for (n, s, _), m in zip(r1, r2)]])[0]
    # the model: of each distinct pair its first copy, where that pair passes the filters
    _run(tmp_path / "all", {"paths": [str(g1)], "mate_paths": [str(g2)]},
         [{"qc": {"length_required": 1}}])  # fmt: skip
    passed = set(pq.read_table(tmp_path / "all" / "pq").column("name").to_pylist())
    assert tables["one"].column("name").to_pylist() == [n for n in kept if n in passed]
    reports = {k: json.loads((tmp_path / f"{k}.json").read_text()) for k in runs}
    assert reports["one"]["duplication"] == reports["many"]["duplication"]
    assert reports["one"]["filtering_result"] == reports["many"]["filtering_result"]
    assert reports["one"]["duplication"]["rate"] > 0


def test_two_passes_where_the_order_or_the_counts_need_them(tmp_path):
    recs = _with_copies(600, 9)
    gz = _gz(tmp_path / "a.fq.gz", recs)
    read = {"paths": [str(gz)]}
    # a copy count is known only once every read is seen
    m = _run(tmp_path / "count", read, [{"dedup": {"dup_count": True}}])
    assert m["prepare"][0]["chunks_scanned"] == 1
    # a marking stage after another map stage does not see the reads as read
    m = _run(tmp_path / "second", read, [{"dedup": {}}, {"qc": {"dedup": True}}])
    assert [p["chunks_scanned"] for p in m["prepare"]] == [0, 1]
    # after dedup, qc's own dedup finds nothing more: as qc without dedup after it
    _run(tmp_path / "plain", read, [{"dedup": {}}, {"qc": {}}])
    names = pq.read_table(tmp_path / "second" / "pq").column("name").to_pylist()
    assert names == pq.read_table(tmp_path / "plain" / "pq").column("name").to_pylist()
    assert 0 < len(names) and set(names) <= set(_first_copies([recs])[0])
