"""Counting internals against a Counter, and the stage's guarantees: the same bytes whatever
the runner, chunking, spilling or partitioning; filters; text k-mers; resume; bad input."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqray.cli.main import main
from seqray.kmers.count import (
    PartitionedTable,
    SpillWriter,
    merge_rows,
    read_spill_rows,
    slot_layout,
)
from seqray.kmers.encode import canonical_codes, decode_kmers, encode_kmers
from seqray.kmers.query import KmerCounts
from seqray.kmers.spectrum import histo_text
from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline

from ..conftest import assert_user_error, flat, write_random_fastq
from .countdata import read_counts, tricky_reads


def _ref_counts(codes_batches) -> Counter:
    c: Counter = Counter()
    for b in codes_batches:
        c.update(int(x) for x in b)
    return c


@settings(max_examples=40, deadline=None)
@given(
    k=st.sampled_from([1, 2, 3, 5, 13, 31, 32]),
    batches=st.lists(st.lists(st.integers(0, 2**64 - 1), max_size=300), max_size=6),
    drain=st.sampled_from([1, 7, 1000]),
)
def test_partitioned_table_counts_like_a_counter(k, batches, drain):
    mask = (1 << (2 * k)) - 1
    # few distinct values, so keys repeat; k = 32 may hit the all-ones k-mer
    batches = [
        np.array([x & mask & 0xF000000000000FFF | (x & 3) for x in b], np.uint64) for b in batches
    ]
    if k == 32 and batches:
        batches[0] = np.append(batches[0], np.uint64(2**64 - 1))
    t = PartitionedTable(k, initial_slots=2, drain_codes=drain)
    for b in batches:
        t.add(b)
    keys, counts, bounds = t.rows()
    ref = _ref_counts(batches)
    assert keys.tolist() == sorted(ref)
    assert counts.tolist() == [ref[x] for x in sorted(ref)]
    # bounds are prefix partitions: each holds the k-mers with its leading bases
    for p in range(t.n_parts):
        part = keys[bounds[p] : bounds[p + 1]]
        assert ((part >> np.uint64(t.shift)) == p).all()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("k", [31, 32])
def test_counts_past_the_packed_count_field(k, threads):
    # a slot keeps 12 count bits at k = 31 and 10 at k = 32 (the rest is the k-mer): counts
    # beyond go to the partition's overflow list and are added back exactly
    rbits, cbits = slot_layout(k)
    assert rbits + cbits <= 64 and (rbits, cbits) == ((52, 12) if k == 31 else (54, 10))
    rng = np.random.default_rng(k)
    mask = np.uint64((1 << (2 * k)) - 1)
    hot = rng.integers(0, 2**63, 3, dtype=np.uint64) & mask
    hot[1] = hot[0] ^ np.uint64(1)  # same partition as hot[0]
    many = {int(hot[0]): 5000, int(hot[1]): (1 << cbits) + 1, int(hot[2]): (1 << cbits) - 1}
    codes = np.concatenate(
        [np.full(n, c, np.uint64) for c, n in many.items()]
        + [rng.integers(0, 2**63, 20_000, dtype=np.uint64) & mask]
    )
    rng.shuffle(codes)
    with ThreadPoolExecutor(threads) as pool:  # as CountWriter inserts: halves on two threads
        t = PartitionedTable(k, initial_slots=2, drain_codes=3000, pool=pool)
        for b in np.array_split(codes, 17):
            t.add(b)
        keys, counts, _ = t.rows()
    ref = Counter(codes.tolist())
    assert keys.tolist() == sorted(ref)
    assert counts.tolist() == [ref[x] for x in sorted(ref)]
    assert {c: int(counts[keys == c][0]) for c in many} == many


def test_spill_segments_merge(tmp_path):
    rng = np.random.default_rng(0)
    uri = str(tmp_path / "s.bin")
    n_parts = PartitionedTable(21).n_parts
    w = SpillWriter(uri, 21, n_parts)
    ref: Counter = Counter()
    for _ in range(3):  # three segments with overlapping keys
        t = PartitionedTable(21, initial_slots=4)
        codes = rng.integers(0, 2**42, 5000, dtype=np.uint64) & np.uint64(0x3FF0000000F)
        t.add(codes)
        w.add_segment(*t.rows())
        ref.update(codes.tolist())
    w.close()
    keys, counts = merge_rows(read_spill_rows(uri, 0, n_parts))
    assert keys.tolist() == sorted(ref)
    assert counts.tolist() == [ref[x] for x in sorted(ref)]
    lo, hi = 10, 200
    part, _ = merge_rows(read_spill_rows(uri, lo, hi))
    shift = PartitionedTable(21).shift
    assert part.tolist() == [x for x in sorted(ref) if lo <= (x >> shift) < hi]
    assert 0 < len(part) < len(ref)


def _run(tmp: Path, name: str, inputs, runner="local", chunk_bytes="64MiB", **count) -> Path:
    out = tmp / name
    cfg = parse_config(
        {
            "output": str(out),
            "run": {"runner": runner, "chunk_bytes": chunk_bytes, "block_bases": 20000},
            "stages": [{"read": {"paths": [str(p) for p in inputs]}}, {"count": count}],
        }
    )
    run_pipeline(cfg)
    return out


def _outputs(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and "_seqray" not in p.parts and p.name != "manifest.json"
    }


def test_chunking_spilling_and_partitions_do_not_change_counts(tmp_path):
    fq = write_random_fastq(tmp_path / "a.fq", 1500, seed=4)
    base = _outputs(_run(tmp_path, "one", [fq], k=11, canonical=True, partitions=4))
    # many byte-range chunks, tables spilled after every batch (1 MiB budget)
    many = _run(
        tmp_path, "many", [fq], chunk_bytes=30000, k=11, canonical=True, partitions=4, memory="1MiB"
    )
    assert _outputs(many) == base
    assert len(list((many / "counts").glob("*.parquet"))) == 4
    assert not (many / "_seqray" / "count-spill-counts").exists()  # spill removed
    manifest = json.loads((many / "manifest.json").read_text())
    assert manifest["reports"]["count"]["distinct"] > 0
    assert {Path(s["uri"]).name for s in manifest["shards"]} >= {"histo.txt", "summary.json"}
    # one output shard holds the same rows
    one = _run(tmp_path, "p1", [fq], chunk_bytes=30000, k=11, canonical=True, partitions=1)
    assert read_counts(one)[0].tolist() == read_counts(many)[0].tolist()


@pytest.mark.integration
def test_local_and_ray_runners_write_identical_bytes(tmp_path, ray_cluster):
    fq = write_random_fastq(tmp_path / "a.fq", 2000, seed=9)
    kw = dict(k=15, canonical=True, partitions=8, text=True, chunk_bytes=40000)
    local = _run(tmp_path, "local", [fq], runner="local", **kw)
    ray = _run(tmp_path, "ray", [fq], runner="ray", **kw)
    assert _outputs(local) == _outputs(ray)
    assert len(list((ray / "counts").glob("*.parquet"))) == 8


def test_filters_text_and_query(tmp_path):
    reads = tricky_reads(tmp_path / "t.fq")
    full = _run(tmp_path, "full", [reads], k=15, canonical=True)
    kept = _run(
        tmp_path, "kept", [reads], k=15, canonical=True, min_count=2, max_count=10, text=True
    )
    keys, counts = read_counts(full)
    summary_full = json.loads((full / "summary.json").read_text())
    summary = json.loads((kept / "summary.json").read_text())
    # the histogram and totals describe every k-mer; only the table is filtered
    assert (full / "histo.txt").read_bytes() == (kept / "histo.txt").read_bytes()
    assert summary["distinct"] == summary_full["distinct"] == len(keys)
    sel = (counts >= 2) & (counts <= 10)
    t = pq.read_table(kept / "counts")
    assert t.column_names == ["kmer", "kmer_text", "count"]
    assert t.column("kmer").to_numpy().tolist() == keys[sel].tolist()
    assert t.column("kmer_text").to_pylist() == decode_kmers(keys[sel], 15)
    assert summary["written"] == int(sel.sum())
    # histo.txt is jellyfish's format of the histogram
    hist = Counter(counts.tolist())
    assert (full / "histo.txt").read_text() == histo_text(dict(hist))
    # queries: canonical lookups, absent and filtered-out k-mers read 0
    q = KmerCounts(str(kept))
    text = decode_kmers(keys[:50], 15)
    rc = [s[::-1].translate(str.maketrans("ACGT", "TGCA")) for s in text]
    expected = [int(c) if 2 <= c <= 10 else 0 for c in counts[:50]]
    assert q.lookup(text).tolist() == expected
    assert q.lookup(rc).tolist() == expected
    seen = set(keys.tolist())
    never = next(
        c
        for c in canonical_codes(
            encode_kmers(["ACGTACGTACGTACG", "CCCCCGGGGGCCCCC", "GAGAGAGAGAGAGAG"]), 15
        )
        if int(c) not in seen
    )
    assert q.lookup_codes(np.array([never])).tolist() == [0]


def test_poly_t_at_k32_forward(tmp_path):
    """k = 32 uses all 64 bits: TTTT…T is the all-ones code, counted aside by the table."""
    fq = tmp_path / "t.fq"
    fq.write_text(
        "@a\n" + "T" * 40 + "\n+\n" + "I" * 40 + "\n@b\n" + "A" * 33 + "\n+\n" + "I" * 33 + "\n"
    )
    out = _run(tmp_path, "o", [fq], k=32)
    keys, counts = read_counts(out)
    assert decode_kmers(keys, 32) == ["A" * 32, "T" * 32]
    assert counts.tolist() == [2, 9]
    assert (out / "histo.txt").read_text() == "2 1\n9 1\n"


def test_cli_count_query_and_errors(tmp_path, capsys):
    reads = tricky_reads(tmp_path / "t.fq")
    out = tmp_path / "o"
    assert main(["count", "-k", "15", "-C", str(reads), "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["count", "run", "-k", "15", str(reads), "-o", str(out)]) == 1  # exists
    assert_user_error(
        capsys.readouterr().err, f"{out}: a finished run is already there; use --overwrite"
    )
    keys, counts = read_counts(out)
    kmer = decode_kmers(keys[:1], 15)[0]
    assert main(["count", "query", str(out), kmer.lower(), "A" * 15]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{kmer}\t{counts[0]}"
    assert lines[1].startswith("A" * 15 + "\t")
    assert main(["count", "query", str(out), "ACGN"]) == 2
    assert_user_error(capsys.readouterr().err, "'ACGN' is not a 15-mer of A, C, G, T")
    assert main(["count", "query", str(tmp_path / "nothing"), "ACG"]) == 1
    assert_user_error(capsys.readouterr().err, f"{tmp_path / 'nothing'}", "no k-mer counts here")
    # an invalid option value: refused naming the option (its exit code is the option
    # handling's, usage)
    assert main(["count", "-k", "33", str(reads), "-o", str(tmp_path / "x")]) == 2
    err = flat(capsys.readouterr().err)
    assert_user_error(err)
    assert "'-k'" in err and "less than or equal to 32" in err, err
    assert not (tmp_path / "x").exists()
    assert main(["count", "-k", "5", str(tmp_path / "missing.fq"), "-o", str(tmp_path / "y")]) == 1
    assert_user_error(capsys.readouterr().err, "missing.fq: no such file or directory")
    assert not (tmp_path / "y" / "manifest.json").exists()
    bad = tmp_path / "bad.fq"
    bad.write_text("@a\nACGT\n+\nII\n")
    assert main(["count", "-k", "3", str(bad), "-o", str(tmp_path / "z")]) == 1
    assert_user_error(
        capsys.readouterr().err, f"{bad}, record 1, line 4: sequence and quality lengths differ"
    )
    assert not (tmp_path / "z" / "summary.json").exists()


@pytest.mark.integration
def test_count_to_and_query_from_s3(s3_env, tmp_path):
    client, bucket, _ = s3_env
    reads = tricky_reads(tmp_path / "t.fq")
    local = _run(tmp_path, "local", [reads], k=15, canonical=True, partitions=2)
    uri = f"s3://{bucket}/k15"
    cfg = {
        "output": uri,
        "run": {"runner": "local", "chunk_bytes": 8000},
        "stages": [
            {"read": {"paths": [str(reads)]}},
            {"count": {"k": 15, "canonical": True, "partitions": 2, "memory": "1MiB"}},
        ],
    }
    run_pipeline(parse_config(cfg))
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert {"k15/histo.txt", "k15/summary.json", "k15/counts/part-00001.parquet"} <= keys
    assert not [k for k in keys if "count-spill" in k]  # spill removed
    for name in ("histo.txt", "counts/part-00000.parquet", "counts/part-00001.parquet"):
        body = client.get_object(Bucket=bucket, Key=f"k15/{name}")["Body"].read()
        assert body == (local / name).read_bytes()
    kmers, counts = read_counts(local)
    asked = decode_kmers(kmers[::50], 15)
    assert KmerCounts(uri).lookup(asked).tolist() == counts[::50].tolist()


def test_spill_gives_table_memory_back():
    t = PartitionedTable(21, initial_slots=4, drain_codes=1)
    t.add(np.arange(100_000, dtype=np.uint64) * np.uint64(7919))
    grown = t.nbytes
    keys, counts, _ = t.rows()
    assert len(keys) == 100_000 and (counts == 1).all()
    t.clear()
    assert t.nbytes < grown // 10
    assert len(t.rows()[0]) == 0
    t.add(np.array([5, 5], np.uint64))
    assert t.rows()[1].tolist() == [2]
