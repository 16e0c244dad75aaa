"""Exact k-nearest-neighbour graph: `python -m seqray.solvers.knn EMBEDDINGS -o OUT
--neighbors K`.

Each rank holds its rows (the queries) and passes a block of rows around the ring of
ranks (`Sendrecv`, P steps): every query block meets every row once. Distances of a block
pair come from BLAS (`|a|² + |b|² − 2 a·bᵀ`, float64, clipped at 0), in tiles; each
tile is cut to its k nearest per row (`argpartition`) and merged with the best so far. A
row is not its own neighbour. Ties are broken by the lower global row, so the graph is the
same with any number of ranks. Memory per rank: its rows, one travelling block, and a
TILE × TILE distance tile. Equals scikit-learn's brute-force `NearestNeighbors`
(indices equal where distances differ by more than rounding, distances to rtol 1e-6).

Output: `OUT/neighbors/part-<rank>.parquet` (`source`, `record`, `name`, `row`,
`neighbors` int64[K] global rows of the input in read order, `distances` float32[K]
Euclidean, nearest first), `OUT/manifest.json`.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ..errors import InputError
from ._common import (
    check_output,
    finish,
    fixed_list,
    gather_shards,
    identity_table,
    now,
    read_share,
    run_main,
    write_rank_shard,
)

TILE = 2048  # rows and columns of one distance tile (32 MB of float64)
NONE = np.iinfo(np.int64).max  # the row of an empty slot (sorts after every real row)


def smallest(d: np.ndarray, cols: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of `d` ([rows, m]; column j is row `cols[j]`, increasing), the `k`
    smallest values and their rows, ties at the k-th value kept for the lower row; not
    sorted."""
    rows, m = d.shape
    if m <= k:
        return d, np.broadcast_to(cols, d.shape)
    pos = np.argpartition(d, k - 1, axis=1)[:, :k]
    got = np.take_along_axis(d, pos, 1)
    kth = got.max(axis=1, keepdims=True)
    over = np.flatnonzero(np.count_nonzero(d <= kth, axis=1) > k)  # ties at the k-th value
    if len(over):
        sub, at = d[over], kth[over]
        tie = sub == at
        room = k - np.count_nonzero(sub < at, axis=1)[:, None]
        keep = (sub < at) | (tie & (np.cumsum(tie, axis=1) <= room))
        pos[over] = np.nonzero(keep)[1].reshape(len(over), k)
        got[over] = np.take_along_axis(sub, pos[over], 1)
    return got, cols[pos]


def merge(
    best_d: np.ndarray, best_i: np.ndarray, d: np.ndarray, i: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest of two candidate sets, sorted by (distance, row)."""
    cd, ci = np.concatenate([best_d, d], axis=1), np.concatenate([best_i, i], axis=1)
    order = np.lexsort((ci, cd), axis=1)[:, :k]
    return np.take_along_axis(cd, order, 1), np.take_along_axis(ci, order, 1)


def block_neighbors(
    q: np.ndarray,
    q_lo: int,
    b: np.ndarray,
    b_lo: int,
    best_d: np.ndarray,
    best_i: np.ndarray,
    k: int,
    tile: int = TILE,
) -> tuple[np.ndarray, np.ndarray]:
    """Fold block `b` (global rows from `b_lo`) into the best k (squared distances) of
    queries `q` (global rows from `q_lo`), in tiles of at most `tile` × `tile`."""
    out_d, out_i = best_d.copy(), best_i.copy()
    b2 = np.einsum("ij,ij->i", b, b)
    for r in range(0, len(q), tile):
        qt = q[r : r + tile]
        q2 = np.einsum("ij,ij->i", qt, qt)[:, None]
        bd, bi = out_d[r : r + tile], out_i[r : r + tile]
        for s in range(0, len(b), tile):
            t = b[s : s + tile]
            d = qt @ t.T
            d *= -2.0
            d += q2
            d += b2[None, s : s + tile]
            np.maximum(d, 0.0, out=d)
            cols = np.arange(b_lo + s, b_lo + s + len(t), dtype=np.int64)
            same = np.arange(max(q_lo + r, b_lo + s), min(q_lo + r + len(qt), b_lo + s + len(t)))
            d[same - (q_lo + r), same - (b_lo + s)] = np.inf  # a row is not its own neighbour
            td, ti = smallest(d, cols, k)
            bd, bi = merge(bd, bi, td, ti, k)
        out_d[r : r + tile], out_i[r : r + tile] = bd, bi
    return out_d, out_i


def knn_graph(comm: Any, x: np.ndarray, part: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    """This rank's rows' k nearest rows (global) and Euclidean distances, over all ranks."""
    rank, size = comm.Get_rank(), comm.Get_size()
    lo, _ = part.range(rank)
    best_d = np.full((len(x), k), np.inf)
    best_i = np.full((len(x), k), NONE, dtype=np.int64)
    cur, owner = np.ascontiguousarray(x), rank
    for step in range(size):
        best_d, best_i = block_neighbors(x, lo, cur, part.range(owner)[0], best_d, best_i, k)
        if step == size - 1:
            break
        nxt_owner = (owner - 1) % size
        nxt = np.empty((part.rows(nxt_owner), x.shape[1]), dtype=np.float64)
        comm.Sendrecv(cur, dest=(rank + 1) % size, recvbuf=nxt, source=(rank - 1) % size)
        cur, owner = nxt, nxt_owner
    return np.sqrt(best_d), best_i


def solve(comm: Any, args: argparse.Namespace) -> None:
    t0 = now()
    rank = comm.Get_rank()
    err = None
    if rank == 0:
        try:
            check_output(args.output)
        except Exception as exc:  # noqa: BLE001  told to every rank
            err = exc
    err = comm.bcast(err, root=0)
    if err is not None:
        if rank == 0:
            raise err
        return
    share = read_share(args.embeddings, comm)
    n, k = share.part.total, args.neighbors
    if not 1 <= k <= n - 1:
        if rank == 0:
            raise InputError(
                f"{args.embeddings}: {n} vectors: --neighbors must be between 1 and "
                f"{max(n - 1, 0)}, not {k}"
            )
        return
    dist, idx = knn_graph(comm, share.vectors, share.part, k)
    table = identity_table(
        share, {"neighbors": fixed_list(idx), "distances": fixed_list(dist.astype(np.float32))}
    )
    entry = write_rank_shard(args.output, "neighbors", rank, table)
    gathered = gather_shards(comm, entry, t0)
    if gathered is not None:  # rank 0
        entries, per_rank = gathered
        report = {
            "rows": n,
            "dim": share.dim,
            "neighbors": k,
            "ranks": comm.Get_size(),
            "per_rank": per_rank,
        }
        finish(
            args.output,
            "knn",
            {"neighbors": k},
            args.embeddings,
            entries,
            [],
            report,
            n,
            now() - t0,
        )
    comm.Barrier()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m seqray.solvers.knn", description=__doc__)
    p.add_argument("embeddings", help="a seqray run's output directory or its manifest")
    p.add_argument("-o", "--output", required=True, help="a new or empty output directory")
    p.add_argument("--neighbors", type=int, default=10, help="neighbours per row (10)")
    return p


def main() -> int:
    return run_main("knn", solve, parser())


if __name__ == "__main__":
    raise SystemExit(main())
