"""Distributed PCA: `python -m seqray.solvers.pca EMBEDDINGS -o OUT --components K`.

Each rank reads its rows; the mean and then the centred D×D covariance are summed over
ranks with `Allreduce` (float64, two passes: no cancellation from E[x²] − E[x]²); every
rank takes the same `eigh` of the covariance; each rank projects its own rows. Memory per
rank: its rows (N/P × D float64) plus D×D. The result equals scikit-learn's PCA (full
SVD): explained variance to rtol 1e-6, components up to sign (signs are fixed here: each
component's largest-magnitude entry is positive).

Output: `OUT/projections/part-<rank>.parquet` (`source`, `record`, `name`, `row`,
`vector` float32[K]), `OUT/pca.npz` (`components` [K, D], `mean` [D],
`explained_variance`, `explained_variance_ratio`, `singular_values`), `OUT/manifest.json`.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ..errors import InputError
from ..io.fs import join
from ..io.writers import write_npz
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


def _sum(comm: Any, a: np.ndarray) -> np.ndarray:
    out = np.empty_like(a)
    if comm.Get_size() == 1:
        out[...] = a
        return out
    from mpi4py import MPI

    comm.Allreduce(a, out, op=MPI.SUM)
    return out


def fit_pca(comm: Any, x: np.ndarray, n: int, k: int) -> dict[str, np.ndarray]:
    """The first `k` principal components of the rows all ranks hold (`x`: this rank's,
    float64; `n`: the total rows)."""
    mean = _sum(comm, x.sum(axis=0)) / n
    xc = x - mean
    cov = _sum(comm, xc.T @ xc) / (n - 1)
    total = float(np.trace(cov))
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1][:k]
    values = np.clip(values[order], 0.0, None)
    comps = vectors[:, order].T  # [k, D]
    big = np.argmax(np.abs(comps), axis=1)
    comps *= np.sign(comps[np.arange(k), big])[:, None]
    return {
        "components": comps,
        "mean": mean,
        "explained_variance": values,
        "explained_variance_ratio": values / total if total > 0 else np.zeros_like(values),
        "singular_values": np.sqrt(values * (n - 1)),
    }


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
    n, d, k = share.part.total, share.dim, args.components
    if not 1 <= k <= min(d, n - 1 if n > 1 else 0):
        if rank == 0:
            raise InputError(
                f"{args.embeddings}: {n} vectors of dimension {d}: --components must be "
                f"between 1 and {min(d, max(n - 1, 0))}, not {k}"
            )
        return
    model = fit_pca(comm, share.vectors, n, k)
    proj = (share.vectors - model["mean"]) @ model["components"].T
    table = identity_table(share, {"vector": fixed_list(proj.astype(np.float32))})
    entry = write_rank_shard(args.output, "projections", rank, table)
    gathered = gather_shards(comm, entry, t0)
    if gathered is not None:  # rank 0
        entries, per_rank = gathered
        model_file = write_npz(join(args.output, "pca.npz"), model)
        report = {
            "rows": n,
            "dim": d,
            "components": k,
            "ranks": comm.Get_size(),
            "per_rank": per_rank,
            "explained_variance": model["explained_variance"].tolist(),
            "explained_variance_ratio": model["explained_variance_ratio"].tolist(),
        }
        finish(
            args.output,
            "pca",
            {"components": k},
            args.embeddings,
            entries,
            [model_file.to_json()],
            report,
            n,
            now() - t0,
        )
    comm.Barrier()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m seqray.solvers.pca", description=__doc__)
    p.add_argument("embeddings", help="a seqray run's output directory or its manifest")
    p.add_argument("-o", "--output", required=True, help="a new or empty output directory")
    p.add_argument("--components", type=int, default=2, help="components to keep (2)")
    return p


def main() -> int:
    return run_main("pca", solve, parser())


if __name__ == "__main__":
    raise SystemExit(main())
