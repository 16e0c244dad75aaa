"""The output-format registry: lookups by name and by file name, what `write` and
`convert` take from it, a directory-store format registered from a test, and BAM through
`write` (checked with samtools and read back by seqray)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from seqray.cli.main import main
from seqray.errors import ConfigError, OutputError, SeqrayError
from seqray.io.formats import (
    DirectoryShard,
    extensions_hint,
    format_for_path,
    format_names,
    get_format,
    register_format,
)
from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline
from seqray.pipeline.manifest import Journal

from ..conftest import write_random_fastq, write_random_pairs
from ..dirformat import FILES, NPYDIR, read_shard, register
from ..peers import require_tool


@pytest.fixture
def npy_format(monkeypatch):
    return register(monkeypatch)


def _fastq_records(path: Path) -> list[tuple[str, str, str]]:
    lines = path.read_text().splitlines()
    return [(lines[i][1:], lines[i + 1], lines[i + 3]) for i in range(0, len(lines), 4)]


# -- the registry ---------------------------------------------------------------------


def test_builtin_formats_and_lookup_by_file_name():
    assert format_names() == ["fastq", "fasta", "parquet", "bam", "hdf5", "netcdf", "zarr"]
    cases = {
        "v.h5": ("hdf5", "gzip"),
        "v.nc": ("netcdf", "zlib"),
        "v.zarr": ("zarr", "zstd"),
        "a.fq": ("fastq", "none"),
        "a.FASTQ.GZ": ("fastq", "gzip"),
        "s3://b/x/a.fna.gz": ("fasta", "gzip"),
        "a.fa": ("fasta", "none"),
        "a.parquet": ("parquet", "zstd"),
        "a.bam": ("bam", "bgzf"),
    }
    for name, (fmt, comp) in cases.items():
        found = format_for_path(name)
        assert found is not None and (found[0].name, found[1]) == (fmt, comp), name
    for name in ("a.txt", "a.gz", "a.fq.bz2", "a.bam.gz"):
        assert format_for_path(name) is None, name
    assert extensions_hint() == (
        ".fastq/.fq (optionally .gz), .fasta/.fa/.fna (optionally .gz), .parquet or .bam"
    )
    assert get_format("bam").pairs_in_one and not get_format("fastq").pairs_in_one
    assert get_format("fastq").extension("gzip") == ".fastq.gz"
    with pytest.raises(SeqrayError, match="unknown output format 'xls'; allowed: fastq, fasta"):
        get_format("xls")
    with pytest.raises(ValueError, match="registered twice"):
        register_format(get_format("bam"))


def test_a_format_checks_its_compression_and_level():
    fq, pq = get_format("fastq"), get_format("parquet")
    assert fq.check(None, None) == ("gzip", 1)
    assert fq.check("none", 3) == ("none", 3)
    assert pq.check("snappy", None) == ("snappy", None)
    with pytest.raises(
        ValueError, match="'zstd' is not one FASTQ takes; allowed: gzip, bgzf, none"
    ):
        fq.check("zstd", None)
    with pytest.raises(ValueError, match="FASTQ takes levels 0..3"):
        fq.check("gzip", 7)
    with pytest.raises(ValueError, match="Parquet output takes no compression level"):
        pq.check("zstd", 1)


def _write_config(tmp_path: Path, **write) -> dict:
    return {
        "output": str(tmp_path / "o"),
        "stages": [{"read": {"paths": ["x.fq"]}}, {"write": write}],
    }


@pytest.mark.parametrize(
    "write, message",
    [
        ({"format": "bam", "single_file": True}, "single_file is for fastq/fasta/zarr; BAM output"),
        ({"format": "bam", "files": ["a.bam"]}, "files is for single-file fastq/fasta output"),
        ({"format": "fastq", "compression": "zstd"}, "'zstd' is not one FASTQ takes"),
        ({"format": "fasta", "level": 9}, "FASTA takes levels 0..3"),
        ({"format": "parquet", "level": 2}, "Parquet output takes no compression level"),
        (
            {"format": "fastq", "files": ["a.fq", "b.fq.gz"]},
            r"must all end in \.gz \(gzip/bgzf\) or none",
        ),
        ({"format": "npydir"}, "unknown format 'npydir'; allowed: fastq, fasta, parquet, bam"),
    ],
)
def test_write_takes_its_formats_from_the_registry(tmp_path, write, message):
    with pytest.raises(ConfigError, match=r"stages\[1\]\.write.*" + message):
        parse_config(_write_config(tmp_path, **write))


def test_a_registered_format_is_a_write_format(tmp_path, npy_format):
    cfg = parse_config(_write_config(tmp_path, format="npydir"))
    assert cfg.stages[1].resolved() == ("none", None, False)


# -- a directory format, registered from the test ---------------------------------------


def _npy_run(tmp_path: Path, out: Path, paths, mates=None, **extra):
    read: dict = {"paths": [str(p) for p in paths]}
    if mates:
        read["mate_paths"] = [str(p) for p in mates]
    cfg = {
        "output": str(out),
        "run": {"chunk_bytes": 6000, "block_bases": 2000},
        "stages": [{"read": read}, {"write": {"format": "npydir", "path": "arrays"}}],
    }
    return run_pipeline(parse_config(cfg), runner="local", **extra)


def test_directory_shards_hold_their_files_and_list_each(tmp_path, npy_format):
    fq = write_random_fastq(tmp_path / "a.fq", 300, seed=5)
    out = tmp_path / "o"
    r = _npy_run(tmp_path, out, [fq])
    shards = sorted((out / "arrays").iterdir())
    assert r.chunks > 3 and len(shards) == r.chunks
    assert all(s.is_dir() and s.name.endswith(".npyd") for s in shards)
    assert all(sorted(p.name for p in s.iterdir()) == sorted(FILES) for s in shards)
    # the shards, in chunk order, hold every read's bases (read with NumPy alone)
    seqs = [s.encode() for _, s, _ in _fastq_records(fq)]
    assert [x for s in shards for x in read_shard(s)] == seqs
    # the journal's shard records: the directory, its rows, and each file
    outcomes = Journal(str(out)).entries()
    for o in outcomes:
        (shard,) = o["shards"]
        assert set(shard) == {"uri", "rows", "files", "stage", "stage_index"}
        assert Path(shard["uri"]).is_dir() and shard["stage"] == "write"
        assert [Path(f["uri"]).parent for f in shard["files"]] == [Path(shard["uri"])] * 2
    assert sum(o["shards"][0]["rows"] for o in outcomes) == 300
    # the manifest lists each shard once (its rows, its total size, the sha256 of its
    # `sha256sum` listing) and every file in it with its size and sha256
    m = json.loads((out / "manifest.json").read_text())
    assert [Path(s["uri"]) for s in m["shards"]] == shards
    assert sum(s["rows"] for s in m["shards"]) == 300
    listed = {Path(f["uri"]): f for s in m["shards"] for f in s["files"]}
    assert set(listed) == {p for s in shards for p in s.iterdir()}
    for p, f in listed.items():
        data = p.read_bytes()
        assert (f["bytes"], f["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    for s in m["shards"]:
        # the sha256 of `sha256sum` run over its files in path order
        listing = subprocess.run(
            "find . -type f | sed 's|^\\./||' | LC_ALL=C sort | xargs sha256sum",
            shell=True,
            cwd=s["uri"],
            capture_output=True,
            check=True,
        ).stdout
        assert s["sha256"] == hashlib.sha256(listing).hexdigest()
        assert s["bytes"] == sum(f["bytes"] for f in s["files"])
    # --resume of the finished run verifies each of them
    again = _npy_run(tmp_path, out, [fq], resume=True)
    assert again.verified == len(listed)  # each file
    (shards[1] / FILES[1]).write_bytes(b"changed")
    with pytest.raises(OutputError, match="damaged.*seq_offsets.npy"):
        _npy_run(tmp_path, out, [fq], resume=True)


def test_directory_shards_of_pairs_are_one_per_mate(tmp_path, npy_format):
    r1, r2 = write_random_pairs(tmp_path / "a_1.fq", tmp_path / "a_2.fq", 120)
    out = tmp_path / "o"
    r = _npy_run(tmp_path, out, [r1], [r2])
    for mate, src in (("_R1", r1), ("_R2", r2)):
        shards = sorted((out / "arrays").glob(f"part-*{mate}.npyd"))
        assert len(shards) == r.chunks
        got = [x for s in shards for x in read_shard(s)]
        assert got == [s.encode() for _, s, _ in _fastq_records(src)]


def test_convert_writes_a_registered_directory_format(tmp_path, npy_format):
    fq = write_random_fastq(tmp_path / "a.fq", 50, seed=2)
    assert main(["convert", str(fq), str(tmp_path / "x.npyd")]) == 0
    assert read_shard(tmp_path / "x.npyd") == [s.encode() for _, s, _ in _fastq_records(fq)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.fq", "x.npyd"]  # no staging


def test_directory_shard_abort_and_replace(tmp_path):
    uri = tmp_path / "d" / "part-1.npyd"
    shard = DirectoryShard(str(uri))
    shard.file("a.bin").write(b"half")
    shard.abort()
    assert list((tmp_path / "d").iterdir()) == []  # the staging directory went
    for data in (b"first", b"second"):  # a shard done again replaces its earlier copy
        shard = DirectoryShard(str(uri))
        shard.file("a.bin").write(data)
        w = shard.commit(rows=3)
        assert (uri / "a.bin").read_bytes() == data
    assert (w.uri, w.rows, w.directory, w.bytes) == (str(uri), 3, True, 6)
    assert w.to_json()["files"] == [
        {"uri": str(uri / "a.bin"), "bytes": 6, "sha256": hashlib.sha256(b"second").hexdigest()}
    ]
    (uri / "theirs.txt").write_text("not seqray's")
    shard = DirectoryShard(str(uri))
    shard.file("a.bin").write(b"third")
    with pytest.raises(OutputError, match="theirs.txt"):
        shard.commit(rows=1)
    assert (uri / "theirs.txt").read_text() == "not seqray's"
    for bad in ("../y", "x//y", ".hidden", "x/.tmp", "/abs"):
        with pytest.raises(ValueError, match="not a new file name"):
            DirectoryShard(str(tmp_path / "e")).file(bad)
    # a store's tree: names with `/`, replaced whole when the shard is done again
    nested = tmp_path / "n" / "part-1.zarr"
    names = ["x/c/0", "x/c/1", "zarr.json"]
    for data in (b"first", b"second"):
        shard = DirectoryShard(str(nested))
        for n in names:
            shard.file(n).write(data)
        w = shard.commit(rows=1)
        assert [f.uri for f in w.files] == [str(nested / n) for n in names]
    assert sorted(str(p.relative_to(nested)) for p in nested.rglob("*") if p.is_file()) == names
    assert (nested / "x/c/1").read_bytes() == b"second"
    # a tree written by a library into local_dir(), beside a file written through file()
    mixed = tmp_path / "m" / "part-2.zarr"
    shard = DirectoryShard(str(mixed))
    os.makedirs(os.path.join(shard.local_dir(), "v", "c"))
    with open(os.path.join(shard.local_dir(), "v", "c", "0"), "wb") as f:
        f.write(b"chunk")
    shard.file("zarr.json").write(b"{}")
    w = shard.commit(rows=2)
    assert [(f.uri, f.bytes) for f in w.files] == [
        (str(mixed / "v/c/0"), 5),
        (str(mixed / "zarr.json"), 2),
    ]
    assert w.files[0].sha256 == hashlib.sha256(b"chunk").hexdigest()
    assert sorted(str(p.relative_to(mixed)) for p in mixed.rglob("*") if p.is_file()) == [
        "v/c/0",
        "zarr.json",
    ]
    assert not list((tmp_path / "n").glob(".*"))


# -- BAM through `write` ----------------------------------------------------------------


def _bam_run(out: Path, paths, mates=None) -> None:
    read: dict = {"paths": [str(p) for p in paths]}
    if mates:
        read["mate_paths"] = [str(p) for p in mates]
    cfg = {
        "output": str(out),
        "run": {"chunk_bytes": 8000},
        "stages": [{"read": read}, {"write": {"format": "bam", "path": "bam"}}],
    }
    run_pipeline(parse_config(cfg), runner="local")


def test_write_bam_round_trips_through_samtools_and_seqray(tmp_path):
    samtools = require_tool("samtools")
    fq = write_random_fastq(tmp_path / "a.fq", 200, seed=9)
    out = tmp_path / "o"
    _bam_run(out, [fq])
    parts = sorted((out / "bam").glob("part-*.bam"))
    assert len(parts) > 2
    m = json.loads((out / "manifest.json").read_text())
    assert [s["format"] for s in m["shards"]] == ["bam"] * len(parts)
    # samtools reads every record: QNAME (the first word), SEQ and QUAL, in input order
    rows = []
    for p in parts:
        subprocess.run([samtools, "quickcheck", "-u", str(p)], check=True)
        text = subprocess.run(
            [samtools, "view", str(p)], check=True, capture_output=True, text=True
        ).stdout
        rows += [line.split("\t") for line in text.splitlines()]
    want = _fastq_records(fq)
    assert [(r[0], int(r[1]), r[9], r[10]) for r in rows] == [
        (n.split(" ")[0], 4, s or "*", q or "*") for n, s, q in want
    ]
    # and seqray reads the shards back to the input, byte for byte (comments too)
    back = b""
    for i, p in enumerate(parts):
        assert main(["convert", str(p), str(tmp_path / f"b{i}.fq")]) == 0
        back += (tmp_path / f"b{i}.fq").read_bytes()
    assert back == fq.read_bytes()


def test_write_bam_keeps_pairs_in_one_shard(tmp_path):
    samtools = require_tool("samtools")
    r1, r2 = write_random_pairs(tmp_path / "a_1.fq", tmp_path / "a_2.fq", 150)
    out = tmp_path / "o"
    _bam_run(out, [r1], [r2])
    parts = sorted((out / "bam").glob("part-*.bam"))
    assert len(parts) > 1 and not list((out / "bam").glob("*_R*"))
    flags = []
    back1 = back2 = b""
    for i, p in enumerate(parts):
        text = subprocess.run(
            [samtools, "view", str(p)], check=True, capture_output=True, text=True
        ).stdout
        flags += [int(line.split("\t")[1]) for line in text.splitlines()]
        a, b = tmp_path / f"{i}_1.fq.gz", tmp_path / f"{i}_2.fq.gz"
        assert main(["convert", str(p), str(a), "--out2", str(b)]) == 0
        back1 += gzip.decompress(a.read_bytes())
        back2 += gzip.decompress(b.read_bytes())
    assert flags == [0x4D, 0x8D] * 150
    assert (back1, back2) == (r1.read_bytes(), r2.read_bytes())


# -- convert asks the registry ----------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["x.csv"], "unknown output extension; use .fastq/.fq (optionally .gz), "),
        (["x.fq"], "paired input to FASTQ/FASTA: give --out2 for read 2, or convert to Parquet"),
        (["x.bam", "--out2", "y.bam"], "--out2 is for paired input written as FASTQ/FASTA"),
        (["x.fq", "--out2", "y.fa"], "--out2 y.fa: use the same format (fastq)"),
    ],
)
def test_convert_messages_come_from_the_registry(tmp_path, capsys, monkeypatch, args, message):
    r1, r2 = write_random_pairs(tmp_path / "a_1.fq", tmp_path / "a_2.fq", 5)
    monkeypatch.chdir(tmp_path)
    assert main(["convert", str(r1), "--mate", str(r2), *args]) == 1
    assert message in " ".join(capsys.readouterr().err.split())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_1.fq", "a_2.fq"]


def test_the_test_format_is_registered_only_for_a_test():
    assert NPYDIR.name not in format_names()
