"""Embedding runs for the solver tests: vectors with known structure written as a seqray
run writes them (Parquet shards of uneven sizes, `source`/`record`/`name`/`vector`, a
manifest that `seqray.load_embeddings` validates); and the check of a solver's per-rank
report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from seqray.io.formats.parquet import ParquetShardWriter
from seqray.pipeline.manifest import write_manifest


def blobs(n: int, dim: int, centers: int, seed: int, spread: float = 10.0) -> tuple:
    """`n` vectors around `centers` well-separated centres; (vectors, true centre)."""
    rng = np.random.default_rng(seed)
    c = rng.normal(scale=spread, size=(centers, dim))
    truth = rng.integers(0, centers, n)
    x = c[truth] + rng.normal(size=(n, dim))
    return x.astype(np.float32), truth


def write_run(out: Path, x: np.ndarray, shard_rows: list[int]) -> Path:
    """`x` as a finished run at `out`: shards of `shard_rows` rows from two input files."""
    assert sum(shard_rows) == len(x)
    entries = []
    start = 0
    for i, rows in enumerate(shard_rows):
        idx = np.arange(start, start + rows)
        src = np.where(idx % 3 == 0, "a.fq", "b.fq")
        vec = pa.FixedSizeListArray.from_arrays(pa.array(x[idx].reshape(-1)), x.shape[1])
        t = pa.table(
            {
                "source": pa.array(src.tolist(), pa.large_string()).dictionary_encode(),
                "record": pa.array(idx * 7, pa.int64()),
                "name": pa.array([f"r{j}" for j in idx], pa.large_string()),
                "vector": vec,
            }
        )
        w = ParquetShardWriter(str(out / "vectors" / f"part-{i:05d}.parquet"), t.schema)
        w.write(t)
        f = w.commit().files[0]
        entries.append(
            {"uri": f.uri, "rows": rows, "bytes": f.bytes, "sha256": f.sha256, "stage": "write"}
            | {"format": "parquet"}
        )
        start += rows
    write_manifest(
        str(out),
        {
            "config": {},
            "config_hash": "0" * 64,
            "inputs": [],
            "chunks": [],
            "shards": entries,
            "files": [],
            "rejects": [],
            "stages": {},
            "reports": {},
            "reads": {},
        },
    )
    return out


def check_per_rank(out: Path, solver: str, ranks: int) -> None:
    """`reports.<solver>.per_rank`: one entry per rank, in rank order, each with its wall
    seconds (positive) and peak RSS in bytes (an int above 10 MiB, below 1 TiB)."""
    report = json.loads((out / "manifest.json").read_text())["reports"][solver]
    per_rank = report["per_rank"]
    assert report["ranks"] == ranks
    assert [r["rank"] for r in per_rank] == list(range(ranks))
    for r in per_rank:
        assert isinstance(r["seconds"], float) and 0 < r["seconds"] < 600
        assert isinstance(r["peak_rss_bytes"], int) and 10 << 20 < r["peak_rss_bytes"] < 1 << 40
