"""What every solver shares: the communicator (mpi4py's world under mpirun/srun, a
one-rank stand-in otherwise), reading a rank's rows, the output directory and its
manifest, and the error boundary of `python -m seqray.solvers.<name>`."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import OutputError, SeqrayError
from ..io.formats.parquet import ParquetShardWriter
from ..io.fs import filesystem_for, join
from ..io.load_embeddings import Embeddings, load_embeddings
from ..pipeline.manifest import file_sha256, write_manifest
from .partition import Partition, partition_rows


class SelfComm:
    """One rank, no MPI: the few mpi4py calls the solvers make, for a run without a
    launcher (and without mpi4py installed)."""

    def Get_rank(self) -> int:  # noqa: N802  mpi4py's spelling
        return 0

    def Get_size(self) -> int:  # noqa: N802
        return 1

    def Allreduce(self, send: np.ndarray, recv: np.ndarray, op: Any = None) -> None:  # noqa: N802
        recv[...] = send

    def allgather(self, obj: Any) -> list[Any]:
        return [obj]

    def gather(self, obj: Any, root: int = 0) -> list[Any]:
        return [obj]

    def bcast(self, obj: Any, root: int = 0) -> Any:
        return obj

    def alltoall(self, objs: list[Any]) -> list[Any]:
        return list(objs)

    def Barrier(self) -> None:  # noqa: N802
        pass

    def Abort(self, code: int = 1) -> None:  # noqa: N802
        os._exit(code)


def world() -> Any:
    """mpi4py's COMM_WORLD when a launcher (mpirun, srun) started more than one rank,
    else a one-rank SelfComm (no MPI needed)."""
    sizes = [os.environ.get(v) for v in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")]
    launched = any(s and s != "1" for s in sizes) or (
        os.environ.get("SLURM_STEP_NUM_TASKS", "1") != "1"
    )
    if not launched:
        return SelfComm()
    from mpi4py import MPI

    return MPI.COMM_WORLD


@dataclass
class Share:
    """A rank's rows of the input: vectors (float64), identity columns, global offset."""

    part: Partition
    lo: int
    vectors: np.ndarray
    source: np.ndarray
    record: np.ndarray
    name: np.ndarray
    dim: int


def read_share(where: str, comm: Any) -> Share:
    """This rank's contiguous rows of the embeddings at `where` (a run's directory or its
    manifest): only the shards holding them are opened."""
    e: Embeddings = load_embeddings(where)
    try:
        v = e.vectors
        if v is None:
            raise SeqrayError(
                f"{where}: per-token arrays, not one vector per read: the solvers need "
                "pooled vectors (embed without per_token)"
            )
        part = partition_rows(len(v), comm.Get_size())
        lo, hi = part.range(comm.Get_rank())
        vectors = np.asarray(v[lo:hi], dtype=np.float64)
        ids = [np.asarray(c[lo:hi]) for c in (e.source, e.record, e.name)]
        dim = int(v.shape[1])
    finally:
        e.close()
    return Share(part, lo, vectors, ids[0], ids[1].astype(np.int64), ids[2], dim)


# where `seqray solve --executor slurm` keeps the job's script and logs, inside the output
JOB_DIR = ".seqray-job"


def check_output(output: str) -> None:
    """The output directory must be new or empty (inside a Slurm job, but for the job
    directory of the launch that made it): a solver never writes among files it did not
    create."""
    fs, path = filesystem_for(output)
    info = fs.get_file_info(path)
    if info.type == pa.fs.FileType.NotFound:
        return
    if info.type != pa.fs.FileType.Directory:
        raise OutputError(f"{output}: exists and is not a directory")
    entries = fs.get_file_info(pa.fs.FileSelector(path, recursive=False))
    ours = JOB_DIR if os.environ.get("SLURM_JOB_ID") else None
    if any(e.base_name != ours for e in entries):
        raise OutputError(f"{output}: is not empty; give a new or empty directory")


def identity_table(share: Share, columns: dict[str, pa.Array]) -> pa.Table:
    """A rank's rows: `source`, `record`, `name` (the reads' identity), `row` (the global
    row in the input), then `columns`."""
    n = len(share.record)
    table = {
        "source": pa.array(share.source, pa.large_string()).dictionary_encode(),
        "record": pa.array(share.record, pa.int64()),
        "name": pa.array(share.name, pa.large_string()),
        "row": pa.array(np.arange(share.lo, share.lo + n, dtype=np.int64)),
    }
    return pa.table({**table, **columns})


def fixed_list(a: np.ndarray) -> pa.FixedSizeListArray:
    """A [rows, K] array as a fixed_size_list<K> column."""
    rows, k = a.shape
    return pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(a).reshape(-1)), k)


def write_rank_shard(output: str, what: str, rank: int, table: pa.Table) -> dict[str, Any]:
    """Rank `rank`'s shard `OUT/<what>/part-<rank>.parquet`, atomically; its manifest entry."""
    w = ParquetShardWriter(join(output, what, f"part-{rank:05d}.parquet"), table.schema)
    try:
        w.write(table)
        shard = w.commit()
    except BaseException:
        w.abort()
        raise
    f = shard.files[0]
    return {"uri": f.uri, "rows": f.rows, "bytes": f.bytes, "sha256": f.sha256}


def finish(
    output: str,
    solver: str,
    args: dict[str, Any],
    source: str,
    shards: list[dict[str, Any]],
    files: list[dict[str, Any]],
    report: dict[str, Any],
    rows: int,
    seconds: float,
) -> str:
    """Rank 0: the output's manifest (a seqray manifest: `seqray.load_embeddings(OUT)`
    reads the shards, `files` lists the other outputs), written last."""
    from ..pipeline.manifest import MANIFEST, load

    in_uri = source if source.endswith(".json") else join(source, MANIFEST)
    size, sha = file_sha256(in_uri)
    load(source)  # still complete and valid
    config = {"solver": solver, "input": source, **args}
    body = {
        "config": config,
        "config_hash": hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest(),
        "inputs": [{"uri": in_uri, "size": size, "format": "manifest", "checksum": sha}],
        "chunks": [],
        "shards": [{**s, "stage": solver, "format": "parquet"} for s in shards],
        "files": files,
        "rejects": [],
        "stages": {
            solver: {
                "takes": "vectors",
                "gives": solver,
                "rows_in": rows,
                "rows_out": sum(s["rows"] for s in shards),
                "seconds": round(seconds, 3),
            }
        },
        "reports": {solver: report},
        "reads": {"in": rows, "out": rows},
    }
    return write_manifest(output, body)


def run_main(name: str, solve: Callable[[Any, Any], None], parser: Any) -> int:
    """`python -m seqray.solvers.<name>`: parse, solve on every rank; an error is printed
    by the rank that met it and ends every rank (exit 1) instead of leaving the others
    waiting in a collective."""
    args = parser.parse_args()
    comm = world()
    try:
        solve(comm, args)
    except Exception as exc:  # noqa: BLE001  the error boundary of a rank
        rank = comm.Get_rank()
        if isinstance(exc, SeqrayError):
            print(f"seqray.solvers.{name} rank {rank}: error: {exc}", file=sys.stderr)
        else:
            traceback.print_exc()
            print(f"seqray.solvers.{name} rank {rank}: failed: {exc!r}", file=sys.stderr)
        sys.stderr.flush()
        if comm.Get_size() > 1:
            comm.Abort(1)
        return 1
    return 0


def now() -> float:
    return time.perf_counter()


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far (`getrusage`: KiB on Linux, bytes on
    macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def gather_shards(
    comm: Any, entry: dict[str, Any], t0: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
    """Rank 0: every rank's shard entry, and every rank's use so far (`rank`, `seconds`
    since `t0`, `peak_rss_bytes`) for the report's `per_rank`; None elsewhere."""
    use = {"rank": comm.Get_rank(), "seconds": round(now() - t0, 3)}
    got = comm.gather((entry, {**use, "peak_rss_bytes": peak_rss_bytes()}), root=0)
    if got is None:
        return None
    return [e for e, _ in got], [u for _, u in got]
