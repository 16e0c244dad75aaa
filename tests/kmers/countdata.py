"""Inputs and runners shared by the k-mer counting tests."""

from __future__ import annotations

import gzip
import importlib.util
import json
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from seqray.cli.main import main

from ..conftest import EXAMPLES, ROOT


def correct_bench():
    """bench/correct_accuracy.py as a module: art_illumina simulation, its truth, scoring."""
    spec = importlib.util.spec_from_file_location(
        "correct_accuracy", ROOT / "bench/correct_accuracy.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def tricky_reads(path: Path, n: int = 400, seed: int = 7) -> Path:
    """Reads with N runs, lower case, lengths 0..60 (many shorter than k), exactly k, poly-T."""
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            L = rng.choice([0, 1, 14, 15, 20, 21, 24, 25, 30, 31, 32, 33, rng.randint(0, 60)])
            s = "".join(rng.choice("ACGTACGTACGTN") for _ in range(L))
            if i % 50 == 0:
                s = "T" * 40
            if i % 7 == 0:
                s = s.lower()
            f.write(f"@t{i}\n{s}\n+\n{'I' * L if i % 50 else 'I' * 40}\n")
    return path


def parity_input(tmp: Path) -> Path:
    """Real HiSeq reads (Phred+64, '.' for N) plus the tricky reads, as one FASTQ file."""
    out = tmp / "parity.fq"
    with open(out, "wb") as f:
        with gzip.open(EXAMPLES / "real_R1.fastq.gz") as g:
            shutil.copyfileobj(g, f)
        f.write(tricky_reads(tmp / "tricky.fq").read_bytes())
    return out


def seqray_count(inputs: list[Path], out: Path, k: int, *extra: str) -> dict:
    argv = ["count", "-k", str(k), *map(str, inputs), "-o", str(out), "--overwrite", *extra]
    assert main(argv) == 0
    return json.loads((out / "summary.json").read_text())


def read_counts(out: Path) -> tuple[np.ndarray, np.ndarray]:
    t = pq.read_table(out / "counts")
    return t.column("kmer").to_numpy(), t.column("count").to_numpy()


def jellyfish(inputs: list[Path], tmp: Path, k: int, canonical: bool = True) -> dict:
    """jellyfish count, then stats, histo and dump -c: the peer's whole answer."""
    db = tmp / f"jf{k}.jf"
    cmd = ["jellyfish", "count", "-m", str(k), "-s", "10M", "-t", "2", "-o", str(db)]
    subprocess.run(cmd + (["-C"] if canonical else []) + [str(p) for p in inputs], check=True)
    stats = subprocess.run(["jellyfish", "stats", str(db)], check=True, capture_output=True)
    st = dict(line.split(":") for line in stats.stdout.decode().splitlines() if ":" in line)
    histo = subprocess.run(["jellyfish", "histo", str(db)], check=True, capture_output=True)
    dump = subprocess.run(["jellyfish", "dump", "-c", str(db)], check=True, capture_output=True)
    counts = {}
    for line in dump.stdout.decode().splitlines():
        kmer, c = line.split()
        counts[kmer] = int(c)
    return {
        "distinct": int(st["Distinct"]),
        "total": int(st["Total"]),
        "singletons": int(st["Unique"]),
        "max_count": int(st["Max_count"]),
        "histo": histo.stdout.decode(),
        "counts": counts,
        "db": db,
    }
