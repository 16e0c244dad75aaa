"""fastp 0.23.2's report sections beyond the summary — `duplication`, `insert_size`, the
per-mate `kmer_count` and (`-p`/`-P`) `overrepresented_sequences` — equal to the fastp
binary's JSON (`-w 1`) on the same reads, equal to plain-Python transcriptions of fastp's
loops, and the same for any chunking."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seqray.cli.main import main
from seqray.qc import overrep as O
from seqray.qc.overrep import Candidates, OverrepTally
from seqray.qc.report_json import insert_size_section

from ..peers import require_module
from .conftest import (
    debian_file,
    fastp,
    fastp_input,
    needs_fastp,
    seqprep_slices,
    seqray_qc,
    slice_fastq,
    write_fastq,
)

SLICE = 4000
ADAPTER = "AGATCGGAAGAGCACACGTCTGAACTCCAGTCA"
SECTIONS = [f"read{m}_{s}_filtering" for m in (1, 2) for s in ("before", "after")]


# -- reads --------------------------------------------------------------------------------


def synthetic_reads(seed: int, n: int = 3000, length: int = 100) -> list[tuple[str, str, str]]:
    """Random reads with planted overrepresented sequences: an adapter somewhere in a
    quarter of them, a 60 bp contaminant at the start of one in twenty, 30 copies of one
    read, poly-A tails, runs of '.'; lengths 60..length; some low qualities and Ns."""
    rng = random.Random(seed)
    contaminant = "".join(rng.choice("ACGT") for _ in range(60))
    copied = "".join(rng.choice("ACGT") for _ in range(length))
    reads = []
    for i in range(n):
        size = length if rng.random() < 0.7 else rng.randint(60, length)
        s = [rng.choice("ACGT") for _ in range(size)]
        r = rng.random()
        if r < 0.25:
            at = rng.randint(0, size - 20)
            part = ADAPTER[: size - at]
            s[at : at + len(part)] = part
        elif r < 0.30:
            s[:60] = contaminant[:size]
        elif r < 0.31 or i % 100 == 7:
            s = list(copied[:size])
        elif r < 0.36:
            s[-15:] = "A" * 15
        elif r < 0.46:
            at = rng.randint(0, size - 22)
            s[at : at + 22] = "." * 22  # kept by both (not N): a candidate too
        if rng.random() < 0.05:
            s[rng.randrange(size)] = "N"
        q = [chr(33 + (rng.randint(2, 14) if rng.random() < 0.08 else rng.randint(25, 40)))
             for _ in range(size)]  # fmt: skip
        reads.append((f"syn{seed}.{i}", "".join(s), "".join(q)))
    return reads


@pytest.fixture(scope="module")
def seqprep_slice(tmp_path_factory):
    """(seqray input R1, R2 Phred+64; fastp input R1, R2 Phred+33): 4,000 real pairs."""
    d = tmp_path_factory.mktemp("seqprep-sections")
    return seqprep_slices(d, SLICE)


@pytest.fixture(scope="module")
def synthetic_pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("synthetic-sections")
    r1, r2 = synthetic_reads(1), synthetic_reads(2)
    r2 = [(a[0], b[1], b[2]) for a, b in zip(r1, r2)]  # same names
    return write_fastq(d / "s1.fq", r1), write_fastq(d / "s2.fq", r2)


def _fastp_json(tmp: Path, r1: Path, r2: Path | None, args: list[str]) -> dict:
    fastp(tmp, r1, r2, args)
    return json.loads((tmp / "fp.json").read_text())


def _seqray_json(tmp: Path, r1: Path, r2: Path | None, qc: dict, phred=33, run=None) -> dict:
    out = tmp / "sq.json"
    seqray_qc(tmp, r1, r2, {**qc, "json_report": str(out)}, phred, run)
    return json.loads(out.read_text())


def _assert_sections(got: dict, want: dict, keys=("kmer_count", "overrepresented_sequences")):
    for sec in SECTIONS:
        if sec not in want:
            continue
        for key in keys:
            if key in want[sec]:
                assert got[sec][key] == want[sec][key], (sec, key)


# -- against the fastp binary ---------------------------------------------------------------


@needs_fastp
@pytest.mark.integration
def test_real_pairs_equal_fastp(tmp_path, seqprep_slice):
    """Real HiSeq pairs, fastp's defaults (overlap adapter trimming): duplication rate,
    insert size histogram and peak, 5-mer tables before and after filtering."""
    raw, conv = seqprep_slice
    want = _fastp_json(tmp_path / "fastp", conv[0], conv[1], ["-G", "-p"])
    got = _seqray_json(
        tmp_path, raw[0], raw[1], {"trim_poly_g": False, "overrepresentation_analysis": True}, 64
    )
    assert got["duplication"] == want["duplication"]
    assert got["insert_size"] == want["insert_size"]
    assert sum(want["insert_size"]["histogram"]) > 400  # overlaps were found
    _assert_sections(got, want)
    order = [k for k in want if k != "adapter_cutting"]
    assert [k for k in got if k != "seqray"] == order  # fastp's key order


@needs_fastp
@pytest.mark.integration
def test_insert_sizes_with_front_cuts_and_dedup_equal_fastp(tmp_path, seqprep_slice):
    """The insert size adds back what -f/-F and -5 cut off the fronts; duplicates (-D)
    are still measured, as fastp marks them but trims them all the same."""
    raw, conv = seqprep_slice
    args = ["-G", "-f", "3", "-F", "5", "-5", "-D"]
    want = _fastp_json(tmp_path / "fastp", conv[0], conv[1], args)
    qc = {"trim_poly_g": False, "trim_front1": 3, "trim_front2": 5, "cut_front": True}
    got = _seqray_json(tmp_path, raw[0], raw[1], {**qc, "dedup": True}, 64)
    assert sum(want["insert_size"]["histogram"]) > 400
    assert got["insert_size"] == want["insert_size"]
    assert got["duplication"] == want["duplication"]
    _assert_sections(got, want)


@needs_fastp
@pytest.mark.integration
@pytest.mark.parametrize(
    "args,qc",
    [
        (["-P", "1"], {"overrepresentation_sampling": 1}),
        (["-P", "3", "-5", "-3", "-f", "2"],
         {"overrepresentation_sampling": 3, "cut_front": True, "cut_tail": True,
          "trim_front1": 2}),
        ([], {}),
    ],
    ids=["P1", "P3-cuts", "P20"],
)  # fmt: skip
def test_overrepresented_sequences_equal_fastp(tmp_path, synthetic_pair, args, qc):
    """Reads with planted adapters, a contaminant, copies and poly-A: fastp's candidates,
    sampled counts before and after filtering (the P-th passed read), insert sizes of
    pairs that barely overlap, and the duplication rate of the copies."""
    r1, r2 = synthetic_pair
    base = ["-G", "-A", "-p"]
    want = _fastp_json(tmp_path / "fastp", r1, r2, base + args)
    got = _seqray_json(
        tmp_path,
        r1,
        r2,
        {
            "trim_poly_g": False,
            "disable_adapter_trimming": True,
            "overrepresentation_analysis": True,
            **qc,
        },
    )
    assert want["read1_before_filtering"]["overrepresented_sequences"]  # something to find
    if qc.get("overrepresentation_sampling") == 1:
        assert "." * 20 in want["read1_before_filtering"]["overrepresented_sequences"]
    assert want["read1_after_filtering"]["overrepresented_sequences"]
    _assert_sections(got, want)
    assert got["duplication"] == want["duplication"] and want["duplication"]["rate"] > 0
    assert got["insert_size"] == want["insert_size"]


@needs_fastp
@pytest.mark.integration
def test_single_end_duplication_and_kmers_equal_fastp(tmp_path):
    """gasic-examples (real reads with duplicates): the duplication rate fastp estimates
    equals seqray's exact one here, with and without --dedup; no insert_size for SE."""
    member = "usr/share/doc/gasic/examples/reads/SRR059298_subset.fastq.gz"
    raw = slice_fastq(debian_file("gasic-examples", member), tmp_path / "g.fq.gz", SLICE)
    conv = fastp_input(raw, tmp_path / "g.fq")
    for args, qc in (([], {}), (["-D"], {"dedup": True})):
        tmp = tmp_path / ("dedup" if args else "plain")
        want = _fastp_json(tmp / "fastp", conv, None, ["-G", "-A", "-p", *args])
        got = _seqray_json(
            tmp,
            raw,
            None,
            {
                "trim_poly_g": False,
                "disable_adapter_trimming": True,
                "overrepresentation_analysis": True,
                **qc,
            },
        )
        assert want["duplication"]["rate"] > 0.01
        assert got["duplication"] == want["duplication"]
        assert "insert_size" not in got
        _assert_sections(got, want)


# -- invariance and keys ---------------------------------------------------------------------


def test_sections_do_not_depend_on_chunking(tmp_path, synthetic_pair):
    r1, r2 = synthetic_pair
    qc = {"overrepresentation_analysis": True, "overrepresentation_sampling": 7}
    docs = []
    for name, run in (
        ("whole", None),
        ("tiny", {"chunk_bytes": 30000, "block_bases": 5000}),
        ("mid", {"chunk_bytes": 110000, "block_bases": 21000, "num_cpus": 2}),
    ):
        doc = _seqray_json(tmp_path / name, r1, r2, qc, run=run)
        doc.pop("command")
        docs.append(doc)
    assert docs[1] == docs[0]
    assert docs[2] == docs[0]
    # the keys MultiQC's fastp module reads
    doc = docs[0]
    assert isinstance(doc["duplication"]["rate"], float)
    assert {"peak", "unknown", "histogram"} <= set(doc["insert_size"])
    assert len(doc["insert_size"]["histogram"]) == 512
    for sec in SECTIONS:
        assert len(doc[sec]["kmer_count"]) == 1024
        assert isinstance(doc[sec]["overrepresented_sequences"], dict)
    assert doc["read1_before_filtering"]["overrepresented_sequences"]


def test_no_overrepresentation_without_p_and_no_duplication_when_asked(tmp_path, synthetic_pair):
    r1, r2 = synthetic_pair
    doc = _seqray_json(tmp_path, r1, None, {"dont_eval_duplication": True})
    assert "duplication" not in doc and "insert_size" not in doc
    assert doc["read1_before_filtering"]["overrepresented_sequences"] == {}  # as fastp
    assert "kmer_count" in doc["read1_after_filtering"]


def test_cli_flags_and_multiqc(tmp_path, synthetic_pair):
    """`seqray qc -p -P 5 -j -h`: the sections are written and drawn; MultiQC's fastp module
    reads the report (duplication into its general statistics, the overrepresented
    sequences)."""
    r1, r2 = synthetic_pair
    out = tmp_path / "out"
    out.mkdir()
    report = out / "sampleB.json"
    args = ["qc", "-i", str(r1), "-I", str(r2), "-o", str(out / "o1.fq"), "-O"]
    args += [str(out / "o2.fq"), "-p", "-P", "5", "-j", str(report), "--runner", "local"]
    assert main([*args, "-h", str(tmp_path / "qc.html")]) == 0
    doc = json.loads(report.read_text())
    assert doc["read2_after_filtering"]["overrepresented_sequences"]
    assert doc["duplication"]["rate"] > 0 and doc["insert_size"]["unknown"] > 0
    page = (tmp_path / "qc.html").read_text()
    assert page.count("<h3>5-mer counts (") == 4 and "Insert size (peak" in page
    for seq in doc["read1_before_filtering"]["overrepresented_sequences"]:
        assert f"<td>{seq}</td>" in page
    require_module("multiqc")
    mqc = tmp_path / "mqc"
    subprocess.run(
        [sys.executable, "-m", "multiqc", str(report), "-o", str(mqc), "-f", "-q"]
        + ["--no-report", "--no-version-check", "--no-ai"],
        check=True,
        capture_output=True,
    )
    data = json.loads((mqc / "multiqc_data" / "multiqc_data.json").read_text())
    stats = data["report_general_stats_data"]["fastp"]
    (got,) = stats.values()
    assert got["pct_duplication"] == pytest.approx(100 * doc["duplication"]["rate"])
    rows = (mqc / "multiqc_data" / "fastp_top_overrepresented_sequences_table.txt").read_text()
    seqs = {line.split("\t")[0] for line in rows.splitlines()[1:]}
    ours = {q for sec in SECTIONS for q in doc[sec]["overrepresented_sequences"]}
    assert seqs and seqs <= ours  # MultiQC lists the sequences of our report


# -- against plain-Python transcriptions of fastp's loops -------------------------------------


def fastp_candidates(reads: list[str]) -> dict[str, int]:
    """evaluator.cpp computeSeqLen + computeOverRepSeq, transcribed."""
    seqlen = max((len(r) for r in reads[:1000]), default=0)
    counts: dict[str, int] = {}
    bases = 0
    for r in reads:
        if bases >= O.BASE_LIMIT:
            break
        bases += len(r)
        for step in (10, 20, 40, 100, min(150, seqlen - 2)):
            for i in range(len(r) - step):
                counts[r[i : i + step]] = counts.get(r[i : i + step], 0) + 1
    hot = {}
    for seq, c in sorted(counts.items()):
        n = len(seq)
        if (
            (n >= seqlen - 1 and c >= 3)
            or (seqlen - 1 > n >= 100 and c >= 5)
            or (100 > n >= 40 and n < seqlen - 1 and c >= 20)
            or (40 > n >= 20 and n < seqlen - 1 and c >= 100)
            or (20 > n >= 10 and n < seqlen - 1 and c >= 500)
        ):
            hot[seq] = c
    for seq in sorted(hot):
        for seq2 in list(hot):
            if seq2 != seq and seq in seq2 and hot[seq] // hot[seq2] < 10:
                del hot[seq]
                break
    return hot


def fastp_stat_counts(reads: list[str], hot: dict[str, int], seqlen: int, p: int) -> dict:
    """stats.cpp statRead's overrepresentation loop over every p-th read, transcribed."""
    counts = dict.fromkeys(hot, 0)
    for k, r in enumerate(reads):
        if k % p:
            continue
        for step in (10, 20, 40, 100, min(150, seqlen - 2)):
            i = 0
            while i < len(r) - step:
                if r[i : i + step] in counts:
                    counts[r[i : i + step]] += 1
                    i += step
                i += 1
    return counts


def _arrays(reads: list[str]):
    values = np.frombuffer("".join(reads).encode(), np.uint8)
    offsets = np.zeros(len(reads) + 1, np.int64)
    np.cumsum([len(r) for r in reads], out=offsets[1:])
    return values, offsets


@pytest.mark.parametrize("seed", [1, 5])
def test_candidates_and_counts_equal_fastp_loops(seed):
    reads = [s for _, s, _ in synthetic_reads(seed, n=2500, length=90)]
    values, offsets = _arrays(reads)
    batches = [(values[offsets[a] : offsets[b]], offsets[a : b + 1] - offsets[a])
               for a, b in ((0, 700), (700, 701), (701, 2500))]  # fmt: skip
    v, o, seqlen = O.first_reads(batches)
    assert seqlen == max(len(r) for r in reads[:1000])
    hot = O.find_candidates(v, o, seqlen)
    assert hot == fastp_candidates(reads) and len(hot) > 3
    cands = Candidates(list(hot), seqlen)
    for p in (1, 4):
        want = fastp_stat_counts(reads, hot, seqlen, p)
        rows = np.flatnonzero(np.arange(len(reads)) % p == 0)
        _, hit = cands.hits(values, offsets, rows)
        got = np.bincount(hit, minlength=len(cands))
        assert dict(zip(cands.seqs, got.tolist())) == want
        # after filtering: ranks within batches, the sampled residue picked per batch
        tally = OverrepTally()
        for a, b in ((0, 333), (333, 1000), (1000, 2500)):
            sub = reads[a:b]
            sv, so = _arrays(sub)
            part = OverrepTally()
            rank, hit = cands.hits(sv, so, np.arange(len(sub)))
            part.add_after(("f", a), len(sub), rank, hit, p, len(cands))
            tally += part
        assert tally.after_counts(["f"], len(cands), p).tolist() == got.tolist()


def test_base_limit_takes_the_read_that_crosses_it():
    reads = ["A" * 151] * 10001
    v, o, seqlen = O.first_reads([_arrays(reads)])
    assert len(o) - 1 == 10000 and seqlen == 151
    v, o, _ = O.first_reads([_arrays(["A" * 150] * 10100)])
    assert len(o) - 1 == 10067  # 10066 × 150 < 1,510,000 ≤ 10067 × 150


def test_insert_size_section_peak_is_the_first_maximum():
    hist = np.zeros(513, np.int64)
    hist[[120, 150]] = 7
    hist[512] = 99
    sec = insert_size_section(hist)
    assert (sec["peak"], sec["unknown"], len(sec["histogram"])) == (120, 99, 512)
    assert insert_size_section(np.zeros(513, np.int64))["peak"] == 0


def test_tally_json_round_trip():
    t = OverrepTally()
    t.add_before(np.array([0, 2, 2]), 3)
    t.add_after(("a", 0), 5, np.array([0, 1, 4]), np.array([1, 1, 2]), 2, 3)
    back = OverrepTally.from_json(json.loads(json.dumps(t.to_json())))
    assert back.before.tolist() == [1, 0, 2]
    assert back.after_counts(["a"], 3, 2).tolist() == t.after_counts(["a"], 3, 2).tolist()
    assert t.after_counts(["a"], 3, 2).tolist() == [0, 1, 1]  # ranks 0 and 4 sampled
