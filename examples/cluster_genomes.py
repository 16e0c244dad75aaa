"""Clusters reads by genome of origin: reads simulated from six real bacterial genomes →
qc → LSH k-mer embeddings → a Slurm job running the MPI spectral solver on 2 ranks →
cluster labels, scored by the adjusted Rand index against the true genome of each read.

    bash examples/cluster_genomes.sh [--reads-per-genome 500] [--length 5000] [--out DIR]

The genomes come from pinned Debian packages (bench/embed_data.py: E. coli, H. pylori,
S. aureus, V. cholerae, S. suis, R. denitrificans). Reads are 5 kb fragments at uniform
positions and strands with 1 % errors (60 % substitutions, 20 % insertions, 20 %
deletions). The job goes to the Slurm cluster this machine is configured for; without one
(and as root), a private one-node cluster is started for the run and stopped after it
(tests/hpc/slurm_cluster.py, the one the tests use).

Why 5 kb reads: a 150 bp read holds too little of its genome's composition to be placed
without a reference (4-mer profiles of 150 bp reads give an ARI of ~0.2 with the same
clustering), and the k-NN graph of short reads follows their overlaps along each genome,
so spectral clustering cuts the genomes into pieces. See docs/hpc.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.embed_data import DISTINCT, load_genome, simulate_injected  # noqa: E402


def adjusted_rand_index(truth: np.ndarray, labels: np.ndarray) -> float:
    """Hubert and Arabie's ARI, from the contingency table."""
    _, t = np.unique(truth, return_inverse=True)
    _, c = np.unique(labels, return_inverse=True)
    table = np.zeros((t.max() + 1, c.max() + 1), dtype=np.int64)
    np.add.at(table, (t, c), 1)

    def pairs(x: np.ndarray) -> float:
        return float((x * (x - 1) // 2).sum())

    n = len(truth)
    index = pairs(table)
    rows, cols = pairs(table.sum(1)), pairs(table.sum(0))
    expected = rows * cols / (n * (n - 1) / 2)
    top = (rows + cols) / 2
    return 1.0 if top == expected else (index - expected) / (top - expected)


def write_reads(out: Path, per_genome: int, length: int, rate: float, seed: int) -> Path:
    """reads.fastq (genomes mixed, names GENOME_N) from the genomes of bench/embed_data.py."""
    debs = out / "debs"
    chunks = []
    for g, label in enumerate(DISTINCT):
        reads = simulate_injected(
            load_genome(label, debs, True), per_genome, rate, seed + g, length
        )
        for i in range(len(reads)):
            a, b = reads.offsets[i], reads.offsets[i + 1]
            name = f"{label}_{i}".encode()
            seq, qual = reads.seq[a:b].tobytes(), reads.qual[a:b].tobytes()
            chunks.append(b"@" + name + b"\n" + seq + b"\n+\n" + qual + b"\n")
    order = np.random.default_rng(seed).permutation(len(chunks))
    path = out / "reads.fastq"
    path.write_bytes(b"".join(chunks[i] for i in order))
    return path


def config(reads: Path, run: Path, clusters: int, ranks: int) -> dict:
    return {
        "output": str(run),
        "stages": [
            {"read": {"paths": [str(reads)]}},
            {"qc": {}},
            {"train_embeddings": {"hash": "lsh", "k": 8, "hash_bits": 16, "dim": 64, "epochs": 3}},
            {"embed": {}},
            {"write": {"format": "parquet", "path": "vectors"}},
            {
                "hpc": {
                    "solver": "spectral",
                    "clusters": clusters,
                    "neighbors": 15,
                    "ranks": ranks,
                    "executor": "slurm",
                }
            },
        ],
    }


def slurm_up() -> bool:
    try:
        return subprocess.run(["sinfo"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "examples" / "out" / "cluster")
    ap.add_argument("--reads-per-genome", type=int, default=500)
    ap.add_argument("--length", type=int, default=5000)
    ap.add_argument("--error-rate", type=float, default=0.01)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args(argv)
    out: Path = args.out
    run = out / "run"
    if run.exists():
        sys.exit(f"{run} exists: remove it (or give another --out) to run the example again")
    out.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    reads = write_reads(out, args.reads_per_genome, args.length, args.error_rate, args.seed)
    times["simulate reads"] = time.perf_counter() - t0
    cluster = None
    if not slurm_up():
        if os.geteuid() != 0:
            sys.exit("no Slurm cluster answers (sinfo), and starting a private one needs root")
        from tests.hpc.slurm_cluster import SlurmCluster

        cluster = SlurmCluster(tempfile.mkdtemp(prefix="seqray-slurm-")).start()
        os.environ["SLURM_CONF"] = str(cluster.conf)
        print(f"started a one-node Slurm cluster ({cluster.conf})", flush=True)
    try:
        cfg = out / "cluster.yaml"
        cfg.write_text(yaml.safe_dump(config(reads, run, len(DISTINCT), args.ranks)))
        seqray = Path(sys.executable).parent / "seqray"
        t0 = time.perf_counter()
        subprocess.run([str(seqray), "run", str(cfg)], check=True)
        times["seqray run"] = time.perf_counter() - t0
    finally:
        if cluster is not None:
            cluster.stop()
            shutil.rmtree(cluster.root, ignore_errors=True)
    return report(out, run, times)


def report(out: Path, run: Path, times: dict[str, float]) -> int:
    import pyarrow.dataset as ds

    manifest = json.loads((run / "manifest.json").read_text())
    labels = ds.dataset(run / "hpc" / "result" / "labels").to_table(["name", "label"])
    names = labels.column("name").to_pylist()
    truth = np.array([n.rsplit("_", 1)[0] for n in names])
    ari = adjusted_rand_index(truth, labels.column("label").to_numpy())
    hpc = manifest["reports"]["hpc"]
    stages = {"simulate reads": times["simulate reads"]}
    for p in manifest.get("prepare", []):  # the passes before the main one (training)
        stages[f"{p['stage']}: pass before the main one"] = p["seconds"]
    order = ["read"] + [next(iter(st)) for st in manifest["config"]["stages"][1:]]
    for name in order:  # the main pass, per stage, in the pipeline's order
        if name != "hpc":
            stages[f"{name}: main pass"] = manifest["stages"][name]["seconds"]
    stages["hpc: Slurm job, submitted to ended"] = hpc["seconds_waited"]
    stages["seqray run, whole command"] = times["seqray run"]
    result = {
        "reads": len(names),
        "genomes": len(set(truth)),
        "adjusted_rand_index": round(ari, 4),
        "jobs": hpc["jobs"],
        "seconds": {k: round(v, 3) for k, v in stages.items()},
    }
    (out / "report.json").write_text(json.dumps(result, indent=1))
    print(
        f"\n{len(names)} reads from {len(set(truth))} genomes; Slurm job {hpc['jobs'][0]['job_id']}"
    )
    for k, v in stages.items():
        print(f"  {k:<42} {v:8.1f} s")
    print(f"adjusted Rand index vs the genome of origin: {ari:.4f} (target >= 0.9)")
    print(f"report: {out / 'report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
