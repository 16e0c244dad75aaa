"""Look up k-mer counts in a `count` output directory (local or S3).

The shards are prefix partitions of key space, sorted by k-mer, so a k-mer's shard follows
from its first bases and its row from a binary search; only the shards that hold the asked
k-mers are read. A k-mer absent from the table (never seen, or outside min/max count) has
count 0.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pyarrow.parquet as pq

from ..errors import InputError
from ..io.fs import filesystem_for, join
from .encode import canonical_codes, encode_kmers


class KmerCounts:
    """Counts written by the `count` stage (`seqray count`): `counts.lookup(["ACGT..."])`."""

    def __init__(self, directory: str):
        self.directory = directory
        uri = join(directory, "summary.json")
        fs, path = filesystem_for(uri)
        try:
            with fs.open_input_stream(path, compression=None) as f:
                self.summary = json.loads(f.read())
        except (FileNotFoundError, OSError) as exc:
            raise InputError(f"{uri}: no k-mer counts here (run `seqray count` first)") from exc
        self.k = int(self.summary["k"])
        self.canonical = bool(self.summary["canonical"])
        self.partitions = int(self.summary["partitions"])
        self.prefix_bits = int(self.summary["prefix_bits"])
        self._shards: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _shard(self, q: int) -> tuple[np.ndarray, np.ndarray]:
        if q not in self._shards:
            uri = join(self.directory, self.summary["counts"], f"part-{q:05d}.parquet")
            fs, path = filesystem_for(uri)
            t = pq.read_table(path, filesystem=fs, columns=["kmer", "count"])
            self._shards[q] = (
                t.column("kmer").to_numpy().astype(np.uint64, copy=False),
                t.column("count").to_numpy().astype(np.uint64, copy=False),
            )
        return self._shards[q]

    def lookup_codes(self, codes: np.ndarray) -> np.ndarray:
        """Counts (uint64) of 2-bit codes; canonicalised first when the counts are."""
        codes = np.asarray(codes, dtype=np.uint64)
        if self.canonical:
            codes = canonical_codes(codes, self.k)
        n_int = 1 << self.prefix_bits
        prefix = (codes >> np.uint64(2 * self.k - self.prefix_bits)).astype(np.int64)
        shard = prefix * self.partitions // n_int
        out = np.zeros(len(codes), np.uint64)
        for q in np.unique(shard):
            sel = np.flatnonzero(shard == q)
            keys, counts = self._shard(int(q))
            pos = np.searchsorted(keys, codes[sel])
            pos_ok = np.minimum(pos, max(len(keys) - 1, 0))
            hit = (pos < len(keys)) & (keys[pos_ok] == codes[sel]) if len(keys) else pos < 0
            out[sel[hit]] = counts[pos_ok[hit]]
        return out

    def lookup(self, kmers: Sequence[str]) -> np.ndarray:
        """Counts of k-mer strings (ACGT, length k)."""
        bad = [s for s in kmers if len(s) != self.k]
        if bad:
            raise InputError(
                f"k-mer {bad[0]!r} has length {len(bad[0])}; these counts are k={self.k}"
            )
        try:
            codes = encode_kmers(list(kmers), self.k)
        except ValueError as exc:
            raise InputError(str(exc)) from exc
        return self.lookup_codes(codes)
