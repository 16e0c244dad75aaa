"""What every benchmark shares: one way to pin, warm, alternate, measure, compare and refuse.

Protocol of every script (docs/benchmarks.md, "Method"):

1. **Check round** (untimed): each tool runs once on the same input; the script compares
   their results. A difference beyond the script's stated tolerance raises `Disagreement`:
   the script prints one line naming what differs and exits with code 3 (`EXIT_DISAGREE`)
   before any time or ratio is printed. The check round also warms JIT caches.
2. **Timed rounds**: `--runs N` (default 3) rounds, the tools alternating within each round
   (A B A B A B, never A A A B B B). Every run is pinned to the same CPUs
   (`os.sched_setaffinity` in the child, inherited by its threads and children); before
   every run its outputs are removed and the inputs of *all* tools are read through once,
   so each tool starts on a warm page cache.
3. **Report**: per tool the min–max of wall time and of peak RSS, and the min–max over
   the rounds of each ratio (other tool's wall / this tool's wall, same round).

Peak RSS is GNU time's `%M`: the largest process of the run's tree that was waited for
(for `bash -c` pipelines the largest stage; for seqray's Ray runner the driver, not the
Ray workers).

Results are compared with order-independent digests (`Multiset`) streamed in chunks, so
memory stays bounded whatever the input: FASTQ records (name, sequence, quality; the `+`
line is ignored), pairs, and text lines such as `KMER<tab>COUNT`.

Self-check hooks: `--small` makes a tiny input (art_illumina on a random genome, with
reads that fail each of fastp's default filters, and exact copies); `--perturb TOOL` gives
TOOL a copy of its FASTQ inputs with one base changed and the last record dropped, so the
comparison must fail. `bench/selfcheck.py` runs both.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

EXIT_DISAGREE = 3
DEFAULT_CPUS = "0,1"
_U64 = np.uint64


class Disagreement(Exception):
    """The tools' results differ beyond the stated tolerance: no time may be reported."""


def expect_equal(what: str, results: dict[str, object]) -> None:
    """Raises `Disagreement` unless every tool's result is equal (`==`) to the first's."""
    names = list(results)
    first = results[names[0]]
    if any(results[n] != first for n in names[1:]):
        shown = "; ".join(f"{n}: {results[n]}" for n in names)
        raise Disagreement(f"{what} differ: {shown}")


# fastp's `filtering_result` keys that seqray's qc report has under the same names
FASTP_REASONS = (
    "passed_filter_reads",
    "low_quality_reads",
    "too_many_N_reads",
    "too_short_reads",
    "too_long_reads",
)


def expect_fastp_counts(label: str, fastp_json: Path, manifests: dict[str, Path]) -> dict:
    """fastp's per-reason counts equal each seqray run's (its manifest's `reports.qc`);
    returns the first run's qc report."""
    fp = json.loads(fastp_json.read_text())["filtering_result"]
    reports = {n: json.loads(m.read_text())["reports"]["qc"] for n, m in manifests.items()}
    for k in FASTP_REASONS:
        expect_equal(
            f"{label}{k}", {"fastp": fp.get(k, 0), **{n: r[k] for n, r in reports.items()}}
        )
    return next(iter(reports.values()))


def refuse_on_disagreement(main: Callable[[], int | None]) -> None:
    """Runs `main`; a `Disagreement` becomes one line on stderr and exit code 3."""
    try:
        code = main()
    except Disagreement as e:
        print(f"DISAGREE: {e}. No times reported.", file=sys.stderr)
        sys.exit(EXIT_DISAGREE)
    sys.exit(code or 0)


# ---- command line ------------------------------------------------------------------------


def add_common_args(ap: argparse.ArgumentParser) -> None:
    """--runs, --cpus, --seqray, --small, --perturb, --json, --workdir."""
    ap.add_argument("--runs", type=int, default=3, help="timed rounds, tools alternating (≥ 1)")
    ap.add_argument("--cpus", default=DEFAULT_CPUS, help="CPUs every run is pinned to (0,1)")
    ap.add_argument(
        "--seqray",
        default=os.environ.get("SEQRAY"),
        help="seqray command (default: $SEQRAY, else THIS_PYTHON -m seqray.cli.main)",
    )
    ap.add_argument("--small", action="store_true", help="tiny generated input (smoke check)")
    ap.add_argument(
        "--perturb",
        metavar="TOOL",
        help="self-check: give TOOL a copy of its input with one base changed and the last "
        "record dropped; the script must then refuse (exit 3)",
    )
    ap.add_argument("--json", type=Path, help="also write the JSON report here")
    ap.add_argument("--workdir", type=Path, help="scratch directory (default: a temporary one)")


def parse_args(
    ap: argparse.ArgumentParser, argv: list[str] | None = None, min_runs: int = 1
) -> argparse.Namespace:
    """Parses; `min_runs` 0 lets a script whose check round is itself a result (accuracy)
    skip the timed rounds with --runs 0."""
    args = ap.parse_args(argv)
    if args.runs < min_runs:
        ap.error(f"--runs must be at least {min_runs}")
    args.cpu_list = [int(c) for c in args.cpus.split(",")]
    args.threads = len(args.cpu_list)
    return args


def seqray_command(args: argparse.Namespace) -> list[str]:
    """The seqray CLI as an argv prefix: --seqray / $SEQRAY, else this interpreter's module
    (so PYTHONPATH chooses the checkout, and the repo's .venv works as documented)."""
    if args.seqray:
        return shlex.split(args.seqray)
    return [sys.executable, "-m", "seqray.cli.main"]


def require(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        sys.exit(f"not installed: {', '.join(missing)} (Debian packages, see docs/benchmarks.md)")


@contextlib.contextmanager
def scratch(args: argparse.Namespace) -> Iterator[Path]:
    """args.workdir: the --workdir given (kept), else a temporary directory (removed)."""
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        yield args.workdir
        return
    with tempfile.TemporaryDirectory(prefix="seqray-bench-", dir=os.environ.get("TMPDIR")) as d:
        args.workdir = Path(d)
        yield args.workdir


# ---- running tools -----------------------------------------------------------------------


@dataclass
class Tool:
    """One command to time. `cmd` as a string is a bash pipeline (`set -eo pipefail`)."""

    name: str
    cmd: list[str] | str
    inputs: list[Path]
    outputs: list[Path] = field(default_factory=list)
    env: dict[str, str] | None = None


@dataclass
class Sample:
    wall_s: float
    peak_rss_mib: float
    stdout: str


def _remove(paths: Iterable[Path]) -> None:
    for p in paths:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)


def warm(paths: Iterable[Path]) -> None:
    """Reads every file (directories recursively) once, so its pages are cached."""
    for p in paths:
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            with open(f, "rb") as fh:
                while fh.read(16 << 20):
                    pass


def run_once(tool: Tool, cpus: list[int]) -> Sample:
    """Runs the tool pinned to `cpus`; wall seconds, peak RSS, stdout. Exits on failure.

    Peak RSS comes from GNU time (`%M`), not from this process's `wait4`: Linux carries a
    process's RSS high-water mark across fork and exec, so a child forked from this Python
    would report at least this Python's size."""
    argv = (
        ["bash", "-c", f"set -eo pipefail; {tool.cmd}"] if isinstance(tool.cmd, str) else tool.cmd
    )
    env = {**os.environ, **tool.env} if tool.env else None
    if not os.access("/usr/bin/time", os.X_OK):
        sys.exit("GNU time is not installed: apt-get install time")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        with tempfile.NamedTemporaryFile("r") as rss:
            t0 = time.perf_counter()
            rc = subprocess.call(
                ["/usr/bin/time", "-f", "%M", "-o", rss.name, *argv],
                stdout=out,
                stderr=err,
                env=env,
                preexec_fn=lambda: os.sched_setaffinity(0, cpus),
            )
            wall = time.perf_counter() - t0
            peak_kib = rss.read().split()
        if rc:
            err.seek(0)
            tail = err.read()[-3000:].decode(errors="replace")
            shown = tool.cmd if isinstance(tool.cmd, str) else shlex.join(tool.cmd)
            sys.exit(f"{tool.name} failed (exit {rc}): {shown}\n{tail}")
        out.seek(0)
        return Sample(wall, int(peak_kib[-1]) / 1024, out.read().decode(errors="replace"))


def rounds(
    tools: list[Tool], cpus: list[int], runs: int, label: str = "", timed: bool = True
) -> dict[str, list]:
    """`runs` rounds of every tool in turn (A B A B ...), each run on a warm page cache with
    its outputs removed first. Progress goes to stderr, with times only when `timed`."""
    inputs = list(dict.fromkeys(p for t in tools for p in t.inputs))
    samples: dict[str, list[Sample]] = {t.name: [] for t in tools}
    for r in range(runs):
        for t in tools:
            _remove(t.outputs)
            warm(inputs)
            s = run_once(t, cpus)
            samples[t.name].append(s)
            took = f": {s.wall_s:.2f} s" if timed else ""
            print(f"{label}round {r + 1}/{runs} {t.name}{took}", file=sys.stderr)
    return samples


def check_round(tools: list[Tool], cpus: list[int], label: str = "") -> dict[str, Sample]:
    """One run of each tool, whose outputs the script then compares; no time is shown."""
    samples = rounds(tools, cpus, 1, f"{label}check ", timed=False)
    return {k: v[0] for k, v in samples.items()}


# ---- reporting ---------------------------------------------------------------------------


def span(values: list[float]) -> list[float]:
    return [min(values), max(values)]


def ratios(samples: dict[str, list[Sample]], num: str, den: str) -> list[float]:
    """num's wall / den's wall, round by round (> 1: den faster)."""
    return [a.wall_s / b.wall_s for a, b in zip(samples[num], samples[den])]


def summary(samples: dict[str, list[Sample]], ratio_pairs: list[tuple[str, str]]) -> dict:
    """Per tool: wall and peak RSS per run and their min–max; per (num, den): the ratio's."""
    out: dict = {"tools": {}, "ratios": {}}
    for name, ss in samples.items():
        walls = [round(s.wall_s, 3) for s in ss]
        rss = [round(s.peak_rss_mib, 1) for s in ss]
        out["tools"][name] = {
            "wall_s": walls,
            "wall_s_range": span(walls),
            "peak_rss_mib": rss,
            "peak_rss_mib_range": span(rss),
        }
    for num, den in ratio_pairs:
        r = [round(x, 3) for x in ratios(samples, num, den)]
        out["ratios"][f"{num} / {den}"] = {"per_round": r, "range": span(r)}
    return out


def fmt_span(lo_hi: list[float], fmt: str = ".2f", suffix: str = "") -> str:
    lo, hi = lo_hi
    a, b = format(lo, fmt), format(hi, fmt)
    return f"{a}{suffix}" if a == b else f"{a}–{b}{suffix}"


def table_rows(summ: dict, ratio_of: dict[str, str], prefix: str = "") -> list[str]:
    """Markdown rows `| prefix | tool | wall s | peak RSS MiB | ratio |`; `ratio_of` maps a
    tool to the ratio key shown on its row."""
    rows = []
    for name, t in summ["tools"].items():
        key = ratio_of.get(name)
        ratio = f"**{fmt_span(summ['ratios'][key]['range'], suffix='×')}**" if key else ""
        rows.append(
            f"| {prefix}{name} | {fmt_span(t['wall_s_range'])} "
            f"| {fmt_span(t['peak_rss_mib_range'], ',.0f')} | {ratio} |"
        )
    return rows


def context(args: argparse.Namespace) -> dict:
    return {
        "cpus": args.cpu_list,
        "runs": args.runs,
        "protocol": "check round, then alternating timed rounds, pinned, page cache warm",
        "load_avg_1min_before": os.getloadavg()[0],
    }


def emit(report: dict, lines: list[str], args: argparse.Namespace) -> None:
    """Prints the Markdown lines; writes the JSON report with --json."""
    report["load_avg_1min_after"] = os.getloadavg()[0]
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


# ---- order-independent digests -----------------------------------------------------------

_SEED = 0x5EC12A7
_BLOCK = 1 << 16
_weights: list[np.ndarray] = []


def _position_weights(n: int) -> np.ndarray:
    """(2, ≥ n) random odd uint64 weights, one per byte position and lane; fixed seed."""
    while sum(w.shape[1] for w in _weights) < n:
        rng = np.random.default_rng([_SEED, len(_weights)])
        _weights.append(rng.integers(0, 2**64, size=(2, _BLOCK), dtype=_U64) | _U64(1))
    return np.concatenate(_weights, axis=1) if len(_weights) > 1 else _weights[0]


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection of uint64 that spreads every bit."""
    x = x ^ (x >> _U64(30))
    x = x * _U64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> _U64(27))
    x = x * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


def item_hashes(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """(2, n) uint64 hashes of the byte ranges data[starts[i]:ends[i]]: per lane a sum of
    byte × random odd weight(position) mod 2^64, with the length, through `_mix`; a change
    of a byte, of its position or of the length changes a lane but for a ~2^-57 chance."""
    starts = starts.astype(np.int64)
    lengths = ends.astype(np.int64) - starts
    n = len(lengths)
    out = np.zeros((2, n), _U64)
    nz = np.flatnonzero(lengths)
    if len(nz):
        lens = lengths[nz]
        first = np.cumsum(lens) - lens
        pos = np.arange(int(lens.sum())) - np.repeat(first, lens)
        b = data[np.repeat(starts[nz], lens) + pos].astype(_U64)
        w = _position_weights(int(lens.max()))
        with np.errstate(over="ignore"):
            for lane in range(2):
                out[lane, nz] = np.add.reduceat(b * w[lane, pos], first)
    with np.errstate(over="ignore"):
        salt = np.array([[0x243F6A8885A308D3], [0x13198A2E03707344]], _U64)
        return _mix(out + _mix(lengths.astype(_U64) + salt))


def combine(parts: list[np.ndarray]) -> np.ndarray:
    """One hash per item from several (2, n) hashes, order-sensitive (field 1 ≠ field 2)."""
    acc = np.zeros_like(parts[0])
    with np.errstate(over="ignore"):
        for i, p in enumerate(parts):
            acc = _mix(acc ^ _mix(p + _U64(0x9E3779B97F4A7C15 * (i + 1) % 2**64)))
    return acc


@dataclass
class Multiset:
    """Order-independent digest of a multiset of items: count and, per lane, the sum of the
    items' hashes mod 2^64. Equal multisets give equal digests; two different ones collide
    only by a negligible chance (two independent 64-bit lanes)."""

    what: str
    count: int = 0
    sums: tuple[int, int] = (0, 0)

    def add(self, hashes: np.ndarray) -> None:
        self.count += hashes.shape[1]
        s = hashes.sum(axis=1, dtype=_U64)
        self.sums = tuple((a + int(b)) % 2**64 for a, b in zip(self.sums, s))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Multiset) and (self.count, self.sums) == (
            other.count,
            other.sums,
        )

    def __str__(self) -> str:
        return f"{self.count:,} {self.what} (digest {self.sums[0]:016x}{self.sums[1]:016x})"


def _open(path: Path):
    return gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")


def line_chunks(stream, per: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The stream's whole items of `per` lines, a few MiB at a time: (data, line starts,
    line ends without the newline), starts and ends shaped (n_items, per). A last line
    without a newline counts; lines left over that make no whole item are an error."""
    rest = b""
    while True:
        block = stream.read(2 << 20)
        buf = rest + block
        if not block and buf and not buf.endswith(b"\n"):
            buf += b"\n"
        data = np.frombuffer(buf, np.uint8)
        nl = np.flatnonzero(data == 10)
        whole = len(nl) // per
        if not block and len(nl) % per:
            raise ValueError(f"{len(nl) % per} line(s) at the end make no whole {per}-line item")
        if whole:
            ends = nl[: whole * per]
            starts = np.concatenate([[0], ends[:-1] + 1])
            yield data, starts.reshape(whole, per), ends.reshape(whole, per)
        rest = buf[int(nl[whole * per - 1]) + 1 :] if whole else buf
        if not block:
            return


def _fastq_hashes(path: Path) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per chunk, (2, n) hashes of each FASTQ record (name line, sequence, quality; not the
    + line) and of its sequence alone."""
    with _open(path) as f:
        try:
            for data, starts, ends in line_chunks(f, 4):
                fields = [item_hashes(data, starts[:, i], ends[:, i]) for i in (0, 1, 3)]
                yield combine(fields), fields[1]
        except ValueError as e:
            raise Disagreement(f"{path} is not whole FASTQ records: {e}") from None


def fastq_digest(paths: list[Path], what: str = "reads") -> Multiset:
    """Digest of the FASTQ records (name line, sequence, quality); with two paths, of the
    pairs (record i of each file together), so mates reordered apart change it."""
    digest = Multiset(what)
    streams = [(rec for rec, _ in _fastq_hashes(p)) for p in paths]
    pending = [np.zeros((2, 0), _U64) for _ in paths]
    done = [False] * len(paths)
    while True:
        for i, s in enumerate(streams):
            while not done[i] and pending[i].shape[1] == 0:
                nxt = next(s, None)
                if nxt is None:
                    done[i] = True
                else:
                    pending[i] = nxt
        n = min(p.shape[1] for p in pending)
        if n == 0:
            break
        digest.add(combine([p[:, :n] for p in pending]))
        pending = [p[:, n:] for p in pending]
    if any(p.shape[1] for p in pending):
        raise Disagreement(f"{' and '.join(map(str, paths))} hold different numbers of reads")
    return digest


def fastq_hashes(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One uint64 hash per record (name line, sequence, quality) and per record's sequence,
    in file order: for set comparisons of reads (8 bytes a read each)."""
    recs, seqs = [np.zeros(0, _U64)], [np.zeros(0, _U64)]
    for rec, seq in _fastq_hashes(path):
        recs.append(rec[0])
        seqs.append(seq[0])
    return np.concatenate(recs), np.concatenate(seqs)


def lines_digest(stream, what: str) -> Multiset:
    """Digest of text lines, a space read as a tab (`KMER COUNT` = `KMER<tab>COUNT`)."""
    digest = Multiset(what)
    for data, starts, ends in line_chunks(stream, 1):
        data = np.where(data == 32, np.uint8(9), data)
        digest.add(item_hashes(data, starts[:, 0], ends[:, 0]))
    return digest


def strings_digest(arrays: Iterable, what: str) -> Multiset:
    """Digest of the values of Arrow string arrays, equal to `lines_digest` of their text."""
    import pyarrow as pa

    digest = Multiset(what)
    for given in arrays:
        chunks = given.chunks if isinstance(given, pa.ChunkedArray) else [given]
        for arr in chunks:
            _digest_strings(digest, arr.cast(pa.large_string()))
    return digest


def _digest_strings(digest: Multiset, arr) -> None:
    if arr.null_count:
        raise ValueError("null strings")
    offsets = np.frombuffer(arr.buffers()[1], np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2], np.uint8)
    digest.add(item_hashes(data, offsets[:-1], offsets[1:]))


# ---- inputs for smoke checks and self-checks --------------------------------------------


def random_genome(path: Path, length: int = 30_000, seed: int = 1) -> Path:
    rng = random.Random(seed)
    seq = "".join(rng.choices("ACGT", k=length))
    lines = [seq[i : i + 70] for i in range(0, length, 70)]
    path.write_text(">random_genome\n" + "\n".join(lines) + "\n")
    return path


def art_reads(genome: Path, prefix: Path, fold: float, seed: int, paired: bool, *extra: str):
    """art_illumina HS25 150 bp reads (pairs: insert 300 ± 20); the FASTQ path(s)."""
    require("art_illumina")
    cmd = ["art_illumina", "-ss", "HS25", "-i", str(genome), "-l", "150", "-f", str(fold)]
    cmd += ["-rs", str(seed), "-o", str(prefix), "-q", *extra]
    if paired:
        cmd += ["-p", "-m", "300", "-s", "20"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if paired:
        return [Path(f"{prefix}1.fq"), Path(f"{prefix}2.fq")]
    return [Path(f"{prefix}.fq")]


def gzip_copy(path: Path) -> Path:
    """PATH.gz beside PATH (gzip level 6, no name or time in the header)."""
    dst = path.with_name(path.name + ".gz")
    dst.write_bytes(gzip.compress(path.read_bytes(), compresslevel=6, mtime=0))
    return dst


def _read_records(path: Path) -> list[list[bytes]]:
    with _open(path) as f:
        lines = f.read().splitlines()
    return [lines[i : i + 4] for i in range(0, len(lines), 4)]


def _write_records(path: Path, records: list[list[bytes]]) -> Path:
    text = b"".join(b"\n".join(r) + b"\n" for r in records)
    if str(path).endswith(".gz"):
        text = gzip.compress(text, compresslevel=1, mtime=0)
    path.write_bytes(text)
    return path


def small_reads(work: Path, paired: bool = False, gz: bool = True) -> list[Path]:
    """A tiny input (~4,000 reads or pairs): art_illumina on a random 200 kb genome; then,
    among reads whose sequence occurs once, every 10th half low quality, every 25th with
    six N, every 40th cut to 12 bases; and every 7th read again at the end (exact copies).
    So each fastp outcome occurs, and all copies of a sequence share one outcome (which copy
    a tool keeps under --dedup cannot matter)."""
    work.mkdir(parents=True, exist_ok=True)
    genome = random_genome(work / "small_genome.fa", 200_000)
    fqs = art_reads(genome, work / ("small_pe_" if paired else "small"), 3, 5, paired, "-na")
    out = []
    for mate, fq in enumerate(fqs):
        recs = _read_records(fq)
        copies = Counter(r[1] for r in recs)
        for i, (_, seq, _, qual) in enumerate(recs):
            j = i + 3 * mate
            if copies[seq] > 1:
                continue
            if j % 10 == 3:
                qual = qual[: len(qual) // 2] + b"#" * (len(qual) - len(qual) // 2)
            if j % 25 == 7:
                seq = seq[:10] + b"N" * 6 + seq[16:]
            if j % 40 == 11:
                seq, qual = seq[:12], qual[:12]
            recs[i][1], recs[i][3] = seq, qual
        recs += [list(r) for r in recs[::7]]
        out.append(_write_records(fq.with_suffix(".fq.gz" if gz else ".fastq"), recs))
        fq.unlink()
    return out


_FLIP = {ord("A"): b"C", ord("C"): b"A", ord("G"): b"T", ord("T"): b"G"}


def perturbed_copy(src: Path, dst: Path) -> Path:
    """The FASTQ with the first read's first base changed and the last record dropped: a
    tool given this must disagree with one given `src`."""
    recs = _read_records(src)[:-1]
    seq = recs[0][1]
    recs[0][1] = _FLIP.get(seq[0], b"A") + seq[1:]
    dst.parent.mkdir(parents=True, exist_ok=True)
    return _write_records(dst, recs)


def inputs_for(tool: str, paths: list[Path], args: argparse.Namespace) -> list[Path]:
    """`paths`, or perturbed copies of them when --perturb names `tool`."""
    if args.perturb != tool:
        return paths
    d = args.workdir / "perturbed"
    return [perturbed_copy(p, d / p.name) for p in paths]


def check_perturb(args: argparse.Namespace, tools: Iterable[str]) -> None:
    if args.perturb is not None and args.perturb not in tools:
        sys.exit(f"--perturb: no tool {args.perturb!r} here (one of: {', '.join(tools)})")
