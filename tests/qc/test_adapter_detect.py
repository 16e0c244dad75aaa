"""Single-end adapter detection (fastp 0.23.2's default): the dominant-path tree and the
seed rules on hand-made cases, then parity with the fastp binary on simulated reads (a
known adapter, an adapter only the assembly finds, a lone repeated 10-mer, no adapter)
and real HiSeq reads: the same adapter detected, the same reads passed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seqray.qc import adapter_detect as ad
from seqray.qc.stage import QcConfig, QcStage

from .conftest import (
    check_identity,
    fastp,
    needs_fastp,
    read_fastq,
    seqprep_slices,
    seqray_qc,
    write_fastq,
)

TRUSEQ1 = "AGATCGGAAGAGCACACGTCTGAACTCCAGTCA"
TRUSEQ2 = "AGATCGGAAGAGCGTCGTGTAGGGAAAGAGTGT"
# TruSeq read 1 read-through: adapter, index, P7 (longer than any read's tail)
TRUSEQ_TAIL = TRUSEQ1 + "CATCACGATCTCGTATGCCGTCTTCTGCTTGAAAAAAAAAA"
UNKNOWN = (
    "GTTACGGATCCATGCAAGTCGGTCAACCTGAGTTCGATAGCAGGCTTACGT"
    "TGACCATGAGCTAGGTACCAATCGTGCTAGCTTGACGCATAAGCTTAGCC"
)


# -- the tree ---------------------------------------------------------------------------


def test_tree_follows_the_dominant_branch_until_it_splits():
    seqs = ["AAAATTTT", "AAAATTTTGGGG", "AAAATTTTGGGGCCCC", "AAAATTTTGGGGCCAA"] * 100
    assert ad.tree_path([*seqs, "AAAATTTTGGGACCCC"]) == ("AAAATTTTGGGGCC", False)


def test_tree_stops_at_a_leaf_below_fifty_sequences():
    assert ad.tree_path(["ACGTACGT"] * 49) == ("", True)
    assert ad.tree_path(["ACGTACGT"] * 50) == ("ACGTACGT", True)
    # 60 go on for four bases, 45 of them for eight: the walk ends at a leaf after four
    assert ad.tree_path(["ACGT"] * 15 + ["ACGTTTTT"] * 45) == ("ACGT", True)


def test_tree_needs_ninety_five_percent():
    assert ad.tree_path(["CA"] * 95 + ["CT"] * 5) == ("CA", True)
    assert ad.tree_path(["CA"] * 94 + ["CT"] * 6) == ("C", False)


def test_tree_sequences_stop_at_n():
    # the Ns stop 40 of 100 sequences: 60 go on, and all of them take G
    assert ad.tree_path(["ACNT"] * 40 + ["ACGT"] * 60) == ("ACGT", True)
    # the sequences ending at a node do not count against its children
    assert ad.tree_path(["AC"] * 60 + ["ACG"] * 55 + ["ACT"] * 2) == ("ACG", True)


def test_tree_reads_backwards():
    data = np.frombuffer(b"TTTACG" * 60, np.uint8)
    starts = np.arange(60, dtype=np.int64) * 6 + 5  # each record's last base
    lengths = np.full(60, 6, np.int64)
    assert ad.dominant_path(data, starts, lengths, step=-1) == ("GCATTT", True)


# -- seeds, reads, table ----------------------------------------------------------------


def test_kmer_codes_are_fastps():
    assert ad.kmer_code("AAAAAAAAAT") == 1
    assert ad.kmer_seq(ad.kmer_code("ATCGGCTAAC")) == "ATCGGCTAAC"
    assert ad.kmer_code("GGGGAAAAAA") >> 12 == 0xFF


def test_counting_skips_the_head_the_tail_and_n():
    seq = "A" * 20 + "ACGTACGTAC" + "T"  # one 10-mer at 20, then the shifted last base
    reads = [seq, seq.replace("G", "N"), seq[:-1]]  # with an N; too short for shift 1
    values = np.frombuffer("".join(reads).encode(), np.uint8)
    offsets = np.cumsum([0] + [len(r) for r in reads]).astype(np.int64)
    counts = ad.count_kmers(values, offsets, 1)
    assert counts.sum() == 1 and counts[ad.kmer_code("ACGTACGTAC")] == 1
    assert ad.count_kmers(values, offsets, 2).sum() == 0


def test_seeds_order_and_thresholds():
    counts = np.zeros(1 << 20, np.uint32)
    a, b, c = ad.kmer_code("ACGTTGCAAC"), ad.kmer_code("TGCAACGTAC"), ad.kmer_code("ACACACACAC")
    counts[[a, b]] = 1000  # a tie: the larger code first
    counts[ad.kmer_code("AAAAAAAAAA")] = 10**6  # low complexity: never a seed
    assert ad.seeds(counts) == sorted([a, b], reverse=True)
    counts[c] = 5000  # top of the list, but changes base only... 9 times: a seed
    assert ad.seeds(counts)[0] == c
    counts[:] = 1  # nothing 20× over the mean
    counts[a] = 15
    assert ad.seeds(counts) == []


def test_first_reads_stop_at_the_base_limit():
    n = 2000
    offsets = np.arange(n + 1, dtype=np.int64) * 151 * 200  # reads of 30,200 bases
    values = np.zeros(int(offsets[-1]), np.uint8)
    _, offs = ad.first_reads([(values, offsets)])
    # 151 × 256 Ki bases: the read that passes the limit is taken
    assert len(offs) - 1 == -(-ad.BASE_LIMIT // (151 * 200))


def test_too_few_reads_detect_nothing():
    seqs = [TRUSEQ_TAIL[:60]] * 9999
    values = np.frombuffer("".join(seqs).encode(), np.uint8)
    offsets = np.arange(len(seqs) + 1, dtype=np.int64) * 60
    assert ad.detect_adapter(values, offsets) == ad.DetectedAdapter("", reads=9999)


def test_known_table():
    table = ad.known_adapters()
    assert [s for s, _ in table] == sorted(s for s, _ in table)
    assert all(set(s) <= set("ACGT") for s, _ in table)
    assert ad.match_known(TRUSEQ_TAIL[:60])[0] == TRUSEQ1
    assert ad.match_known(TRUSEQ2 + "A")[0] == TRUSEQ2
    assert ad.match_known(TRUSEQ1[:-1]) is None  # the known one must fit
    assert ad.match_known("ACGT", [("AC", "x"), ("A", "y")]) == ("AC", "x")


def test_config_auto_and_pinned():
    assert QcConfig().adapter_sequence == "auto"
    assert QcConfig(adapter_sequence="AUTO", adapter_sequence_r2="auto").adapter_sequence_r2 is None
    assert QcStage(QcConfig(adapter_sequence=TRUSEQ1)).adapter1 == TRUSEQ1
    assert QcStage(QcConfig(adapter_sequence=None)).adapter1 == ""
    assert QcStage(QcConfig(disable_adapter_trimming=True)).adapter1 == ""
    stage = QcStage(QcConfig())
    assert stage.adapter1 is None and stage.needs_prepare()


# -- parity with fastp ------------------------------------------------------------------


def simulate(path: Path, n=12000, length=100, genome=3_000_000, tail=None, frac=0.3,
             dimer=None, seed=1) -> Path:  # fmt: skip
    """Reads of a random genome with 0.3 % substitutions; with `tail`, a `frac` of them
    have it after an insert of 20..length-5 bases; with `dimer`, 5 % are that sequence."""
    rng = np.random.default_rng(seed)
    acgt = np.frombuffer(b"ACGT", np.uint8)
    ref = acgt[rng.integers(0, 4, genome)]
    recs = []
    for i in range(n):
        p = int(rng.integers(0, genome - length))
        s = ref[p : p + length].copy()
        if tail is not None and rng.random() < frac:
            ins = int(rng.integers(20, length - 5))
            t = np.frombuffer(tail.encode(), np.uint8)[: length - ins]
            s[ins : ins + len(t)] = t  # and the genome after it
        if dimer is not None and rng.random() < 0.05:
            s = np.frombuffer(dimer[:length].encode(), np.uint8).copy()
        err = rng.random(length) < 0.003
        s[err] = acgt[rng.integers(0, 4, int(err.sum()))]
        q = np.frombuffer(b"5?@ABCDEFGHI", np.uint8)[rng.integers(0, 12, length)]
        recs.append((f"r{i}", s.tobytes().decode(), q.tobytes().decode()))
    return write_fastq(path, recs)


def _fastp_adapter(tmp: Path) -> str:
    doc = json.loads((tmp / "fastp" / "fp.json").read_text())
    section = doc.get("adapter_cutting")
    return "" if section is None else section["read1_adapter_sequence"]


def _parity(tmp: Path, seqray_in: Path, fastp_in: Path, args=(), qc=None, phred=33) -> str:
    """fastp and seqray with single-end defaults (adapter detection on): the same adapter,
    counts (with --dedup fastp counts a duplicate under its filter reason too: not
    compared, see docs/qc.md) and passed reads; returns the adapter."""
    want, want1, _ = fastp(tmp / "fastp", fastp_in, None, ["-G", *args])
    qc = {"trim_poly_g": False, "json_report": str(tmp / "sq.json"), **(qc or {})}
    report, got1, _ = seqray_qc(tmp, seqray_in, None, qc, phred)
    check_identity(report)
    adapter = _fastp_adapter(tmp)
    if "adapter_detected" in report:
        assert (report["adapter_detected"]["sequence"] or "") == adapter
    if not qc.get("dedup"):
        assert {k: report[k] for k in want} == want
    assert got1 == want1
    # the JSON's adapter_cutting section (fastp's: only when there is an adapter)
    ours = json.loads((tmp / "sq.json").read_text()).get("adapter_cutting")
    theirs = json.loads((tmp / "fastp" / "fp.json").read_text()).get("adapter_cutting")
    assert ours == theirs
    return adapter


@needs_fastp
@pytest.mark.integration
@pytest.mark.parametrize(
    "case, sim, expected",
    [
        ("known", {"tail": TRUSEQ_TAIL}, TRUSEQ1),  # the table's sequence
        ("assembled", {"dimer": UNKNOWN}, UNKNOWN[:60]),  # no known one: as assembled
        ("lone-10-mer", {"genome": 200_000}, None),  # a repeat: the seed alone (below)
        ("none", {}, ""),
    ],
)
def test_parity_simulated(tmp_path, case, sim, expected):
    reads = simulate(tmp_path / "reads.fq", **sim)
    got = _parity(tmp_path, reads, reads)
    if expected is None:  # too few copies to grow either way: fastp takes the 10-mer
        assert len(got) == ad.KEY_LEN
    else:
        assert got == expected


@needs_fastp
@pytest.mark.integration
def test_parity_trim_tail_shifts_the_scan(tmp_path):
    reads = simulate(tmp_path / "reads.fq", tail=TRUSEQ_TAIL, seed=5)
    got = _parity(tmp_path, reads, reads, ["-t", "3", "-x"], {"trim_tail1": 3, "trim_poly_x": True})
    assert got == TRUSEQ1


@needs_fastp
@pytest.mark.integration
def test_parity_real_reads(tmp_path):
    """seqprep-data's read 2 file, as single-end reads: TruSeq read 2 read-through."""
    (_, raw2), (_, conv2) = seqprep_slices(tmp_path, 30000)
    assert _parity(tmp_path / "r2", raw2, conv2, phred=64) == TRUSEQ2


@needs_fastp
@pytest.mark.integration
def test_table_difference_on_real_reads(tmp_path):
    """seqprep-data's read 1 file: the assembled sequence starts with the end of the P7
    adapter, which seqray's table lists (FastQC's DpnII Gex Adapter 2.01, via atropos) and
    fastp's does not; fastp finds no adapter (docs/qc.md, differences)."""
    (raw1, _), (conv1, _) = seqprep_slices(tmp_path, 12000)
    fastp(tmp_path / "fastp", conv1, None, ["-G"])
    assert _fastp_adapter(tmp_path) == ""
    report, _, _ = seqray_qc(tmp_path, raw1, None, {"trim_poly_g": False}, 64)
    assert report["adapter_detected"]["sequence"] == "TCGTATGCCGTCTTCTGCTTG"


@needs_fastp
@pytest.mark.integration
@pytest.mark.parametrize("dedup", [False, True])
def test_parity_given_adapter_and_dimers(tmp_path, dedup):
    """-a given: no detection; adapter counts include dimers found before the read starts
    (fastp counts the adapter's first bases) and, with -D, the duplicates (fastp trims
    them too)."""
    reads = simulate(tmp_path / "reads.fq", tail=TRUSEQ_TAIL, frac=0.5, seed=7)
    recs = read_fastq(reads)
    dimers = [
        (f"d{i}", TRUSEQ_TAIL[k:] + "ACGT" * 20, "I" * 100) for i, k in enumerate([1, 2, 3] * 40)
    ]
    recs = recs[:6000] + [(n, s[:100], q) for n, s, q in dimers] + recs[6000:] + recs[:50]
    reads = write_fastq(tmp_path / "mixed.fq", recs)
    args, qc = (
        ["-a", TRUSEQ1[:20], "-l", "0"],
        {"adapter_sequence": TRUSEQ1[:20], "length_required": 0},
    )
    if dedup:
        args, qc = [*args, "-D"], {**qc, "dedup": True}
    report, fp = tmp_path / "sq.json", tmp_path / "fastp" / "fp.json"
    assert _parity(tmp_path, reads, reads, args, qc) == TRUSEQ1[:20]
    assert "adapter_detected" not in json.loads(report.read_text())["seqray"]
    counts = json.loads(fp.read_text())["adapter_cutting"]["read1_adapter_counts"]
    assert TRUSEQ1[:17] in counts  # a dimer that starts 3 bases before the read
