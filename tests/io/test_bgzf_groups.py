"""BGZF FASTQ/FASTA output (io/formats/bgzf_groups.py): valid BGZF (SAM spec 4.1) that
htslib and zlib read, cut at fixed groups of records so that single-file output has the
same bytes for any chunk size, and read back by seqray (split into chunks too) as the
same records."""

from __future__ import annotations

import gzip
import os
import random
import struct
import subprocess
import zlib
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqray.errors import ConfigError
from seqray.io.compression import Compression, bgzf_block_size, detect_compression, is_bgzf_header
from seqray.io.formats import bgzf_groups, gzip_groups
from seqray.io.formats.bgzf_groups import (
    BLOCK_TEXT,
    EOF,
    BlockJoin,
    GroupBlocks,
    block,
    inflate,
    key,
    text_size,
)
from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline

from ..conftest import write_random_fastq, write_random_pairs
from ..peers import require_tool
from .test_split import read_all, rows


def blocks_of(data: bytes) -> list[bytes]:
    """The blocks of a BGZF file, each checked to be a BGZF block."""
    out, at = [], 0
    while at < len(data):
        size = bgzf_block_size(data[at : at + 64])
        assert size is not None, f"not a BGZF block at byte {at}"
        out.append(data[at : at + size])
        at += size
    assert at == len(data)
    return out


def check_bgzf(data: bytes, labelled: bool = False) -> bytes:
    """Checks `data` is a BGZF file as htslib writes them (SAM spec 4.1) and returns its
    text: every block has the spec's exact 18-byte header (XLEN 6, 'BC' alone), at most
    65,280 bytes of text and a right CRC; the EOF block is there once, at the end; the
    blocks carry no labels (MTIME 0) unless `labelled`; zlib reads the whole file."""
    blocks = blocks_of(data)
    assert blocks and blocks[-1] == EOF
    assert all(text_size(b) > 0 for b in blocks[:-1]), "an empty block before the end"
    texts = []
    for b in blocks:
        assert is_bgzf_header(b[:18]) and b[10:16] == b"\x06\x00BC\x02\x00"
        assert (key(b) is not None) == labelled or b == EOF
        text = inflate(b)
        crc, isize = struct.unpack("<II", b[-8:])
        assert len(text) == isize <= BLOCK_TEXT and zlib.crc32(text) == crc
        texts.append(text)
    whole = gzip.decompress(data)
    assert whole == b"".join(texts)
    return whole


def _run(tmp: Path, name: str, paths, mates=None, chunk_bytes=None, qc=None, write=None):
    read: dict = {"paths": [str(p) for p in paths]}
    if mates:
        read["mate_paths"] = [str(p) for p in mates]
    run = {"block_bases": 3000} | ({"chunk_bytes": chunk_bytes} if chunk_bytes else {})
    stages = [{"read": read}, *([{"qc": qc}] if qc else [])]
    stages.append({"write": {"format": "fastq", "compression": "bgzf"} | (write or {})})
    out = tmp / name
    r = run_pipeline(parse_config({"output": str(out), "run": run, "stages": stages}))
    return r.chunks, [f.read_bytes() for f in sorted(out.glob("reads*.fastq.gz"))]


# -- blocks ---------------------------------------------------------------------------


def test_a_block_is_bgzf_and_gzip():
    text = b"@r1\nACGT\n+\nIIII\n" * 1000
    data = block(text, 1)
    assert bgzf_block_size(data) == len(data)
    assert detect_compression(data) == Compression.BGZF
    assert gzip.decompress(data + EOF) == text
    assert check_bgzf(data + EOF) == text


@pytest.mark.parametrize("level", range(4))
def test_incompressible_text_still_fits_a_block(level):
    text = os.urandom(BLOCK_TEXT)
    data = block(text, level)
    assert len(data) <= 65536 and bgzf_block_size(data) == len(data)
    assert check_bgzf(data + EOF) == text


def _part(pieces: list[tuple[bytes, int]], level: int) -> bytes:
    """A shard: the pieces (text, group) as one writer writes them."""
    out: list[bytes] = []
    groups = GroupBlocks(out.append, level)
    for text, group in pieces:
        groups.add(text, group)
    groups.close()
    return b"".join(out)


def _join(parts: list[bytes]) -> bytes:
    out: list[bytes] = []
    join = BlockJoin(out.append)
    for p in parts:
        for raw in blocks_of(p):
            join.add(raw)
    join.end()
    return b"".join(out) + EOF


def test_a_shard_labels_its_blocks_and_the_join_removes_the_labels():
    text = b"@r\nACGT\n+\nIIII\n" * 10000  # 160 kB: three blocks
    part = _part([(text, 5), (b"@s\nA\n+\nI\n", 6)], 2)
    assert [key(b) for b in blocks_of(part)] == [(5, 2)] * 3 + [(6, 2), None]
    assert check_bgzf(part, labelled=True) == text + b"@s\nA\n+\nI\n"
    joined = _join([part])
    assert check_bgzf(joined) == text + b"@s\nA\n+\nI\n"
    assert len(blocks_of(joined)) == 5  # the same blocks, EOF once


@st.composite
def pieces_and_cuts(draw):
    """Records (text, group) as writers get them — groups go up, or start again at 0
    where a new input file starts — and the chunk boundaries between them."""
    pieces, group = [], 0
    for _ in range(draw(st.integers(1, 25))):
        step = draw(st.sampled_from([0, 0, 0, 1, 2, "file"]))
        group = 0 if step == "file" else group + step
        pieces.append((draw(st.binary(min_size=1, max_size=160)), group))
    cuts = sorted(draw(st.sets(st.integers(1, len(pieces) - 1))) if len(pieces) > 1 else [])
    return pieces, cuts, draw(st.integers(0, 3))


@settings(max_examples=200, deadline=None)
@given(pieces_and_cuts())
def test_joined_parts_are_one_writers_blocks_wherever_the_chunks_end(case):
    """Any cut of the records into parts joins to the same bytes: each run of one group
    cut every BLOCK_TEXT bytes from its start, at the writers' level, then EOF."""
    pieces, cuts, level = case
    with mock.patch.object(bgzf_groups, "BLOCK_TEXT", 50):
        bounds = [0, *cuts, len(pieces)]
        parts = [_part(pieces[a:b], level) for a, b in zip(bounds[:-1], bounds[1:])]
        joined = _join(parts)
        assert joined == _join([_part(pieces, level)])
        runs: list[list] = []
        for text, group in pieces:
            if runs and runs[-1][1] == group:
                runs[-1][0] += text
            else:
                runs.append([text, group])
        want = b"".join(block(t[i : i + 50], level) for t, _ in runs for i in range(0, len(t), 50))
        assert joined == want + EOF
        assert gzip.decompress(joined) == b"".join(t for t, _ in pieces)


# -- written by the pipeline ----------------------------------------------------------


@pytest.mark.parametrize("group_records", [16, 4096])
def test_single_end_output_is_the_same_for_any_chunk_size(tmp_path, monkeypatch, group_records):
    monkeypatch.setattr(gzip_groups, "GROUP_RECORDS", group_records)
    a = write_random_fastq(tmp_path / "a.fq", 600, seed=4)
    b = write_random_fastq(tmp_path / "b.fq", 70, seed=5)
    seen = {}
    for cb in (5000, 40000, None):
        chunks, files = _run(tmp_path, f"o{cb}", [a, b], chunk_bytes=cb)
        seen[chunks] = files
    assert len(seen) == 3  # three different chunkings (many chunks, few, one per file)
    (one,) = {tuple(f) for f in seen.values()}
    assert check_bgzf(one[0]) == a.read_bytes() + b.read_bytes()
    assert len(blocks_of(one[0])) > 3


def test_filtered_pairs_give_the_same_bytes_for_any_chunk_size(tmp_path, monkeypatch):
    monkeypatch.setattr(gzip_groups, "GROUP_RECORDS", 16)
    r1, r2 = write_random_pairs(tmp_path / "a_1.fq", tmp_path / "a_2.fq", 800)
    qc = {"length_required": 40, "n_base_limit": 400, "disable_adapter_trimming": True}
    seen = {}
    for cb in (6000, 30000, None):  # R1 cut by bytes, R2 where its pairs start
        chunks, files = _run(tmp_path, f"o{cb}", [r1], [r2], chunk_bytes=cb, qc=qc)
        seen[chunks] = files
    assert len(seen) == 3
    (both,) = {tuple(f) for f in seen.values()}
    _, gz = _run(tmp_path, "gz", [r1], [r2], chunk_bytes=6000, qc=qc, write={"compression": "gzip"})
    texts = [check_bgzf(f) for f in both]
    assert texts == [gzip.decompress(f) for f in gz] and 0 < len(texts[0]) < r1.stat().st_size


def test_output_reads_back_split_into_chunks(tmp_path):
    src = write_random_fastq(tmp_path / "a.fq", 3000, seed=7)
    _, (data,) = _run(tmp_path, "o", [src], chunk_bytes=50000)
    out = tmp_path / "o" / "reads.fastq.gz"
    check_bgzf(data)
    chunks, _, tables = read_all(out, 40000)
    assert len(chunks) > 3 and all(c.compression == Compression.BGZF for c in chunks)
    _, _, want = read_all(src, 1 << 40)
    got, expected = rows(tables), rows(want)
    assert got == expected and len(got["record"]) == 3000


def test_shards_are_bgzf_files_each(tmp_path):
    src = write_random_fastq(tmp_path / "a.fq", 900, seed=8)
    _run(tmp_path, "o", [src], chunk_bytes=20000, write={"single_file": False})
    shards = sorted((tmp_path / "o" / "reads").glob("part-*.fastq.gz"))
    assert len(shards) > 3
    text = b"".join(check_bgzf(p.read_bytes(), labelled=True) for p in shards)
    assert text == src.read_bytes()


def test_no_reads_gives_the_eof_block_alone(tmp_path):
    src = write_random_fastq(tmp_path / "a.fq", 50, seed=9)
    _, (data,) = _run(tmp_path, "o", [src], qc={"length_required": 10000})
    assert data == EOF


def test_files_named_gz_take_bgzf(tmp_path):
    def config(files, **write):
        w = {"format": "fastq", "files": [str(tmp_path / f) for f in files]} | write
        stages = [{"read": {"paths": [str(tmp_path / "a.fq")]}}, {"write": w}]
        return parse_config({"output": str(tmp_path / "o"), "stages": stages})

    cfg = config(["x.fq.gz"], compression="bgzf", level=3)
    assert cfg.stages[1].resolved() == ("bgzf", 3, True)
    assert config(["x.fq.gz"]).stages[1].resolved()[0] == "gzip"  # .gz: gzip first
    with pytest.raises(ConfigError, match="'bgzf' does not match the file names"):
        config(["x.fq"], compression="bgzf")


# -- other readers --------------------------------------------------------------------


@pytest.fixture
def bgzf_out(tmp_path) -> tuple[Path, bytes]:
    """BGZF output of 2,000 reads of 100-150 bases (samtools' index refuses empty reads)."""
    rng = random.Random(3)
    src = tmp_path / "a.fq"
    with open(src, "w") as f:
        for i in range(2000):
            seq = "".join(rng.choices("ACGT", k=rng.randint(100, 150)))
            f.write(f"@r{i} x\n{seq}\n+\n{''.join(rng.choices('#5?@IJ', k=len(seq)))}\n")
    _run(tmp_path, "o", [src], chunk_bytes=30000)
    return tmp_path / "o" / "reads.fastq.gz", src.read_bytes()


def test_pysam_reads_it(bgzf_out):
    pysam = pytest.importorskip("pysam")
    path, text = bgzf_out
    with pysam.BGZFile(str(path), "rb") as f:
        assert f.read() == text
    with pysam.FastxFile(str(path)) as f:
        assert sum(1 for _ in f) == 2000


def test_samtools_indexes_it(bgzf_out, tmp_path):
    """`samtools fqidx` takes only BGZF (plain gzip is refused), and then reads a record
    from the middle of the file through its index."""
    require_tool("samtools")
    path, text = bgzf_out
    name = "r1234"
    got = subprocess.run(
        ["samtools", "fqidx", "-n", "100000", str(path), name], capture_output=True, check=True
    ).stdout
    lines = text.split(b"\n")
    assert got.split(b"\n")[1] == lines[4 * 1234 + 1]
    assert (Path(str(path) + ".gzi")).exists()


def test_convert_writes_bgzf(tmp_path, capsys):
    from seqray.cli.main import main

    src = write_random_fastq(tmp_path / "a.fq", 1500, seed=2)
    out = tmp_path / "b.fq.gz"
    assert main(["convert", str(src), str(out), "--bgzf"]) == 0
    assert check_bgzf(out.read_bytes(), labelled=True) == src.read_bytes()
    assert main(["convert", str(src), str(tmp_path / "c.fq"), "--bgzf"]) == 1
    assert "--bgzf is for .gz FASTQ/FASTA output" in capsys.readouterr().err
