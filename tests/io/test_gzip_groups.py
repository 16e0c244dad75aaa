"""Single-file gzip output does not depend on the chunk size: members hold fixed groups of
records (io/formats/gzip_groups.py) and the join deflates again only the groups a chunk
boundary cut in two."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import pytest

from seqray.io.formats import gzip_groups
from seqray.io.formats.gzip_groups import HEAD_SIZE, label, member
from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline

from ..conftest import write_random_fastq, write_random_pairs


def _members(data: bytes) -> list[tuple[int, int]]:
    """(group, level) of each member of a file written in groups."""
    out, at = [], 0
    while at < len(data):
        found = label(data[at : at + HEAD_SIZE])
        assert found is not None, f"an unlabelled member at byte {at}"
        group, size, level = found
        out.append((group, level))
        at += size
    assert at == len(data)
    return out


def _run(tmp: Path, name: str, paths, mates=None, chunk_bytes=None, qc=None, comp="gzip"):
    read: dict = {"paths": [str(p) for p in paths]}
    if mates:
        read["mate_paths"] = [str(p) for p in mates]
    run = {"block_bases": 3000} | ({"chunk_bytes": chunk_bytes} if chunk_bytes else {})
    stages = [{"read": read}, *([{"qc": qc}] if qc else [])]
    stages.append({"write": {"format": "fastq", "compression": comp}})
    out = tmp / name
    r = run_pipeline(parse_config({"output": str(out), "run": run, "stages": stages}))
    suffix = ".fastq.gz" if comp == "gzip" else ".fastq"
    files = sorted(out.glob(f"reads*{suffix}"))
    return r.chunks, [f.read_bytes() for f in files]


def test_a_member_is_plain_gzip_with_a_label():
    text = b"@r1\nACGT\n+\nIIII\n" * 1000
    data = member(text, 7, 2)
    assert gzip.decompress(data) == text  # zlib reads it: the label is an extra field
    assert label(data) == (7, len(data), 2)
    assert label(gzip.compress(text)) is None and label(b"@r1\n") is None


@pytest.mark.parametrize("group_records", [16, 4096])
def test_single_end_output_is_the_same_for_any_chunk_size(tmp_path, monkeypatch, group_records):
    monkeypatch.setattr(gzip_groups, "GROUP_RECORDS", group_records)
    a = write_random_fastq(tmp_path / "a.fq", 300, seed=4)
    b = write_random_fastq(tmp_path / "b.fq", 70, seed=5)
    seen = {}
    for cb in (2500, 9000, None):
        chunks, files = _run(tmp_path, f"o{cb}", [a, b], chunk_bytes=cb)
        seen[chunks] = files
    assert len(seen) == 3  # three different chunkings (many chunks, few, one per file)
    (one,) = {tuple(f) for f in seen.values()}
    assert gzip.decompress(one[0]) == a.read_bytes() + b.read_bytes()
    # one member per group of each file: a run of records ends where a file's starts
    groups = [g for g, _ in _members(one[0])]
    want = [*range(math.ceil(300 / group_records)), *range(math.ceil(70 / group_records))]
    if group_records >= 300:  # both files in group 0: one run, one member
        want = [0]
    assert groups == want


def test_filtered_pairs_give_the_same_bytes_for_any_chunk_size(tmp_path, monkeypatch):
    monkeypatch.setattr(gzip_groups, "GROUP_RECORDS", 16)
    r1, r2 = write_random_pairs(tmp_path / "a_1.fq", tmp_path / "a_2.fq", 400)
    qc = {"length_required": 40, "n_base_limit": 400, "disable_adapter_trimming": True}
    seen = {}
    for cb in (3000, 12000, None):  # R1 cut by bytes, R2 where its pairs start
        chunks, files = _run(tmp_path, f"o{cb}", [r1], [r2], chunk_bytes=cb, qc=qc)
        seen[chunks] = files
    assert len(seen) == 3
    (both,) = {tuple(f) for f in seen.values()}
    _, plain = _run(tmp_path, "plain", [r1], [r2], chunk_bytes=3000, qc=qc, comp="none")
    assert [gzip.decompress(f) for f in both] == plain and 0 < len(plain[0]) < r1.stat().st_size
    for f in both:
        groups = [g for g, _ in _members(f)]
        assert len(groups) > 5 and groups == sorted(set(groups))  # one member per group
