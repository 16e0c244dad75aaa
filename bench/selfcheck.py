"""Self-check of the benchmarks' comparisons: each must accept results that agree and refuse
results that differ, so a benchmark cannot report a time by accident.

    python bench/selfcheck.py          # every compare function on made-up inputs (seconds)
    python bench/selfcheck.py --e2e    # also every script on --small input: exit 0 with a
                                       # ratio; with --perturb PEER: exit 3, nothing on stdout

Not part of the test suite (benchmarks stay out of it): run it after changing bench/.
Expected values are written by hand here, never taken from a tool's output.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

import _harness as H
import numpy as np

HERE = Path(__file__).resolve().parent
CHECKS: list[Callable[[Path], None]] = []


def check(fn: Callable[[Path], None]) -> Callable[[Path], None]:
    CHECKS.append(fn)
    return fn


def refused(fn: Callable[[], object], *words: str) -> None:
    """fn() must raise Disagreement whose message holds every word."""
    try:
        fn()
    except H.Disagreement as e:
        missing = [w for w in words if w not in str(e)]
        assert not missing, f"message {str(e)!r} lacks {missing}"
        return
    raise AssertionError("no Disagreement raised")


def fastq(path: Path, records: list[tuple[str, str, str]], plus: str = "") -> Path:
    text = "".join(f"@{n}\n{s}\n+{plus}\n{q}\n" for n, s, q in records)
    path.write_bytes(gzip.compress(text.encode()) if path.suffix == ".gz" else text.encode())
    return path


def random_records(n: int, seed: int, prefix: str = "r") -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        length = rng.randint(1, 300)
        seq = "".join(rng.choices("ACGTN", k=length))
        out.append((f"{prefix}{i} x", seq, "".join(rng.choices("#+5?FIJ", k=length))))
    return out


# ---- the harness's digests ---------------------------------------------------------------


def _lines(lines: list[str]) -> H.Multiset:
    return H.lines_digest(io.BytesIO("".join(x + "\n" for x in lines).encode()), "lines")


@check
def lines_digest_is_order_free_and_exact(tmp: Path) -> None:
    rng = random.Random(1)
    lines = [f"{''.join(rng.choices('ACGT', k=21))}\t{rng.randint(1, 999)}" for _ in range(5000)]
    base = _lines(lines)
    shuffled = lines[:]
    rng.shuffle(shuffled)
    assert _lines(shuffled) == base
    assert _lines([x.replace("\t", " ") for x in lines]) == base  # jellyfish `dump -c` spacing
    assert H.lines_digest(io.BytesIO("\n".join(lines).encode()), "lines") == base  # no last \n
    kmer0, c0 = lines[0].split("\t")
    kmer1, c1 = lines[1].split("\t")
    assert c0 != c1
    variants = {
        "a count + 1": [f"{kmer0}\t{int(c0) + 1}", *lines[1:]],
        "two counts swapped": [f"{kmer0}\t{c1}", f"{kmer1}\t{c0}", *lines[2:]],
        "a line dropped": lines[1:],
        "a line twice": [lines[0], *lines],
        "a base changed": [
            ("T" if kmer0[5] != "T" else "A").join((kmer0[:5], kmer0[6:])) + "\t" + c0,
            *lines[1:],
        ],  # fmt: skip
    }
    for name, v in variants.items():
        assert _lines(v) != base, name


@check
def arrow_strings_digest_equals_text_digest(tmp: Path) -> None:
    import pyarrow as pa

    lines = ["ACGTA\t3", "TTTTT\t10", "", "GATTACA\t1"]
    arrays = [pa.array(lines[:1]), pa.array(lines[1:], pa.large_string()).slice(0)]
    assert H.strings_digest(arrays, "lines") == _lines(lines)
    assert H.strings_digest([pa.array(lines).slice(1)], "lines") == _lines(lines[1:])


@check
def line_chunks_cross_block_boundaries(tmp: Path) -> None:
    recs = random_records(30000, 2)  # ~9 MB: several 2 MiB blocks
    one = H.fastq_digest([fastq(tmp / "a.fq", recs)])
    rng = random.Random(3)
    rng.shuffle(recs)
    assert H.fastq_digest([fastq(tmp / "b.fq.gz", recs, plus="name on the plus line")]) == one
    assert one.count == 30000


@check
def fastq_digest_compares_name_sequence_quality(tmp: Path) -> None:
    recs = random_records(200, 4)
    base = H.fastq_digest([fastq(tmp / "a.fq", recs)])
    n, s, q = recs[7]
    for name, changed in {
        "quality": (n, s, q[:-1] + ("#" if q[-1] != "#" else "J")),
        "sequence": (n, s[:-1] + ("A" if s[-1] != "A" else "C"), q),
        "name": (n + "x", s, q),
        "comment": (n.replace(" x", " y"), s, q),
    }.items():
        other = recs[:7] + [changed] + recs[8:]
        assert H.fastq_digest([fastq(tmp / "b.fq", other)]) != base, name


@check
def truncated_fastq_is_refused(tmp: Path) -> None:
    path = fastq(tmp / "a.fq", random_records(5, 5))
    path.write_bytes(path.read_bytes().rsplit(b"\n", 3)[0] + b"\n")
    refused(lambda: H.fastq_digest([path]), "not whole FASTQ records")


@check
def pairs_digest_keeps_mates_together(tmp: Path) -> None:
    r1, r2 = random_records(500, 6, "p"), random_records(500, 7, "p")
    base = H.fastq_digest([fastq(tmp / "1.fq", r1), fastq(tmp / "2.fq", r2)])
    order = list(range(500))
    random.Random(8).shuffle(order)
    together = [
        fastq(tmp / "3.fq", [r1[i] for i in order]),
        fastq(tmp / "4.fq", [r2[i] for i in order]),
    ]
    assert H.fastq_digest(together) == base
    apart = [fastq(tmp / "5.fq", r1), fastq(tmp / "6.fq", [r2[i] for i in order])]
    assert H.fastq_digest(apart) != base
    short = [fastq(tmp / "7.fq", r1), fastq(tmp / "8.fq", r2[:-1])]
    refused(lambda: H.fastq_digest(short), "different numbers of reads")


@check
def refusal_exits_3_without_output(tmp: Path) -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import _harness as H\n"
        "def main():\n"
        "    H.expect_equal('passed reads', {'fastp': 10, 'seqray': 11})\n"
        "    print('| ratio | 2.00× |')\n"
        "H.refuse_on_disagreement(main)\n"
    )
    p = subprocess.run([sys.executable, "-c", code, str(HERE)], capture_output=True, text=True)
    assert p.returncode == H.EXIT_DISAGREE, p
    assert p.stdout == "", p.stdout
    assert p.stderr.strip() == (
        "DISAGREE: passed reads differ: fastp: 10; seqray: 11. No times reported."
    ), p.stderr


# ---- each script's compare function ------------------------------------------------------


def _qc_dir(d: Path, fastp_counts: dict, seqray_counts: dict, fp_recs, sr_recs) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "fastp.json").write_text(json.dumps({"filtering_result": fastp_counts}))
    m = d / "seqray.fq.gz.seqray"
    m.mkdir(exist_ok=True)
    (m / "manifest.json").write_text(json.dumps({"reports": {"qc": seqray_counts}}))
    fastq(d / "fastp.fq.gz", fp_recs)
    fastq(d / "seqray.fq.gz", sr_recs)
    return d


@check
def qc_plain_is_exact(tmp: Path) -> None:
    import qc_vs_fastp as Q

    recs = random_records(50, 9)
    counts = dict.fromkeys(H.FASTP_REASONS, 0) | {"passed_filter_reads": 50, "too_short_reads": 2}
    ours = counts | {"reads_in": 52, "low_complexity_reads": 0, "duplicated_reads": 0}
    shuffled = recs[::-1]
    Q.check("ok", _qc_dir(tmp / "ok", counts, ours, recs, shuffled))
    bad = counts | {"too_short_reads": 1, "low_quality_reads": 1}
    refused(lambda: Q.check("c", _qc_dir(tmp / "c", bad, ours, recs, recs)), "low_quality_reads")
    other = recs[:-1] + [(recs[-1][0], recs[-1][1], "#" * len(recs[-1][2]))]
    refused(lambda: Q.check("r", _qc_dir(tmp / "r", counts, ours, recs, other)), "passed reads")


@check
def qc_dedup_against_first_copies(tmp: Path) -> None:
    """Input: A B A' C B, where A' has A's sequence and a later name; C fails the filters.
    First copies of each sequence that pass: A, B."""
    import qc_vs_fastp as Q

    a, b, c = ("a", "ACGTACGT", "IIIIIIII"), ("b", "TTTTGGGG", "IIIIIIII"), ("c", "CCCC", "####")
    a2 = ("a2", a[1], "IIIIIII5")
    inp = fastq(tmp / "in.fq", [a, b, a2, c, b])
    plain = tmp / "plain"
    counts = dict.fromkeys(H.FASTP_REASONS, 0) | {"passed_filter_reads": 4, "low_quality_reads": 1}
    ours = counts | {"reads_in": 5}
    _qc_dir(plain, counts, ours, [a, b, a2, b], [a, b, a2, b])
    Q.check("plain", plain)

    def dedup(name: str, fp_recs, sr_recs):
        Q.check_dedup(name, _qc_dir(tmp / name, counts, ours, fp_recs, sr_recs), plain, inp)

    dedup("exact", [b, a], [a, b])
    dedup("fastp_kept_a_later_copy", [a2, b], [a, b])  # fastp's threads may choose a2
    refused(lambda: dedup("seqray_kept_a_later_copy", [a, b], [a2, b]), "first copies")
    refused(lambda: dedup("seqray_kept_two", [a, b], [a, b, a2]), "first copies")
    refused(lambda: dedup("fastp_kept_a_failing_read", [a, b, c], [a, b]), "none of whose")
    refused(lambda: dedup("fastp_dropped_one", [a], [a, b]), "tolerance")  # 1 > 5 × 10^-4
    bad = counts | {"passed_filter_reads": 5}
    refused(lambda: Q.check_dedup("in", _qc_dir(tmp / "in", bad, ours, [a, b], [a, b]), plain, inp),
            "reads in")  # fmt: skip


@check
def split_pairs_is_exact(tmp: Path) -> None:
    import split_pairs as S

    r1, r2 = random_records(40, 10, "q"), random_records(40, 11, "q")
    counts = dict.fromkeys(H.FASTP_REASONS, 0) | {"passed_filter_reads": 80}
    fj = tmp / "f.json"
    fj.write_text(json.dumps({"filtering_result": counts}))
    fo = [fastq(tmp / "f1.fq.gz", r1), fastq(tmp / "f2.fq.gz", r2)]

    def run(name: str, m1, m2, qc=counts) -> Path:
        d = tmp / name
        d.mkdir()
        (d / "manifest.json").write_text(json.dumps({"reports": {"qc": qc}}))
        fastq(d / "reads_R1.fastq.gz", m1)
        fastq(d / "reads_R2.fastq.gz", m2)
        return d

    ok = {"one": run("one", r1, r2), "two": run("two", r1[::-1], r2[::-1])}
    assert S.check(fj, fo, ok) == 40
    swapped = run("swapped", r1, r2[1:] + r2[:1])
    refused(lambda: S.check(fj, fo, {**ok, "swapped": swapped}), "passed pairs")
    qc = counts | {"passed_filter_reads": 78, "too_short_reads": 2}
    fewer = run("fewer", r1, r2, qc)
    refused(lambda: S.check(fj, fo, {"fewer": fewer}), "passed_filter_reads", "78")


@check
def count_histograms_and_pairs(tmp: Path) -> None:
    import count_vs_peers as C
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp / "kmc.histo").write_text("1\t5\n2\t0\n3\t7\n")
    assert C.histo(tmp / "kmc.histo") == "1 5\n3 7\n"
    C.expect_same_histograms("x", {"a": "1 5\n3 7\n", "b": "1 5\n3 7\n"})
    refused(lambda: C.expect_same_histograms("x", {"a": "1 5\n3 7\n", "b": "1 5\n2 1\n3 7\n"}),
            "bin 2", "a: 0; b: 1")  # fmt: skip
    # 2-bit codes, A=0 C=1 G=2 T=3, first base most significant: hand-encoded
    codes = {"ACG": 0b000110, "TTT": 0b111111, "GAC": 0b100001}
    (tmp / "counts").mkdir()
    table = pa.table(
        {
            "kmer": pa.array(list(codes.values()), pa.uint64()),
            "count": pa.array([5, 1, 12], pa.uint64()),
        }
    )
    pq.write_table(table, tmp / "counts" / "part-00000.parquet", row_group_size=2)
    got = H.strings_digest(C.seqray_pairs(tmp, 3), "pairs")
    assert got == _lines(["GAC 12", "ACG 5", "TTT 1"])
    assert got != _lines(["ACG 5", "TTT 12", "GAC 1"])


@check
def inspect_compares_every_shared_number(tmp: Path) -> None:
    import inspect_vs_seqkit as I

    names = I.SHARED
    values = ["4", "600", "150", "150", "150", "97.50", "90.25", "50.12"]
    seqkit = "file\tformat\t" + "\t".join(names) + "\nx.fq\tFASTQ\t" + "\t".join(values) + "\n"
    ours = {k: float(v) for k, v in zip(names, values)}
    out = {"seqkit": H.Sample(0, 0, seqkit), "seqray": H.Sample(0, 0, json.dumps([ours]))}
    I.check(Path("x.fq"), out)
    for k in names:
        bad = {"seqkit": out["seqkit"], "seqray": H.Sample(0, 0, json.dumps([ours | {k: 1.5}]))}
        refused(lambda bad=bad: I.check(Path("x.fq"), bad), k)


@check
def tokenize_compares_every_read(tmp: Path) -> None:
    import tokenize_vs_hf as T

    ids = [[2, 7, 9, 3], [2, 3], [2, 11, 12, 13, 3]]
    mine = T.flat(ids)
    T.check(0, "HF", mine, T.flat([list(x) for x in ids]))
    refused(lambda: T.check(4, "HF", mine, T.flat([ids[0], ids[1], [2, 11, 12, 14, 3]])),
            "batch 4", "read 2")  # fmt: skip
    refused(lambda: T.check(0, "HF", mine, T.flat([ids[0], [2, 3, 3], [2, 11, 12, 3]])), "read 1")
    refused(lambda: T.check(0, "HF", mine, T.flat(ids[:2])), "3 reads", "2 reads")


@check
def correction_score_by_hand(tmp: Path) -> None:
    """Truth ACGTACGTAC; read ACTTAAGTAC has errors at 2 and 5. The corrector fixes 2, turns 5
    into another wrong base and breaks the correct base 8: TP 1, FP 2 (8, and 5), FN 1."""
    import correct_accuracy as A

    truth = {"r1": b"ACGTACGTAC", "r2": b"GGGGCCCCAA"}
    orig = fastq(tmp / "o.fq", [("r1", "ACTTAAGTAC", "I" * 10), ("r2", "GGGGCCCCAA", "I" * 10)])
    corr = fastq(tmp / "c.fq", [("r1", "ACGTAGGTCC", "I" * 10), ("r2", "GGGGCCCCAA", "I" * 10)])
    got = A.score(orig, corr, truth, set())
    want = {"reads": 2, "bases": 20, "errors": 2, "tp": 1, "fp": 2, "fn": 1, "gain": -0.5}
    assert {k: got[k] for k in want} == want, got
    assert got["reads_perfect_after"] == 1
    swapped = fastq(tmp / "s.fq", [("r2", "GGGGCCCCAA", "I" * 10), ("r1", "ACGTACGTAC", "I" * 10)])
    refused(lambda: A.score(orig, swapped, truth, set()), "input's order")
    cut = fastq(tmp / "t.fq", [("r1", "ACGTACGTA", "I" * 9), ("r2", "GGGGCCCCAA", "I" * 10)])
    refused(lambda: A.score(orig, cut, truth, set()), "length")
    refused(lambda: A.score(orig, corr, {"r1": truth["r1"]}, set()), "truth")


@check
def correction_matched_by_name(tmp: Path) -> None:
    """Tadpole and SGA may reorder reads; SGA may drop a read with an N (its errors then
    count as FN, and the read as missing); anything else missing, unknown or twice is
    refused. Mates are matched by /1 and /2, in two files or interleaved in one."""
    import correct_accuracy as A

    truth = {"r1": b"ACGTACGTAC", "r2": b"GGGGCCCCAA", "r3": b"TTTTGGGGCC"}
    q = "I" * 10
    orig = fastq(tmp / "o.fq", [("r1", "ACTTACGTAC", q), ("r2", "GGGGCCCCAA", q),
                                ("r3", "TTNTGGGGCC", q)])  # fmt: skip
    out = [("r3", "TTTTGGGGCC", q), ("r1", "ACGTACGTAC", q), ("r2", "GGGGCCCCAA", q)]
    shuffled = fastq(tmp / "s.fq", out)
    for policy in (A.TOOLS["tadpole"].policy, A.TOOLS["sga"].policy):
        got = A.score_files([orig], [shuffled], truth, set(), policy)
        assert (got["tp"], got["fp"], got["fn"], got["missing_reads"]) == (2, 0, 0, 0), got
    refused(lambda: A.score_files([orig], [shuffled], truth, set()), "input's order")
    no_n = fastq(tmp / "n.fq", out[1:])
    got = A.score_files([orig], [no_n], truth, set(), A.TOOLS["sga"].policy)
    assert (got["tp"], got["fn"], got["missing_reads"], got["reads"]) == (1, 1, 1, 3), got
    refused(lambda: A.score_files([orig], [no_n], truth, set(), A.TOOLS["tadpole"].policy),
            "1 read(s) missing", "r3")  # fmt: skip
    no_r1 = fastq(tmp / "m.fq", [out[0], out[2]])
    refused(lambda: A.score_files([orig], [no_r1], truth, set(), A.TOOLS["sga"].policy),
            "may not drop", "r1")  # fmt: skip
    twice = fastq(tmp / "t.fq", [*out, out[1]])
    refused(lambda: A.score_files([orig], [twice], truth, set(), A.TOOLS["sga"].policy), "twice")
    alien = fastq(tmp / "a.fq", [*out[:2], ("r9", "GGGGCCCCAA", q)])
    refused(lambda: A.score_files([orig], [alien], truth, set(), A.TOOLS["sga"].policy),
            "r9", "not in the input")  # fmt: skip
    # pairs: mates named /1 and /2 in the truth; a tool's two files may drop the suffix
    pt = {"p/1": b"ACGTACGTAC", "p/2": b"GGGGCCCCAA"}
    o1 = fastq(tmp / "o1.fq", [("p/1", "ACGTACGTAA", q)])
    o2 = fastq(tmp / "o2.fq", [("p/2", "GGGGCCCCAT", q)])
    c1 = fastq(tmp / "c1.fq", [("p", "ACGTACGTAC", q)])
    c2 = fastq(tmp / "c2.fq", [("p", "GGGGCCCCAT", q)])
    got = A.score_files([o1, o2], [c1, c2], pt, set())
    assert (got["tp"], got["fn"], got["reads"]) == (1, 1, 2), got
    inter = fastq(tmp / "i.fq", [("p/2", "GGGGCCCCAA", q), ("p/1", "ACGTACGTAC", q)])
    got = A.score_files([o1, o2], [inter], pt, set(), A.TOOLS["sga"].policy)
    assert (got["tp"], got["fn"], got["missing_reads"]) == (2, 0, 0), got


@check
def perturbed_copy_differs(tmp: Path) -> None:
    recs = random_records(20, 12)
    recs[0] = ("r0 x", "ACGT", "IIII")
    src = fastq(tmp / "s.fq.gz", recs)
    dst = H.perturbed_copy(src, tmp / "p" / "s.fq.gz")
    got = gzip.decompress(dst.read_bytes()).decode().splitlines()
    assert len(got) == 4 * 19 and got[1] == "CCGT" and got[2:4] == ["+", "IIII"]


# ---- end to end --------------------------------------------------------------------------

E2E = [  # (script, extra arguments, a peer to perturb)
    ("inspect_vs_seqkit.py", [], "seqkit"),
    ("qc_vs_fastp.py", [], "fastp"),
    ("count_vs_peers.py", ["-k", "21", "--folds", "1"], "jellyfish"),
    ("count_vs_peers.py", ["-k", "21", "--folds", "1"], "kmc"),
    ("split_pairs.py", [], "fastp"),
    ("correct_accuracy.py", [], "lighter"),
    ("tokenize_vs_hf.py", [], "hf"),
]


def e2e(runs: int) -> list[str]:
    """Each script on --small: exit 0 and a ratio on stdout; perturbed: exit 3, nothing on
    stdout, a DISAGREE line on stderr."""
    failures = []
    done = set()
    for script, extra, peer in E2E:
        base = [sys.executable, str(HERE / script), "--small", "--runs", str(runs), *extra]
        if (script, tuple(extra)) not in done:
            done.add((script, tuple(extra)))
            p = subprocess.run(base, capture_output=True, text=True)
            ok = p.returncode == 0 and "×" in p.stdout
            print(f"{'ok  ' if ok else 'FAIL'} {script} --small", flush=True)
            if not ok:
                failures.append(f"{script}: exit {p.returncode}\n{p.stdout}\n{p.stderr[-2000:]}")
        p = subprocess.run([*base, "--perturb", peer], capture_output=True, text=True)
        ok = p.returncode == H.EXIT_DISAGREE and p.stdout == "" and "DISAGREE: " in p.stderr
        line = next((x for x in p.stderr.splitlines() if x.startswith("DISAGREE")), "")
        print(f"{'ok  ' if ok else 'FAIL'} {script} --small --perturb {peer}: {line}", flush=True)
        if not ok:
            failures.append(f"{script} --perturb {peer}: exit {p.returncode}\n{p.stderr[-2000:]}")
    return failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--e2e", action="store_true", help="also run every script on --small input")
    ap.add_argument("--runs", type=int, default=2, help="timed rounds in the --e2e runs")
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    failures = []
    for fn in CHECKS:
        with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as d:
            try:
                fn(Path(d))
                print(f"ok   {fn.__name__}", flush=True)
            except Exception:
                print(f"FAIL {fn.__name__}", flush=True)
                failures.append(f"{fn.__name__}\n{traceback.format_exc()}")
    if args.e2e:
        failures += e2e(args.runs)
    for f in failures:
        print(f"\n{f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
