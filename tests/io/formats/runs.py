"""Pipeline runs shared by the array-format and loader tests: reads → embed (a tiny
k-mer model) → write, several chunks, each format; the Parquet run is the reference."""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import RunResult, run_pipeline

from ...conftest import write_random_fastq
from ...embed.exact_hasher import tiny_model

ARRAY_FORMATS = ["hdf5", "netcdf", "zarr"]
EXT = {"parquet": ".parquet", "hdf5": ".h5", "netcdf": ".nc", "zarr": ".zarr"}
READS = 150
DIM = 5


def make_inputs(base: Path) -> tuple[Path, Path]:
    """A model directory and two FASTQ files (reads of every length, some k-mer-less)."""
    base.mkdir(parents=True, exist_ok=True)
    model = base / "model"
    if not model.exists():
        tiny_model(k=3, dim=DIM, dtype="float16").save(str(model))
    write_random_fastq(base / "a.fq", READS, seed=3, max_len=40)
    write_random_fastq(base / "b.fq", 40, seed=4, max_len=30)
    return model, base


def config(out: Path, inputs: Path, model: Path, fmt: str, dtype: str = "float32", **extra) -> dict:
    per_token = extra.pop("per_token", False)
    write = {"format": fmt, "path": "vectors", **extra}
    return {
        "output": str(out),
        "run": {"runner": "local", "chunk_bytes": 3_000},
        "stages": [
            {"read": {"paths": [str(inputs / "a.fq"), str(inputs / "b.fq")]}},
            {"embed": {"model": str(model), "dtype": dtype, "per_token": per_token}},
            {"write": write},
        ],
    }


def run(out: Path, inputs: Path, model: Path, fmt: str, **kw) -> RunResult:
    return run_pipeline(parse_config(config(out, inputs, model, fmt, **kw)))


def shards(out: Path, fmt: str) -> list[str]:
    """The shards in read order (their names sort as the chunks do)."""
    return sorted(glob.glob(str(out / "vectors" / f"part-*{EXT[fmt]}")))


def parquet_table(out: Path) -> pa.Table:
    return pa.concat_tables(pq.read_table(p) for p in shards(out, "parquet"))


def fixed(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A fixed_size_list column as a [rows, D] array."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return arr.flatten().to_numpy(zero_copy_only=False).reshape(len(arr), arr.type.list_size)
