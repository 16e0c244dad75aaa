"""Which rows each rank owns: contiguous, balanced ranges of the input's rows in read order
(the manifest's shard order). A rank reads its range through `load_embeddings`, which opens
only the shards (and row groups or chunks) holding it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Partition:
    """Rows [bounds[r], bounds[r + 1]) belong to rank r; every rank knows every range."""

    bounds: np.ndarray  # [ranks + 1] int64

    @property
    def ranks(self) -> int:
        return len(self.bounds) - 1

    @property
    def total(self) -> int:
        return int(self.bounds[-1])

    def range(self, rank: int) -> tuple[int, int]:
        return int(self.bounds[rank]), int(self.bounds[rank + 1])

    def rows(self, rank: int) -> int:
        lo, hi = self.range(rank)
        return hi - lo


def partition_rows(total: int, ranks: int) -> Partition:
    """`total` rows over `ranks` ranks as evenly as possible (sizes differ by at most one,
    the larger ranges first)."""
    if ranks < 1:
        raise ValueError(f"ranks must be at least 1, not {ranks}")
    if total < 0:
        raise ValueError(f"total must be at least 0, not {total}")
    r = np.arange(ranks + 1, dtype=np.int64)
    bounds = r * (total // ranks) + np.minimum(r, total % ranks)
    return Partition(bounds)
