"""Paired reading (one row per pair, mismatches located) and the Ray Data readers."""

from __future__ import annotations

import gzip

import pyarrow as pa
import pytest

import seqray
from seqray.cli.common import iter_chunk_tables
from seqray.errors import FormatError, PairingError
from seqray.io.formats.text import format_records
from seqray.io.parse import ReadOptions
from seqray.io.sources import plan_chunks

from ..conftest import write_random_fastq, write_random_pairs


def read_pairs(r1, r2, **kw) -> pa.Table:
    chunks, _ = plan_chunks(str(r1), str(r2))
    return pa.concat_tables([t for _, t in iter_chunk_tables(chunks, ReadOptions(**kw))])


def test_pairs_one_row_per_pair(examples):
    t = read_pairs(examples / "phix_R1.fastq.gz", examples / "phix_R2.fastq.gz", block_bases=10_000)
    assert len(t) == 2000
    assert t.column("record").to_pylist() == list(range(2000))
    for mate, col in (("R1", False), ("R2", True)):
        text = gzip.decompress((examples / f"phix_{mate}.fastq.gz").read_bytes())
        assert format_records(t, fastq=True, mate=col) == text


def test_mate_name_mismatch_names_both_files(tmp_path):
    r1, r2 = tmp_path / "a_1.fq", tmp_path / "a_2.fq"
    r1.write_bytes(b"@p1/1\nAC\n+\nII\n@p2/1 x\nAC\n+\nII\n@p3/1\nA\n+\nI\n")
    r2.write_bytes(b"@p1/2\nGT\n+\nII\n@p2/2 y\nGT\n+\nII\n@q3/2\nA\n+\nI\n")
    with pytest.raises(PairingError) as e:
        read_pairs(r1, r2)
    msg = str(e.value)
    assert e.value.record == 3 and str(r1) in msg and str(r2) in msg
    assert "'p3/1'" in msg and "'q3/2'" in msg


def test_mate_count_mismatch(tmp_path):
    r1, r2 = tmp_path / "a_1.fq", tmp_path / "a_2.fq"
    r1.write_bytes(b"@p1\nAC\n+\nII\n@p2\nAC\n+\nII\n")
    r2.write_bytes(b"@p1\nGT\n+\nII\n")
    with pytest.raises(PairingError, match="different numbers of records") as e:
        read_pairs(r1, r2)
    assert e.value.record == 2 and "a_2.fq ends first" in str(e.value)


@pytest.mark.integration
def test_ray_datasource_equals_local_parse(tmp_path, ray_cluster, examples):
    fq = write_random_fastq(tmp_path / "a.fq", 3000)
    ds = seqray.read_fastq(str(fq), chunk_bytes=20_000)
    assert ds.schema().names == ["name", "seq", "qual", "source", "record"]
    assert ds.materialize().num_blocks() > 5  # one read task per chunk at least
    got = pa.concat_tables([ray_cluster.get(r) for r in ds.to_arrow_refs()]).sort_by("record")
    chunks, _ = plan_chunks(str(fq), chunk_bytes=10**9)
    want = pa.concat_tables([t for _, t in iter_chunk_tables(chunks, ReadOptions())])
    for col in ("name", "seq", "qual", "record"):
        assert got.column(col).to_pylist() == want.column(col).to_pylist()
    pairs = seqray.read_fastq(
        str(examples / "phix_R1.fastq.gz"), mate_paths=str(examples / "phix_R2.fastq.gz")
    )
    assert pairs.count() == 2000
    assert "seq2" in pairs.schema().names
    r1, r2 = write_random_pairs(tmp_path / "b_1.fq", tmp_path / "b_2.fq", 3000)
    split = seqray.read_fastq(str(r1), mate_paths=str(r2), chunk_bytes=20_000)
    assert split.materialize().num_blocks() > 5
    got = pa.concat_tables([ray_cluster.get(r) for r in split.to_arrow_refs()]).sort_by("record")
    want = read_pairs(r1, r2)
    for col in ("name", "seq", "qual", "name2", "seq2", "qual2", "record"):
        assert got.column(col).to_pylist() == want.column(col).to_pylist()
    fasta = seqray.read_fasta(str(examples / "phix174.fa")).take_all()
    assert len(fasta) == 1 and len(fasta[0]["seq"]) == 5386 and fasta[0]["qual"] is None


@pytest.mark.parametrize("extra", [b"@p3\nGT\n+\nII\n", b"@p3\nGT\n+\nI"])
def test_longer_r2_is_an_error_even_at_a_batch_boundary(tmp_path, extra):
    r1, r2 = tmp_path / "a_1.fq", tmp_path / "a_2.fq"
    r1.write_bytes(b"@p1\nAC\n+\nII\n@p2\nAC\n+\nII\n")
    r2.write_bytes(b"@p1\nGT\n+\nII\n@p2\nGT\n+\nII\n" + extra)
    with pytest.raises((PairingError, FormatError)) as e:
        read_pairs(r1, r2, block_bases=2)
    assert "a_2.fq" in str(e.value) and e.value.record == 3


def test_each_mate_keeps_its_own_phred_offset(tmp_path):
    r1, r2 = tmp_path / "a_1.fq", tmp_path / "a_2.fq"
    r1.write_bytes(b"@p1\nACGT\n+\nhhhh\n")  # only Phred+64 can explain 'h' without lower
    r2.write_bytes(b"@p1\nACGT\n+\nJJ#J\n")  # '#' is below '@': Phred+33
    t = read_pairs(r1, r2)
    assert t.column("qual").to_pylist() == [b"IIII"]
    assert t.column("qual2").to_pylist() == [b"JJ#J"]
