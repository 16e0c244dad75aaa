"""Duplicate removal: the first copy by identity survives, whatever the chunking or runner;
the counts equal an exact-match count computed independently."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline
from seqray.qc.dedup import hash128, read_hashes, reduce_partition

from ..peers import require_tool


def _fastq_records(path: Path) -> list[tuple[str, str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        lines = f.read().splitlines()
    return [(lines[i][1:], lines[i + 1], lines[i + 3]) for i in range(0, len(lines), 4)]


def _write_fastq(path: Path, records) -> Path:
    with open(path, "w") as f:
        for name, s, q in records:
            f.write(f"@{name}\n{s}\n+\n{q}\n")
    return path


def _with_copies(n: int, seed: int) -> list[tuple[str, str, str]]:
    """Reads where about a third are copies of earlier (or later) ones, qualities differ."""
    rng = random.Random(seed)
    pool = ["".join(rng.choice("ACGT") for _ in range(rng.randint(1, 60))) for _ in range(n // 2)]
    out = []
    for i in range(n):
        s = (
            rng.choice(pool)
            if rng.random() < 0.6
            else "".join(rng.choice("ACGTN") for _ in range(40))
        )
        out.append((f"r{i}", s, "".join(rng.choice("#5?I") for _ in s)))
    return out


def _first_copies(records_by_file) -> list[list[str]]:
    """The independent truth: names of the reads that are not an earlier read's copy."""
    seen = set()
    keep = []
    for records in records_by_file:
        names = []
        for name, s, _ in records:
            if s not in seen:
                seen.add(s)
                names.append(name)
        keep.append(names)
    return keep


def _config(out: Path, paths, extra_stage=None, chunk_bytes=3000, num_cpus=None, mates=None):
    read = {"paths": [str(p) for p in paths]}
    if mates:
        read["mate_paths"] = [str(p) for p in mates]
    run = {"chunk_bytes": chunk_bytes, "block_bases": 700}
    if num_cpus:
        run["num_cpus"] = num_cpus
    return parse_config(
        {
            "output": str(out),
            "run": run,
            "stages": [
                {"read": read},
                {"dedup": extra_stage or {}},
                {"write": {"format": "fastq", "compression": "none", "single_file": False}},
                {"write": {"format": "parquet", "path": "pq"}},
            ],
        }
    )


def _outputs(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and "_seqray" not in p.parts and p.name not in ("manifest.json", "run.json")
    }


def test_hash_separates_pair_boundaries_and_equal_reads_match():
    def col(*seqs):
        return pa.array([s.encode() for s in seqs], pa.large_binary())

    one = pa.table({"seq": col("AC", "ACG", "AC"), "seq2": col("GT", "T", "GT")})
    hi, lo = read_hashes(one)
    assert (hi[0], lo[0]) == (hi[2], lo[2])
    assert (hi[0], lo[0]) != (hi[1], lo[1])
    single = pa.table({"seq": col("ACGT", "ACGT" + "A" * 8, "")})
    hi, lo = read_hashes(single)
    assert len({(a, b) for a, b in zip(hi, lo)}) == 3


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=40), min_size=1, max_size=60))
def test_hash_equal_iff_bytes_equal(seqs):
    arr = pa.array(seqs, pa.large_binary())
    v = np.frombuffer(arr.buffers()[2], np.uint8) if arr.buffers()[2] else np.empty(0, np.uint8)
    o = np.frombuffer(arr.buffers()[1], np.int64)[: len(seqs) + 1]
    hi, lo = hash128(v, o, v, o, False)
    by_hash = {}
    for s, h in zip(seqs, zip(hi.tolist(), lo.tolist())):
        by_hash.setdefault(h, set()).add(s)
    assert all(len(group) == 1 for group in by_hash.values())
    assert len(by_hash) == len(set(seqs))


def test_reduce_keeps_smallest_identity(tmp_path):
    from seqray.qc.dedup import _ScanWriter

    t = pa.table(
        {
            "seq": pa.array([b"AAA", b"CCC", b"AAA", b"AAA", b"GGG"], pa.large_binary()),
            "record": pa.array([4, 5, 6, 7, 8], pa.int64()),
        }
    )
    for partitions, budget in ((1, 1 << 20), (3, 1 << 20), (3, 24)):  # 24 B: a segment a batch
        uri = str(tmp_path / f"scan-{partitions}-{budget}.bin")
        w = _ScanWriter(uri, source_index=0, partitions=partitions, budget=budget)
        w.write(t.slice(2))  # later records first: arrival order must not matter
        w.write(t.slice(0, 2))
        w.commit()
        found = [reduce_partition((p, [uri])) for p in range(partitions)]
        dups = sorted(x for d, _, _ in found for x in d.tolist())
        assert dups == [6, 7]
        firsts = [(f, c) for _, fs, cs in found for f, c in zip(fs.tolist(), cs.tolist())]
        assert firsts == [(4, 3)]


def test_dedup_keeps_first_copies_across_files_and_chunks(tmp_path):
    a = _with_copies(400, 1)
    b = _with_copies(300, 2) + [a[5]]  # a copy of a read of the first file
    fa = _write_fastq(tmp_path / "a.fq", a)
    fb = _write_fastq(tmp_path / "b.fq", b)
    truth = _first_copies([a, b])
    results = {}
    for label, kw in {
        "tiny": {"chunk_bytes": 2500, "num_cpus": 1},
        "big": {"chunk_bytes": 1 << 24, "num_cpus": 3},
    }.items():
        out = tmp_path / label
        r = run_pipeline(_config(out, [fa, fb], **kw), runner="local")
        results[label] = _outputs(out)
        m = json.loads((out / "manifest.json").read_text())
        rep = m["reports"]["dedup"]
        assert rep["reads_in"] == 701
        assert rep["duplicate_reads"] == 701 - sum(len(t) for t in truth)
        # accounting: reads in = reads out + duplicates
        st = m["stages"]["1:dedup"]
        assert st["rows_in"] == st["rows_out"] + rep["duplicate_reads"]
        assert r.counters["1:dedup"].rows_out == sum(len(t) for t in truth)
    assert results["tiny"].keys() != results["big"].keys()  # different chunk plans
    # the reads kept, in identity order, equal the truth for any chunking
    for label in results:
        table = pq.read_table(tmp_path / label / "pq")
        names = table.column("name").to_pylist()
        assert names == truth[0] + truth[1]


def test_dedup_count_column_and_pairs(tmp_path, examples):
    recs = _with_copies(200, 3)
    mates = [(n, s[::-1], q[::-1]) for n, s, q in recs]
    # mate 2 differs for some copies: those pairs are not duplicates
    mates = [
        (n, s + ("A" if i % 5 == 0 else ""), q + ("#" if i % 5 == 0 else ""))
        for i, (n, s, q) in enumerate(mates)
    ]
    f1 = _write_fastq(tmp_path / "r1.fq", recs)
    f2 = _write_fastq(tmp_path / "r2.fq", mates)
    out = tmp_path / "o"
    run_pipeline(_config(out, [f1], {"dup_count": True}, mates=[f2]), runner="local")
    pairs = [(r[1], m[1]) for r, m in zip(recs, mates)]
    seen, keep, copies = set(), [], {}
    for p in pairs:
        copies[p] = copies.get(p, 0) + 1
    for (name, *_), p in zip(recs, pairs):
        if p not in seen:
            seen.add(p)
            keep.append((name, copies[p]))
    table = pq.read_table(out / "pq")
    assert table.column("name").to_pylist() == [k for k, _ in keep]
    assert table.column("dup_count").to_pylist() == [c for _, c in keep]


@pytest.mark.integration
def test_dedup_on_ray_equals_local(tmp_path, ray_cluster, examples):
    src = examples / "real_interleaved.fastq.gz"
    recs = _fastq_records(src)
    plain = _write_fastq(tmp_path / "in.fq", recs + recs[:50])
    outs = {}
    for runner in ("local", "ray"):
        out = tmp_path / runner
        run_pipeline(_config(out, [plain], chunk_bytes=20000), runner=runner)
        outs[runner] = _outputs(out)
    assert outs["local"] == outs["ray"]
    names = pq.read_table(tmp_path / "ray" / "pq").column("name").to_pylist()
    assert names == _first_copies([recs + recs[:50]])[0]


@pytest.mark.integration
def test_dedup_equals_exact_count_and_fastp_overcounts_at_most_slightly(tmp_path):
    """Real reads with many duplicates (gasic-examples, 100 k reads): seqray removes exactly
    the copies an exact-match count finds; fastp's Bloom filter may call a few more."""
    import subprocess

    from ..debdata import debian_file

    fastp = require_tool("fastp")
    src = debian_file(
        "gasic-examples", "usr/share/doc/gasic/examples/reads/SRR059298_subset.fastq.gz"
    )
    recs = _fastq_records(src)
    exact_unique = len({s for _, s, _ in recs})
    out = tmp_path / "o"
    cfg = parse_config(
        {
            "output": str(out),
            "stages": [
                {"read": {"paths": [str(src)]}},
                {"dedup": {}},
                {"write": {"format": "fastq", "compression": "none"}},
            ],
        }
    )
    run_pipeline(cfg, runner="local")
    ours = _fastq_records(out / "reads.fastq")
    assert len(ours) == exact_unique
    assert len(recs) - exact_unique > 0.2 * len(recs)  # the data set is duplicate-rich
    fq = tmp_path / "fastp.fq"
    subprocess.run(
        [
            fastp,
            "-i",
            str(src),
            "-o",
            str(fq),
            "--dedup",
            "-A",
            "-G",
            "-Q",
            "-L",
            "-w",
            "2",
            "-j",
            str(tmp_path / "f.json"),
            "-h",
            str(tmp_path / "f.html"),
        ],
        check=True,
        capture_output=True,
    )
    theirs = _fastq_records(fq)
    # fastp keeps a subset of the unique reads: its Bloom filter can only over-count copies
    assert {s for _, s, _ in theirs} <= {s for _, s, _ in ours}
    assert exact_unique - len(theirs) <= 0.001 * len(recs)


def test_marks_files_round_trip_and_refuse_truncation(tmp_path):
    from seqray.errors import SeqrayError
    from seqray.qc.dedup import _load_marks, _save_marks

    arrays = {"dups": np.array([3, 9]), "firsts": np.array([1]), "counts": np.array([3])}
    uri = str(tmp_path / "m.i64")
    _save_marks(uri, **arrays)
    got = _load_marks(uri)
    assert {k: v.tolist() for k, v in got.items()} == {k: v.tolist() for k, v in arrays.items()}
    (tmp_path / "m.i64").write_bytes((tmp_path / "m.i64").read_bytes()[:-3])
    with pytest.raises(SeqrayError, match="truncated"):
        _load_marks(uri)


@pytest.mark.integration
@pytest.mark.peers("fastp")
def test_paired_qc_dedup_equals_fastp(tmp_path):
    """`seqray qc -i R1 -I R2 --dedup` against `fastp --dedup` on the same pairs (mates of
    different lengths, every third pair a copy of an earlier one, some differing only in
    R2): the same passed pairs, and the duplicates an exact pair count finds."""
    from seqray.cli.main import main

    from ..conftest import write_random_pairs
    from .conftest import fastp

    r1, r2 = write_random_pairs(tmp_path / "r1.fq", tmp_path / "r2.fq", 3000, seed=8, dup_every=3)
    # pairs whose R1 repeats an earlier R1 but whose R2 differs are not duplicates
    recs1, recs2 = _fastq_records(r1), _fastq_records(r2)
    for i in range(5, len(recs2), 17):
        n, s, q = recs2[i]
        recs2[i] = (n, s + "A", q + "I")
    _write_fastq(r2, recs2)
    pairs = [(a[1], b[1]) for a, b in zip(recs1, recs2)]
    exact_duplicates = len(pairs) - len(set(pairs))
    assert exact_duplicates > 500

    flags = ["-A", "-G", "-x", "-Q", "-l", "30"]  # random bases: a fifth are N
    o1, o2 = tmp_path / "o1.fq", tmp_path / "o2.fq"
    argv = ["qc", "-i", str(r1), "-I", str(r2), "-o", str(o1), "-O", str(o2), "--dedup"]
    argv += [*flags, "-j", str(tmp_path / "sq.json"), "--outdir", str(tmp_path / "run")]
    assert main(argv) == 0
    report = json.loads((tmp_path / "run" / "manifest.json").read_text())["reports"]["qc"]
    # 1 GB Bloom filter instead of fastp's default 4 GB: no false duplicates at this size
    counts, want1, want2 = fastp(
        tmp_path / "fp", r1, r2, [*flags, "--dedup", "--dup_calc_accuracy", "1"]
    )
    assert _fastq_records(o1) == want1
    assert _fastq_records(o2) == want2
    assert len(want1) > 1000
    # seqray counts every later copy as duplicated (mates counted apart), whatever the
    # filters would have said; fastp counts a copy under its filter result
    assert report["duplicated_reads"] == 2 * exact_duplicates
    fastp_json = json.loads((tmp_path / "fp" / "fp.json").read_text())
    theirs = fastp_json["summary"]
    ours = json.loads((tmp_path / "sq.json").read_text())["summary"]
    for part in ("before_filtering", "after_filtering"):
        assert ours[part] == theirs[part], part
    # fastp drops the copies that pass its filters, and counts the others under their filter
    # reason: its counts with --dedup are seqray's without
    assert main([*argv[:5], *flags, "--outdir", str(tmp_path / "plain")]) == 0
    manifest = json.loads((tmp_path / "plain" / "manifest.json").read_text())
    plain = manifest["reports"]["qc"]
    assert {k: plain[k] for k in counts} == counts
    dropped_by_fastp = counts["passed_filter_reads"] - theirs["after_filtering"]["total_reads"]
    assert dropped_by_fastp == plain["passed_filter_reads"] - report["passed_filter_reads"] > 0
