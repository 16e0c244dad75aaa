"""Spectral clustering: `python -m seqray.solvers.spectral EMBEDDINGS -o OUT --clusters C
--neighbors K`.

As scikit-learn's `SpectralClustering(affinity="nearest_neighbors")`: the connectivity
graph C of each vector's K nearest vectors (itself included, exact, `knn.knn_graph`), the
symmetric affinity A = (C + Cᵀ)/2, and the C eigenvectors of the largest eigenvalues of
the normalised affinity D^-1/2 A D^-1/2 (those of the smallest of the normalised Laplacian
I − D^-1/2 A D^-1/2), scaled by D^-1/2; then k-means++ (fixed seed, 10 starts) on their
rows. The graph is never dense: each rank holds its rows of A (sparse, about 2K entries a
row); the transposed edges go to their owners with one `alltoall`. Rank 0 runs LOBPCG
(SciPy) on an operator whose mat-vec is distributed: the block of vectors is broadcast,
each rank multiplies its rows, rank 0 gathers. Memory per rank: its rows and A's rows,
plus N × C for the broadcast block (rank 0: LOBPCG's few N × C blocks).

Output: `OUT/labels/part-<rank>.parquet` (`source`, `record`, `name`, `row`, `label`
int32), `OUT/spectral.npz` (`eigenvalues`, `embedding` [N, C]), `OUT/manifest.json`.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import InputError
from ..io.fs import join
from ..io.writers import write_npz
from ._common import (
    check_output,
    finish,
    gather_shards,
    identity_table,
    now,
    read_share,
    run_main,
    write_rank_shard,
)
from .knn import knn_graph
from .partition import Partition

SEED = 0


def affinity_rows(comm: Any, neighbors: np.ndarray, part: Partition) -> Any:
    """This rank's rows of A = (C + Cᵀ)/2 (scipy CSR, [rows, N]); `neighbors`: each local
    row's nearest other rows (global), the row itself being added as sklearn does."""
    from scipy import sparse

    rank, size = comm.Get_rank(), comm.Get_size()
    lo, hi = part.range(rank)
    n_loc, n = hi - lo, part.total
    rows = np.repeat(np.arange(lo, hi, dtype=np.int64), neighbors.shape[1] + 1)
    cols = np.concatenate([np.arange(lo, hi, dtype=np.int64)[:, None], neighbors], 1).ravel()
    owner = np.searchsorted(part.bounds, cols, "right") - 1
    order = np.argsort(owner, kind="stable")
    cuts = np.searchsorted(owner[order], np.arange(size + 1))
    out = [
        np.stack([cols[order[cuts[r] : cuts[r + 1]]], rows[order[cuts[r] : cuts[r + 1]]]])
        for r in range(size)
    ]
    got = np.concatenate(comm.alltoall(out), axis=1)  # Cᵀ's entries of my rows
    r_all = np.concatenate([rows, got[0]]) - lo
    c_all = np.concatenate([cols, got[1]])
    a = sparse.coo_matrix((np.full(len(r_all), 0.5), (r_all, c_all)), shape=(n_loc, n))
    return a.tocsr()


class _Operator:
    """The normalised affinity, its rows spread over the ranks: rank 0 multiplies, the
    others serve (`serve`) until told to stop."""

    def __init__(self, comm: Any, m_loc: Any):
        self.comm, self.m_loc = comm, m_loc

    def matmat(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.comm.Get_size() == 1:
            return np.asarray(self.m_loc @ x)
        self.comm.bcast(("mv", x), root=0)
        parts = self.comm.gather(np.asarray(self.m_loc @ x), root=0)
        return np.concatenate(parts)

    def serve(self) -> None:
        while True:
            cmd, x = self.comm.bcast(None, root=0)
            if cmd == "stop":
                return
            self.comm.gather(np.asarray(self.m_loc @ x), root=0)

    def stop(self) -> None:
        if self.comm.Get_size() > 1:
            self.comm.bcast(("stop", None), root=0)


def top_eigenvectors(op: _Operator, n: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    """Rank 0: the `c` largest eigenpairs of the operator (LOBPCG, fixed start)."""
    from scipy.sparse.linalg import LinearOperator, lobpcg

    lin = LinearOperator((n, n), matvec=op.matmat, matmat=op.matmat, dtype=np.float64)
    x0 = np.random.default_rng(SEED).normal(size=(n, c))
    if n < 5 * c + 1:  # too small for LOBPCG: the dense matrix is tiny
        dense = op.matmat(np.eye(n))
        vals, vecs = np.linalg.eigh((dense + dense.T) / 2)
        return vals[::-1][:c], vecs[:, ::-1][:, :c]
    vals, vecs = lobpcg(lin, x0, largest=True, tol=1e-6, maxiter=1000)
    order = np.argsort(vals)[::-1]
    return vals[order], vecs[:, order]


def kmeans(x: np.ndarray, c: int, seed: int = SEED, starts: int = 10, iters: int = 300) -> Any:
    """k-means++ starts, then Lloyd; the labels of the start with the least inertia."""
    rng = np.random.default_rng(seed)
    x2 = np.einsum("ij,ij->i", x, x)
    best: tuple[float, np.ndarray] | None = None
    for _ in range(starts):
        centres = x[[rng.integers(len(x))]]
        d = np.maximum(x2 - 2 * x @ centres[0] + centres[0] @ centres[0], 0)
        for _ in range(1, c):
            p = d / d.sum() if d.sum() > 0 else np.full(len(x), 1 / len(x))
            nxt = x[rng.choice(len(x), p=p)]
            centres = np.vstack([centres, nxt])
            d = np.minimum(d, np.maximum(x2 - 2 * x @ nxt + nxt @ nxt, 0))
        labels = np.zeros(len(x), np.int64)
        for _ in range(iters):
            dist = x2[:, None] - 2 * x @ centres.T + np.einsum("ij,ij->i", centres, centres)
            new = np.argmin(dist, axis=1)
            counts = np.bincount(new, minlength=c)
            sums = np.zeros_like(centres)
            np.add.at(sums, new, x)
            keep = counts > 0
            moved = centres.copy()
            moved[keep] = sums[keep] / counts[keep, None]
            if (new == labels).all() and np.allclose(moved, centres):
                break
            labels, centres = new, moved
        inertia = float(np.maximum(dist[np.arange(len(x)), labels], 0).sum())
        if best is None or inertia < best[0]:
            best = (inertia, labels)
    assert best is not None
    return best[1]


def solve(comm: Any, args: argparse.Namespace) -> None:
    from scipy import sparse

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
    n, k, c = share.part.total, args.neighbors, args.clusters
    if not (2 <= k <= n and 2 <= c < n):
        if rank == 0:
            raise InputError(
                f"{args.embeddings}: {n} vectors: --neighbors must be between 2 and {n} "
                f"and --clusters between 2 and {n - 1} (got {k}, {c})"
            )
        return
    _, idx = knn_graph(comm, share.vectors, share.part, k - 1)
    a_loc = affinity_rows(comm, idx, share.part)
    deg_loc = np.asarray(a_loc.sum(axis=1)).ravel()
    deg = np.concatenate(comm.allgather(deg_loc))
    inv = 1.0 / np.sqrt(deg)
    lo, hi = share.part.range(rank)
    m_loc = (sparse.diags(inv[lo:hi]) @ a_loc @ sparse.diags(inv)).tocsr()
    op = _Operator(comm, m_loc)
    if rank == 0:
        try:
            vals, vecs = top_eigenvectors(op, n, c)
        finally:
            op.stop()
        emb = vecs * inv[:, None]
        emb *= np.sign(emb[np.argmax(np.abs(emb), axis=0), np.arange(c)])  # fixed signs
        labels = kmeans(emb, c).astype(np.int32)
    else:
        op.serve()
        labels = None
    labels = comm.bcast(labels, root=0)
    table = identity_table(share, {"label": pa.array(labels[lo:hi], pa.int32())})
    entry = write_rank_shard(args.output, "labels", rank, table)
    gathered = gather_shards(comm, entry, t0)
    if gathered is not None:  # rank 0
        entries, per_rank = gathered
        model = write_npz(
            join(args.output, "spectral.npz"), {"eigenvalues": vals, "embedding": emb}
        )
        report = {
            "rows": n,
            "dim": share.dim,
            "clusters": c,
            "neighbors": k,
            "ranks": comm.Get_size(),
            "per_rank": per_rank,
            "eigenvalues": vals.tolist(),
            "sizes": np.bincount(labels, minlength=c).tolist(),
        }
        finish(
            args.output,
            "spectral",
            {"clusters": c, "neighbors": k},
            args.embeddings,
            entries,
            [model.to_json()],
            report,
            n,
            now() - t0,
        )
    comm.Barrier()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m seqray.solvers.spectral", description=__doc__)
    p.add_argument("embeddings", help="a seqray run's output directory or its manifest")
    p.add_argument("-o", "--output", required=True, help="a new or empty output directory")
    p.add_argument("--clusters", type=int, default=8, help="clusters (8)")
    p.add_argument("--neighbors", type=int, default=10, help="graph neighbours, self included")
    return p


def main() -> int:
    return run_main("spectral", solve, parser())


if __name__ == "__main__":
    raise SystemExit(main())
