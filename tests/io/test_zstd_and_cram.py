"""Inputs the README promises beyond plain, gzip and BAM: zstd-compressed FASTQ (one frame or
several) and CRAM, each compared with the reads it was made from."""

from __future__ import annotations

import gzip
import json
import random
import subprocess

import pytest

from seqray.cli.main import main
from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline

from ..conftest import assert_user_error
from ..peers import require_module, require_tool

COMP = str.maketrans("ACGTN", "TGCAN")


@pytest.fixture(scope="module")
def zstandard():
    return require_module("zstandard")  # in the test extras; seqray[formats] for users


@pytest.fixture(scope="module")
def phix_text(examples) -> bytes:
    return gzip.decompress((examples / "phix_R1.fastq.gz").read_bytes())


def _frames(zstandard, text: bytes, parts: int) -> bytes:
    """`text` as `parts` zstd frames cut at record starts (as pzstd or `cat a.zst b.zst`
    write them)."""
    cuts = [0]
    for i in range(1, parts):
        cuts.append(text.index(b"\n@", i * len(text) // parts) + 1)
    cuts.append(len(text))
    c = zstandard.ZstdCompressor(write_checksum=True)
    return b"".join(c.compress(text[a:b]) for a, b in zip(cuts, cuts[1:]))


@pytest.mark.parametrize("frames", [1, 3])
def test_zstd_fastq_reads_as_its_text(zstandard, phix_text, tmp_path, capsys, frames):
    src = tmp_path / "r.fq.zst"
    src.write_bytes(_frames(zstandard, phix_text, frames))
    # convert: the records back, byte for byte (the input is in seqray's normal form)
    assert main(["convert", str(src), str(tmp_path / "back.fq")]) == 0
    assert (tmp_path / "back.fq").read_bytes() == phix_text
    capsys.readouterr()
    # inspect: counts of the text, computed here
    assert main(["inspect", str(src), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    seqs = phix_text.split(b"\n")[1::4]
    assert (row["num_seqs"], row["sum_len"]) == (len(seqs), sum(map(len, seqs)))
    # a pipeline: one chunk (a zstd stream cannot be entered mid-way), same reads
    cfg = {
        "output": str(tmp_path / "o"),
        "run": {"chunk_bytes": 20000, "block_bases": 5000},
        "stages": [
            {"read": {"paths": [str(src)]}},
            {"write": {"format": "fastq", "compression": "none"}},
        ],
    }
    r = run_pipeline(parse_config(cfg), runner="local")
    assert r.chunks == 1
    assert (tmp_path / "o" / "reads.fastq").read_bytes() == phix_text


def test_truncated_zstd_is_an_error(zstandard, phix_text, tmp_path, capsys):
    """A download cut short: the first half of the records in complete blocks, the frame
    unfinished. Nothing may be presented as complete."""
    half = phix_text.index(b"\n@", len(phix_text) // 2) + 1
    c = zstandard.ZstdCompressor(write_checksum=True).compressobj()
    first = c.compress(phix_text[:half]) + c.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
    cut = tmp_path / "cut.fq.zst"
    cut.write_bytes(first)
    # the independent truth: zstd itself decodes every block there, and sees no frame end
    dobj = zstandard.ZstdDecompressor().decompressobj()
    assert dobj.decompress(first) == phix_text[:half]
    assert not dobj.eof
    rc = main(["convert", str(cut), str(tmp_path / "out.fq")])
    err = capsys.readouterr().err
    assert not (tmp_path / "out.fq").exists()
    assert rc == 1
    assert_user_error(err, str(cut))


# -- CRAM -------------------------------------------------------------------------------


def _reference(path) -> tuple[str, str]:
    lines = path.read_text().splitlines()
    return lines[0][1:].split()[0], "".join(lines[1:])


def _cram_case(examples, tmp_path, rng: random.Random):
    """Reads drawn from phiX (forward and reverse strand), an unmapped read and a secondary
    alignment; the FASTQ they were drawn as (sequencing orientation), and their SAM."""
    name, ref = _reference(examples / "phix174.fa")
    fastq, sam = [], [f"@HD\tVN:1.6\n@SQ\tSN:{name}\tLN:{len(ref)}\n"]
    for i in range(60):
        n = rng.randint(20, 120)
        pos = rng.randrange(len(ref) - n)
        fwd = ref[pos : pos + n]
        qual = "".join(rng.choice("#+5?@DIJ") for _ in fwd)
        rev = i % 2 == 1
        read, read_qual = (fwd.translate(COMP)[::-1], qual[::-1]) if rev else (fwd, qual)
        fastq.append(f"@r{i}\n{read}\n+\n{read_qual}\n")
        # SAM stores a reverse-strand read as the reference strand, qualities reversed
        sam.append(
            f"r{i}\t{16 if rev else 0}\t{name}\t{pos + 1}\t60\t{n}M\t*\t0\t0\t{fwd}\t{qual}\n"
        )
        if i == 7:  # a secondary alignment of r7: not a read of its own
            sam.append(f"r{i}\t256\t{name}\t1\t0\t{n}M\t*\t0\t0\t*\t*\n")
    fastq.append("@u0\nACGTNACGTA\n+\nIIII#IIII5\n")
    sam.append("u0\t4\t*\t0\t0\t*\t*\t0\t0\tACGTNACGTA\tIIII#IIII5\n")
    ref_fa = tmp_path / "ref.fa"
    ref_fa.write_text(f">{name}\n{ref}\n")
    (tmp_path / "r.sam").write_text("".join(sam))
    return "".join(fastq), ref_fa


@pytest.mark.peers("samtools")
def test_cram_reads_in_sequencing_orientation(examples, tmp_path, capsys, monkeypatch):
    truth, ref_fa = _cram_case(examples, tmp_path, random.Random(11))
    samtools = require_tool("samtools")
    cram = tmp_path / "r.cram"
    subprocess.run(
        [samtools, "view", "-C", "-T", str(ref_fa), "-o", str(cram), str(tmp_path / "r.sam")],
        check=True,
        capture_output=True,
    )
    assert cram.read_bytes()[:4] == b"CRAM"
    # the reference is found through the header's UR: path; never over the network
    monkeypatch.setenv("REF_PATH", str(tmp_path / "no-ref-cache" / "%s"))
    assert main(["convert", str(cram), str(tmp_path / "back.fq")]) == 0
    assert (tmp_path / "back.fq").read_text() == truth
    # the peer agrees (samtools fastq: sequencing orientation, secondary alignments dropped)
    peer = subprocess.run(
        [samtools, "fastq", "--reference", str(ref_fa), str(cram)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert peer == truth
