"""MPI solvers, seqray on 1 and 2 ranks vs scikit-learn: same vectors, same CPUs (issue 15).

    python bench/solvers_vs_sklearn.py --sizes 100000,1000000 --runs 3 --json solvers.json

Input, made once per size and cached under `--workdir` (default `bench/data/solvers`):
N float32 vectors of dimension `--dim` (100) around `--centers` (10) Gaussian centres
(centre coordinates N(0, `--spread`²), noise N(0, 1)), written as a seqray run writes
embeddings (four Parquet shards, zstd, `source`/`record`/`name`/`vector`, a manifest),
with the true centre of each row in `truth.npy`.

Tools, each a whole command timed from start to exit (imports, reading the Parquet
shards, solving, writing the result):
- `seqray 1 rank`: `seqray solve SOLVER RUN -o OUT --ranks 1` (in the seqray process);
- `seqray 2 ranks`: the same with `--ranks 2` (`mpirun -n 2`);
- `sklearn`: this script's `_peer` mode: the same shards read with pyarrow, as float64
  (the precision of seqray's solvers), then `PCA(n_components=K,
  svd_solver="covariance_eigh")` (seqray's algorithm; what "auto" picks for N ≫ D),
  `NearestNeighbors(n_neighbors=K, algorithm="brute").fit(X).kneighbors()` (a row is not
  its own neighbour), or `SpectralClustering(C, affinity="nearest_neighbors",
  n_neighbors=K, assign_labels="kmeans", eigen_solver=--eigen-solver (lobpcg, as seqray;
  arpack's shift-invert LU of a 100 k-node k-NN graph may not fit in memory),
  random_state=0)`; results to an `.npz` (seqray writes Parquet shards with the reads'
  identity and checksums, slightly more work).
Threads: every run is pinned to `--cpus` (default 0,1); BLAS/OpenMP get one thread per
CPU, split between the ranks for 2 ranks (`OMP_NUM_THREADS`, `OPENBLAS_NUM_THREADS`,
`MKL_NUM_THREADS`), so every tool uses the same cores and no more threads than cores.

Per size, per solver: `--runs` rounds, the three tools alternating (the harness's
protocol, docs/benchmarks.md, but without a separate check round: nothing is JIT-compiled
here and a 100 k-vector k-NN run takes minutes; round 1's results are compared instead).
Agreement, checked on round 1 before any time is printed: PCA explained variance rtol
1e-6 and k-NN indices equal at ≥ 99.9 % of the N × K positions (distances rtol 1e-5),
seqray's 1- and 2-rank k-NN indices identical; else exit 3 with no times (`DISAGREE`).
Spectral clustering is statistical: the adjusted Rand index (seqray vs sklearn, each vs
the true centres, 1 vs 2 ranks) is reported, and one below 0.99 is marked, not refused.

Memory: peak RSS of the whole command (GNU time `%M`: under mpirun, the largest process
of the tree, i.e. the largest rank) and, for seqray, each rank's own peak RSS from the
solver's manifest (`reports.<solver>.per_rank`, `getrusage`).

Limits: exact k-NN and spectral clustering are quadratic (N² distances; 10^12 at 1 M).
Before running a tool at a size, the script estimates its wall time from the same tool at
the largest smaller size done (start-up + solve × (N/n)^p, p = 2 for knn and spectral, 1
for pca; conservative: the linear part is scaled quadratically too) and its peak RSS
(linear); a tool whose estimate exceeds `--max-seconds` (900) or `--max-rss-gib` (80 % of
RAM) is skipped at that size and above, with the reason in the table. A run that fails or
exceeds `--timeout` (3 × `--max-seconds`) is recorded as such, and that tool is not run
again at that size or above; the rest of the benchmark goes on. The first size has no
estimate: start `--sizes` with one that is quick for every solver (the default, 100 k,
takes a few minutes per run; 1 M k-NN and spectral are then skipped, about 10^4 s each).

Output: a Markdown table (size, solver, tool, ranks, wall min–max, peak RSS, per-rank
RSS, sklearn / seqray wall, agreement) on stdout; `--json PATH` writes every run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import _harness as H
import numpy as np

SOLVERS = ("pca", "knn", "spectral")
POWER = {"pca": 1, "knn": 2, "spectral": 2}  # time ~ N^p
SHARDS = 4
BATCH = 50_000  # rows per Parquet row group
SEED = 0
ARI_MIN = 0.99
KNN_EQUAL_MIN = 0.999
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


# ---- input ---------------------------------------------------------------------------------


def make_input(root: Path, n: int, dim: int, centers: int, spread: float) -> Path:
    """The cached run of `n` blob vectors at `root/blobs_n<n>_d<dim>_c<centers>_s<spread>`
    (made once: the manifest is written last, so a run that has one is complete)."""
    from seqray.io.formats.parquet import ParquetShardWriter
    from seqray.pipeline.manifest import write_manifest

    run = root / f"blobs_n{n}_d{dim}_c{centers}_s{spread:g}"
    if (run / "manifest.json").exists():
        return run
    if run.exists():
        shutil.rmtree(run)
    print(f"making {n:,} vectors of dimension {dim} in {run}", file=sys.stderr)
    rng = np.random.default_rng(SEED)
    centres = rng.normal(scale=spread, size=(centers, dim))
    truth = rng.integers(0, centers, n).astype(np.int16)
    bounds = np.linspace(0, n, SHARDS + 1).astype(np.int64)
    entries = []
    for s in range(SHARDS):
        w = None
        for lo in range(int(bounds[s]), int(bounds[s + 1]), BATCH):
            hi = min(lo + BATCH, int(bounds[s + 1]))
            noise = np.random.default_rng([SEED, lo]).standard_normal((hi - lo, dim))
            x = (centres[truth[lo:hi]] + noise).astype(np.float32)
            t = batch_table(x, lo)
            if w is None:
                w = ParquetShardWriter(str(run / "vectors" / f"part-{s:05d}.parquet"), t.schema)
            w.write(t)
        f = w.commit().files[0]
        entries.append(
            {"uri": f.uri, "rows": f.rows, "bytes": f.bytes, "sha256": f.sha256}
            | {"stage": "write", "format": "parquet"}
        )
    np.save(run / "truth.npy", truth)
    config = {"bench": "solvers_vs_sklearn", "n": n, "dim": dim, "centers": centers}
    config |= {"spread": spread, "seed": SEED}
    write_manifest(
        str(run),
        {
            "config": config,
            "config_hash": "0" * 64,
            "inputs": [],
            "chunks": [],
            "shards": entries,
            "files": [],
            "rejects": [],
            "stages": {},
            "reports": {},
            "reads": {"in": n, "out": n},
        },
    )
    return run


def batch_table(x: np.ndarray, lo: int):
    import pyarrow as pa

    idx = np.arange(lo, lo + len(x))
    return pa.table(
        {
            "source": pa.array(["blobs.fa"] * len(x), pa.large_string()).dictionary_encode(),
            "record": pa.array(idx, pa.int64()),
            "name": pa.array([f"v{j}" for j in idx], pa.large_string()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1]),
        }
    )


# ---- the scikit-learn peer (this script's `_peer` mode) ----------------------------------


def read_vectors(run: Path) -> np.ndarray:
    """The run's vectors in manifest order, as float64, read with pyarrow only."""
    import pyarrow.parquet as pq

    shards = json.loads((run / "manifest.json").read_text())["shards"]
    parts = []
    for s in shards:
        col = pq.read_table(s["uri"], columns=["vector"]).column("vector").combine_chunks()
        parts.append(col.values.to_numpy().reshape(len(col), col.type.list_size))
    return np.concatenate(parts).astype(np.float64)


def peer(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="solvers_vs_sklearn.py _peer")
    ap.add_argument("solver", choices=SOLVERS)
    ap.add_argument("run", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("--k", type=int, required=True, help="components or neighbours")
    ap.add_argument("--clusters", type=int, default=10)
    ap.add_argument("--eigen-solver", default="lobpcg")
    a = ap.parse_args(argv)
    from sklearn.cluster import SpectralClustering
    from sklearn.decomposition import PCA
    from sklearn.neighbors import NearestNeighbors

    t0 = time.perf_counter()  # as seqray's per-rank seconds: from reading to the result
    x = read_vectors(a.run)
    if a.solver == "pca":
        m = PCA(n_components=a.k, svd_solver="covariance_eigh").fit(x)
        result = {"explained_variance": m.explained_variance_, "components": m.components_}
    elif a.solver == "knn":
        d, i = NearestNeighbors(n_neighbors=a.k, algorithm="brute").fit(x).kneighbors()
        result = {"neighbors": i, "distances": d.astype(np.float32)}
    else:
        sc = SpectralClustering(
            a.clusters,
            affinity="nearest_neighbors",
            n_neighbors=a.k,
            assign_labels="kmeans",
            eigen_solver=a.eigen_solver,
            random_state=0,
        )
        result = {"labels": sc.fit_predict(x).astype(np.int32)}
    a.output.mkdir(parents=True)
    np.savez(a.output / "result.npz", **result)
    info = {"seconds": round(time.perf_counter() - t0, 3), "peak_rss_bytes": _peak_rss_bytes()}
    (a.output / "peer.json").write_text(json.dumps(info) + "\n")
    return 0


def _peak_rss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ---- running -------------------------------------------------------------------------------


@dataclass
class Tool:
    name: str
    ranks: int  # 0: the peer
    cmd: list[str]
    output: Path
    threads: int


@dataclass
class Run:
    wall_s: float
    peak_rss_mib: float
    solve_s: float  # the solver's own seconds (the slowest rank; the peer: read + fit)
    per_rank_rss_mib: list[float] = field(default_factory=list)


@dataclass
class Outcome:
    """A tool at a size: its runs, or why it has none (or stopped)."""

    runs: list[Run] = field(default_factory=list)
    note: str = ""


def tools_for(solver: str, run: Path, out: Path, args: argparse.Namespace) -> list[Tool]:
    k = args.components if solver == "pca" else args.neighbors
    opts = {"pca": ["--components", str(k)], "knn": ["--neighbors", str(k)]}
    opts["spectral"] = ["--clusters", str(args.clusters), "--neighbors", str(k)]
    seqray = H.seqray_command(args)
    cpus = len(args.cpu_list)
    ts = [
        Tool(
            f"seqray {r} rank{'s' if r > 1 else ''}",
            r,
            [*seqray, "solve", solver, str(run), "-o", str(out / f"seqray{r}")]
            + [*opts[solver], "--ranks", str(r)],
            out / f"seqray{r}",
            max(1, cpus // r),
        )
        for r in (1, 2)
    ]
    sk = [sys.executable, str(Path(__file__).resolve()), "_peer", solver, str(run)]
    sk += [str(out / "sklearn"), "--k", str(k), "--clusters", str(args.clusters)]
    ts.append(Tool("sklearn", 0, [*sk, "--eigen-solver", args.eigen_solver], out / "sklearn", cpus))
    return ts


def run_once(tool: Tool, solver: str, args: argparse.Namespace) -> Run | str:
    """One pinned run of `tool` under GNU time; a Run, or why it failed."""
    if tool.output.exists():
        shutil.rmtree(tool.output)
    env = {**os.environ, **{v: str(tool.threads) for v in THREAD_VARS}}
    cpus = args.cpu_list
    with tempfile.NamedTemporaryFile("r") as rss, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            ["/usr/bin/time", "-f", "%M", "-o", rss.name, *tool.cmd],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
            start_new_session=True,  # a timeout ends mpirun and its ranks too
            preexec_fn=lambda: os.sched_setaffinity(0, cpus),
        )
        try:
            rc = proc.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return f"timed out after {args.timeout:.0f} s"
        wall = time.perf_counter() - t0
        peak = rss.read().split()
        if rc:
            err.seek(0)
            tail = err.read().decode(errors="replace").strip().splitlines()[-3:]
            return f"failed (exit {rc}): {' / '.join(tail)[-300:]}"
    if tool.ranks:
        report = json.loads((tool.output / "manifest.json").read_text())["reports"][solver]
        ranks = report["per_rank"]
        solve_s = max(r["seconds"] for r in ranks)
        per_rank = [round(r["peak_rss_bytes"] / 2**20, 1) for r in ranks]
    else:
        info = json.loads((tool.output / "peer.json").read_text())
        solve_s, per_rank = info["seconds"], []
    return Run(wall, int(peak[-1]) / 1024, solve_s, per_rank)


def estimate(prev: tuple[int, Run] | None, n: int, solver: str) -> tuple[float, float] | None:
    """(wall s, peak RSS MiB) of a tool at `n` rows from its fastest run at a smaller size."""
    if prev is None:
        return None
    m, r = prev
    start = max(r.wall_s - r.solve_s, 0.0)
    return start + r.solve_s * (n / m) ** POWER[solver], r.peak_rss_mib * n / m


# ---- agreement -----------------------------------------------------------------------------


def agreement(solver: str, ts: list[Tool], got: dict[str, Outcome], run: Path) -> dict:
    """Round 1's results compared: numbers per tool, and `refuse` for an exact check failed."""
    import seqray

    done = [t for t in ts if got[t.name].runs]
    out: dict = {}
    if solver == "pca":
        ev = {}
        for t in done:
            if t.ranks:
                ev[t.name] = np.load(t.output / "pca.npz")["explained_variance"]
            else:
                ev[t.name] = np.load(t.output / "result.npz")["explained_variance"]
        ref = ev.get("sklearn")
        for name, v in ev.items():
            if ref is not None and name != "sklearn":
                rel = float(np.max(np.abs(v - ref) / np.abs(ref)))
                out[name] = {"explained_variance_max_rel_diff": rel, "ok": rel <= 1e-6}
        if ref is not None:
            out["sklearn"] = {"explained_variance": ref.tolist()}
    elif solver == "knn":
        res = {}
        for t in done:
            if t.ranks:
                e = seqray.load_embeddings(str(t.output), stage="knn")
                i = np.asarray(e.column("neighbors")[:])
                d = np.asarray(e.column("distances")[:], dtype=np.float64)
            else:
                z = np.load(t.output / "result.npz")
                i, d = z["neighbors"], z["distances"].astype(np.float64)
            res[t.name] = (i, d)
        if "sklearn" in res:
            ri, rd = res["sklearn"]
            for name, (i, d) in res.items():
                if name == "sklearn":
                    continue
                equal = float(np.mean(i == ri))
                rel = float(np.max(np.abs(d - rd) / np.maximum(rd, 1e-12)))
                ok = equal >= KNN_EQUAL_MIN and rel <= 1e-5
                out[name] = {"index_equal_fraction": equal, "distance_max_rel_diff": rel}
                out[name]["ok"] = ok
            out["sklearn"] = {"reference": True}
        a, b = res.get("seqray 1 rank"), res.get("seqray 2 ranks")
        if a is not None and b is not None:
            same = bool(np.array_equal(a[0], b[0]))
            out["seqray 2 ranks"] = {**out.get("seqray 2 ranks", {}), "equal_to_1_rank": same}
            out["seqray 2 ranks"]["ok"] = out["seqray 2 ranks"].get("ok", True) and same
    else:
        from sklearn.metrics import adjusted_rand_score as ari

        truth = np.load(run / "truth.npy")
        labels = {}
        for t in done:
            if t.ranks:
                e = seqray.load_embeddings(str(t.output), stage="spectral")
                labels[t.name] = np.asarray(e.column("label")[:])
            else:
                labels[t.name] = np.load(t.output / "result.npz")["labels"]
        for name, lab in labels.items():
            row = {"ari_truth": float(ari(truth, lab))}
            if name != "sklearn" and "sklearn" in labels:
                row["ari_sklearn"] = float(ari(labels["sklearn"], lab))
            if name == "seqray 2 ranks" and "seqray 1 rank" in labels:
                row["ari_1_rank"] = float(ari(labels["seqray 1 rank"], lab))
            row["ok"] = all(v >= ARI_MIN for v in row.values())
            out[name] = row
    return out


def refuse_if_disagree(label: str, solver: str, agree: dict) -> None:
    """Exact checks (pca, knn) failed → Disagreement; spectral's ARI is only reported."""
    if solver == "spectral":
        return
    bad = {n: a for n, a in agree.items() if a.get("ok") is False}
    if bad:
        shown = "; ".join(f"{n}: {json.dumps(a)}" for n, a in bad.items())
        raise H.Disagreement(f"{label}: results vs sklearn differ beyond tolerance: {shown}")


def agree_text(solver: str, a: dict) -> str:
    if not a:
        return ""
    mark = "" if a.get("ok", True) else " ⚠"
    if solver == "pca":
        if "explained_variance_max_rel_diff" not in a:
            return "reference"
        return f"expl. var. rel. diff {a['explained_variance_max_rel_diff']:.1e}{mark}"
    if solver == "knn":
        if "index_equal_fraction" not in a:
            return "reference"
        s = f"indices equal {a['index_equal_fraction']:.4%}"
        return s + (", = 1 rank" if a.get("equal_to_1_rank") else "") + mark
    parts = [f"ARI truth {a['ari_truth']:.4f}"]
    if "ari_sklearn" in a:
        parts.append(f"vs sklearn {a['ari_sklearn']:.4f}")
    if "ari_1_rank" in a:
        parts.append(f"vs 1 rank {a['ari_1_rank']:.4f}")
    return ", ".join(parts) + mark


# ---- main ----------------------------------------------------------------------------------


def span_text(values: list[float], fmt: str) -> str:
    return H.fmt_span(H.span(values), fmt) if values else ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000", help="rows, comma-separated")
    ap.add_argument("--solvers", default=",".join(SOLVERS), help="pca,knn,spectral")
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--centers", type=int, default=10, help="Gaussian centres of the input")
    ap.add_argument("--spread", type=float, default=1.0, help="scale of the centres")
    ap.add_argument("--components", type=int, default=10, help="PCA components (10)")
    ap.add_argument("--neighbors", type=int, default=10, help="k-NN and graph neighbours (10)")
    ap.add_argument("--clusters", type=int, default=10, help="spectral clusters (10)")
    ap.add_argument("--eigen-solver", default="lobpcg", choices=["lobpcg", "arpack", "amg"])
    ap.add_argument("--runs", "--rounds", type=int, default=3, help="alternating rounds (3)")
    ap.add_argument("--cpus", default=H.DEFAULT_CPUS, help="CPUs every run is pinned to")
    ap.add_argument("--max-seconds", type=float, default=900, help="skip above this estimate")
    ap.add_argument("--max-rss-gib", type=float, help="skip above this estimate (80%% of RAM)")
    ap.add_argument("--timeout", type=float, help="end a run after this (3 × --max-seconds)")
    ap.add_argument("--seqray", default=os.environ.get("SEQRAY"), help="seqray command")
    ap.add_argument("--workdir", type=Path, default=Path("bench/data/solvers"))
    ap.add_argument("--json", type=Path, help="also write the JSON report here")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    args.cpu_list = [int(c) for c in args.cpus.split(",")]
    sizes = sorted(int(s) for s in args.sizes.split(","))
    solvers = [s for s in args.solvers.split(",") if s]
    if set(solvers) - set(SOLVERS):
        ap.error(f"--solvers: one or more of {', '.join(SOLVERS)}")
    args.timeout = args.timeout or 3 * args.max_seconds
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    args.max_rss_gib = args.max_rss_gib or 0.8 * ram
    H.require("mpirun")
    if not os.access("/usr/bin/time", os.X_OK):
        sys.exit("GNU time is not installed: apt-get install time")
    args.workdir.mkdir(parents=True, exist_ok=True)
    import sklearn

    report = {
        **H.context(args),
        "command": shlex.join([sys.executable, *sys.argv]),
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "settings": {k: getattr(args, k) for k in ("dim", "centers", "spread", "components")}
        | {k: getattr(args, k) for k in ("neighbors", "clusters", "eigen_solver")}
        | {"max_seconds": args.max_seconds, "max_rss_gib": round(args.max_rss_gib, 1)},
        "cases": [],
    }
    best: dict[tuple[str, str], tuple[int, Run]] = {}  # (solver, tool) → last size's best
    stopped: dict[tuple[str, str], str] = {}  # (solver, tool) → why not at larger sizes
    rows = []
    for n in sizes:
        run = make_input(args.workdir, n, args.dim, args.centers, args.spread)
        for solver in solvers:
            label = f"{n:,} {solver}"
            out = args.workdir / "out" / f"{n}_{solver}"
            ts = tools_for(solver, run, out, args)
            got = {t.name: Outcome() for t in ts}
            active = []
            for t in ts:
                key = (solver, t.name)
                if key in stopped:
                    got[t.name].note = f"not run: {stopped[key]}"
                    continue
                est = estimate(best.get(key), n, solver)
                if est and est[0] > args.max_seconds:
                    why = f"skipped: estimated {est[0]:,.0f} s > --max-seconds {args.max_seconds:g}"
                elif est and est[1] > args.max_rss_gib * 1024:
                    why = f"skipped: estimated {est[1] / 1024:,.1f} GiB > {args.max_rss_gib:.1f}"
                else:
                    if est:
                        print(f"{label} {t.name}: estimated {est[0]:,.0f} s", file=sys.stderr)
                    active.append(t)
                    continue
                got[t.name].note = why
                stopped[key] = f"{why} at {n:,} rows"
                print(f"{label} {t.name}: {why}", file=sys.stderr)
            agree: dict = {}
            for r in range(args.runs):
                for t in active:
                    if got[t.name].note:
                        continue
                    res = run_once(t, solver, args)
                    if isinstance(res, str):
                        got[t.name].note = res
                        stopped[(solver, t.name)] = f"{res} at {n:,} rows"
                        print(f"{label} round {r + 1} {t.name}: {res}", file=sys.stderr)
                        continue
                    got[t.name].runs.append(res)
                    print(
                        f"{label} round {r + 1}/{args.runs} {t.name}: {res.wall_s:.2f} s",
                        file=sys.stderr,
                    )
                if r == 0:
                    agree = agreement(solver, ts, got, run)
                    refuse_if_disagree(label, solver, agree)
            for t in ts:
                if got[t.name].runs:
                    fastest = min(got[t.name].runs, key=lambda x: x.wall_s)
                    best[(solver, t.name)] = (n, fastest)
                if t.output.exists():
                    shutil.rmtree(t.output)
            if out.exists() and not any(out.iterdir()):
                out.rmdir()
            case = {"rows": n, "solver": solver, "input": str(run), "tools": {}}
            for t in ts:
                o = got[t.name]
                case["tools"][t.name] = {
                    "command": shlex.join(t.cmd),
                    "ranks": t.ranks,
                    "threads_per_process": t.threads,
                    "note": o.note,
                    "runs": [vars(x) for x in o.runs],
                    "agreement": agree.get(t.name, {}),
                }
            report["cases"].append(case)
            rows += table_rows(n, solver, ts, got, agree)
    lines = [
        f"pinned to CPUs {args.cpus}; {args.runs} alternating rounds; ranges min–max; "
        f"sklearn {sklearn.__version__}; N × {args.dim} float32, {args.centers} centres; "
        f"PCA K={args.components}, k-NN K={args.neighbors}, spectral C={args.clusters} "
        f"K={args.neighbors} ({args.eigen_solver})\n",
        "| rows | solver | tool | ranks | wall s | peak RSS MiB | per-rank RSS MiB "
        "| sklearn / this wall | agreement |",
        "|---:|---|---|---:|---:|---:|---:|---:|---|",
        *rows,
    ]
    report["load_avg_1min_after"] = os.getloadavg()[0]
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def table_rows(n: int, solver: str, ts: list[Tool], got: dict, agree: dict) -> list[str]:
    rows = []
    ref = got["sklearn"].runs
    for t in ts:
        o = got[t.name]
        ranks = str(t.ranks) if t.ranks else ""
        head = f"| {n:,} | {solver} | {t.name} | {ranks} |"
        if not o.runs:
            rows.append(f"{head} — | — | — | — | {o.note} |")
            continue
        wall = span_text([x.wall_s for x in o.runs], ".2f")
        rss = span_text([x.peak_rss_mib for x in o.runs], ",.0f")
        per_rank = " · ".join(f"{v:,.0f}" for v in o.runs[-1].per_rank_rss_mib)
        ratio = ""
        if t.ranks and ref:
            rs = [a.wall_s / b.wall_s for a, b in zip(ref, o.runs)]
            ratio = f"**{H.fmt_span(H.span(rs), suffix='×')}**"
        note = agree_text(solver, agree.get(t.name, {}))
        if o.note:
            note = f"{note}; {o.note}" if note else o.note
        rows.append(f"{head} {wall} | {rss} | {per_rank} | {ratio} | {note} |")
    return rows


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_peer":
        raise SystemExit(peer(sys.argv[2:]))
    H.refuse_on_disagreement(main)
