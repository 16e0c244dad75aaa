"""UMI preprocessing (-U --umi_loc --umi_len --umi_prefix --umi_skip) against fastp 0.23.2:
the same reads and names out, for every UMI location, on real pairs whose names are
rewritten to hold Illumina indexes of every shape fastp's index parsing meets."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import pytest

from seqray.errors import ConfigError
from seqray.pipeline.config import parse_config

from ..debdata import debian_file
from .conftest import check_identity, fastp, needs_fastp, read_fastq, seqray_qc, write_fastq

PAIRS = 3000
MEMBER = "usr/share/doc/seqprep/examples/data/multiplex_bad_contam_{}.fq.gz"


def _name(i: int, seq: str) -> str:
    """Headers of the shapes fastp's firstIndex/lastIndex parse differently: dual and
    single indexes after a comment, an index in the name itself, none, too short."""
    idx = seq[:8][::-1]
    shapes = [
        f"HWI-ST593:1:1101:{i}:2109 1:N:0:{idx}+{seq[8:14]}",
        f"HWI-ST593:1:1101:{i}:2109 1:N:0:{idx}",
        f"M{i}:7:{idx}",  # no comment: the tag goes at the end
        f"read{i} extra words",  # no ':' at all
        f"r{i % 10}",  # shorter than fastp's 5 characters with '@'
        f"HWI:{i}:x+{idx}:",  # ':' last: the index search starts before it
    ]
    return shapes[i % len(shapes)]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> tuple[Path, Path]:
    """Real HiSeq pairs (Phred+33 copies), renamed with indexes."""
    d = tmp_path_factory.mktemp("umi")
    mates = []
    for mate in (1, 2):
        with gzip.open(debian_file("seqprep-data", MEMBER.format(mate)), "rt") as f:
            lines = list(itertools.islice(f, 4 * PAIRS))
        mates.append([(lines[4 * i + 1].strip(), lines[4 * i + 3].strip()) for i in range(PAIRS)])
    out = []
    for mate, reads in enumerate(mates, 1):
        recs = []
        for i, (s, q) in enumerate(reads):
            q = "".join(chr(ord(c) - 31) for c in q)  # Phred+64 → +33
            if i % 97 == 5:
                s, q = s[:3], q[:3]  # shorter than the UMI: fastp keeps one base
            recs.append((_name(i, mates[0][i][0]), s, q))  # the mates' names agree
        out.append(write_fastq(d / f"r{mate}.fq", recs))
    return out[0], out[1]


CASES = [
    ("read1", ["--umi_loc", "read1", "--umi_len", "8"], {"umi_loc": "read1", "umi_len": 8}),
    (
        "read2_skip_prefix",
        ["--umi_loc", "read2", "--umi_len", "6", "--umi_skip", "2", "--umi_prefix", "UMI"],
        {"umi_loc": "read2", "umi_len": 6, "umi_skip": 2, "umi_prefix": "UMI"},
    ),
    (
        "per_read",
        ["--umi_loc", "per_read", "--umi_len", "5", "--umi_skip", "1"],
        {"umi_loc": "per_read", "umi_len": 5, "umi_skip": 1},
    ),
    ("index1", ["--umi_loc", "index1"], {"umi_loc": "index1"}),
    (
        "index2",
        ["--umi_loc", "index2", "--umi_prefix", "u9"],
        {"umi_loc": "index2", "umi_prefix": "u9"},
    ),
    ("per_index", ["--umi_loc", "per_index"], {"umi_loc": "per_index"}),
]


@needs_fastp
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_pairs_equal_fastp(tmp_path, pairs, case):
    _, args, umi = case
    qc = {"umi": True, **umi, "trim_poly_g": False}
    want, want1, want2 = fastp(tmp_path / "fastp", pairs[0], pairs[1], ["-U", "-G", *args])
    report, got1, got2 = seqray_qc(tmp_path, pairs[0], pairs[1], qc)
    check_identity(report)
    assert {k: report[k] for k in want} == want
    assert got1 == want1 and got2 == want2
    names = {n for n, _, _ in read_fastq(pairs[0])}
    tagged = sum(n not in names for n, _, _ in got1)
    assert tagged > len(got1) // 2  # most names carry a UMI (not a vacuous comparison)


@needs_fastp
@pytest.mark.parametrize("loc", ["read1", "index1", "per_index", "per_read"])
def test_single_reads_equal_fastp(tmp_path, pairs, loc):
    args = ["--umi_loc", loc] + (["--umi_len", "7"] if "read" in loc else [])
    qc = {"umi": True, "umi_loc": loc, "trim_poly_g": False}
    if "read" in loc:
        qc["umi_len"] = 7
    want, want1, _ = fastp(tmp_path / "fastp", pairs[0], None, ["-U", "-G", *args])
    report, got1, _ = seqray_qc(tmp_path, pairs[0], None, qc)
    assert {k: report[k] for k in want} == want
    assert got1 == want1


def test_the_same_reads_for_any_chunking(tmp_path, pairs):
    qc = {"umi": True, "umi_loc": "per_read", "umi_len": 6, "umi_prefix": "X"}
    whole = seqray_qc(tmp_path / "a", pairs[0], pairs[1], qc)
    small = seqray_qc(tmp_path / "b", pairs[0], pairs[1], qc, run={"chunk_bytes": 40_000})
    assert whole[1:] == small[1:]


@pytest.mark.parametrize(
    "umi, message",
    [
        ({}, "umi needs umi_loc"),
        ({"umi_loc": "read1"}, "umi_len between 1 and 100"),
        ({"umi_loc": "read1", "umi_len": 101}, "umi_len between 1 and 100"),
        ({"umi_loc": "index1", "umi_prefix": "a_b"}, "umi_prefix"),
        ({"umi_loc": "index1", "umi_prefix": "abcdefghij"}, "umi_prefix"),
        ({"umi_loc": "middle"}, "umi_loc"),
    ],
)
def test_bad_umi_options_are_refused(tmp_path, umi, message):
    cfg = {
        "output": str(tmp_path / "o"),
        "stages": [{"read": {"paths": ["x.fq"]}}, {"qc": {"umi": True, **umi}}],
    }
    with pytest.raises(ConfigError, match=message):
        parse_config(cfg)


def test_read2_umi_needs_pairs(tmp_path, pairs):
    with pytest.raises(ConfigError, match="needs paired reads"):
        seqray_qc(tmp_path, pairs[0], None, {"umi": True, "umi_loc": "read2", "umi_len": 4})
