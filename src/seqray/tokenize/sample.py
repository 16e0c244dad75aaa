"""The training sample of a scheme that learns from the reads (bpe): the `k` sequences with
the smallest hash of their identity, the same whatever the chunking, runner or worker count.

A sequence's identity is (its input's place in the plan order, its record ordinal, its
mate), packed into one integer `key` (`source << 41 | record << 1 | mate`); its hash is
`mix64((key + 1) · φ)`, the key-th output of splitmix64, a bijection of the key, so no two
sequences tie. Each chunk keeps the `k` smallest hashes it sees (a bottom-k sample) and
writes them with their keys and hashes; the driver keeps the `k` smallest of all the
chunks' candidates. The union of the chunks' bottom-k holds the global bottom-k, so the
sample is exact, and training reads it in key order, so the training input is the same
bytes in the same order for any `run.chunk_bytes`. Mates count as separate sequences.

Cost: a chunk holds at most 2k candidate sequences (plus the batch being read), pruned by a
sort when they pass 2k; the driver holds 2k (hash, key) pairs and then the k sequences.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numba import njit

from ..errors import SeqrayError
from ..hashing import mix64
from ..io.formats import WrittenShard
from ..io.formats.parquet import ParquetShardWriter
from ..io.fs import filesystem_for, join
from ..io.schema import RECORD, SEQ, SEQ2, numeric_array
from ..pipeline.registry import SinkStage, StageConfig

SOURCE_SHIFT = 41  # key = source << 41 | record << 1 | mate: 2^40 records per input
_GAMMA = np.uint64(0x9E3779B97F4A7C15)  # splitmix64's increment (2^64 / φ, odd)
HASH, KEY = "hash", "key"
SAMPLE_SCHEMA = pa.schema(
    [
        pa.field(HASH, pa.uint64(), nullable=False),
        pa.field(KEY, pa.uint64(), nullable=False),
        pa.field(SEQ, pa.large_binary(), nullable=False),
    ]
)


@njit(cache=True, nogil=True)
def identity_hashes(records, base, mate):
    """(hash, key) of each sequence: `records` (int64 ordinals) of one input, whose keys
    start at `base` (source << SOURCE_SHIFT), for read 1 (`mate` 0) or read 2 (1)."""
    n = len(records)
    keys = np.empty(n, np.uint64)
    hashes = np.empty(n, np.uint64)
    for i in range(n):
        key = base | (np.uint64(records[i]) << np.uint64(1)) | np.uint64(mate)
        keys[i] = key
        hashes[i] = mix64((key + np.uint64(1)) * _GAMMA)
    return hashes, keys


def _smallest(hashes: np.ndarray, keys: np.ndarray, k: int) -> np.ndarray:
    """Positions of the `k` smallest (hash, key) pairs, in that order (ties between equal
    pairs, which only a stage giving one record twice could make, keep arrival order)."""
    return np.lexsort((keys, hashes))[:k]


class BottomK:
    """Per chunk: the `k` sequences with the smallest identity hashes, written sorted by
    hash to a Parquet file (columns hash, key, seq)."""

    def __init__(self, uri: str, source_index: int, k: int):
        self.uri, self.k = uri, k
        self.base = np.uint64(source_index) << np.uint64(SOURCE_SHIFT)
        self.parts: list[tuple[np.ndarray, np.ndarray, pa.Array]] = []
        self.held = 0
        self.bound: np.uint64 | None = None  # no hash above it can be among the k smallest

    def write(self, table: pa.Table) -> None:
        if not len(table):
            return
        if RECORD not in table.column_names:
            raise SeqrayError("tokenize: the training sample needs the reads' record ordinals")
        records = np.ascontiguousarray(table.column(RECORD).to_numpy(), dtype=np.int64)
        for mate, column in enumerate((SEQ, SEQ2)):
            if column not in table.column_names:
                continue
            hashes, keys = identity_hashes(records, self.base, mate)
            seqs = table.column(column)
            if self.bound is not None:
                keep = np.flatnonzero(hashes <= self.bound)
                if not len(keep):
                    continue
                hashes, keys, seqs = hashes[keep], keys[keep], seqs.take(numeric_array(keep))
            self.parts.append((hashes, keys, seqs.combine_chunks()))
            self.held += len(hashes)
        if self.held > 2 * self.k:
            self._prune()

    def _prune(self) -> None:
        """Keeps the k smallest of what is held (amortised: runs once per k candidates)."""
        if not self.parts:
            return
        hashes = np.concatenate([p[0] for p in self.parts])
        keys = np.concatenate([p[1] for p in self.parts])
        seqs = pa.chunked_array([p[2] for p in self.parts], pa.large_binary())
        pick = _smallest(hashes, keys, self.k)
        self.parts = [(hashes[pick], keys[pick], seqs.take(numeric_array(pick)).combine_chunks())]
        self.held = len(pick)
        if len(pick) == self.k:
            self.bound = hashes[pick[-1]]

    def commit(self) -> WrittenShard:
        self._prune()
        w = ParquetShardWriter(self.uri, SAMPLE_SCHEMA)
        for hashes, keys, seqs in self.parts:
            cols = [numeric_array(hashes), numeric_array(keys), seqs]
            w.write(pa.Table.from_arrays(cols, schema=SAMPLE_SCHEMA))
        return w.commit()

    def abort(self) -> None:
        self.parts = []


class TrainingSample(SinkStage):
    """Internal sink of the training prepare pass: each chunk's bottom-k candidates."""

    name = "training-sample"

    def __init__(self, directory: str, source_order: list[str], k: int):
        super().__init__(StageConfig())
        self.directory, self.k = directory, k
        self.source_index = {s: i for i, s in enumerate(source_order)}

    def open(self, chunk, chunk_id: str, output: str) -> list:
        uri = join(self.directory, f"sample-{chunk_id}.parquet")
        return [BottomK(uri, self.source_index[chunk.source], self.k)]


def _read(uri: str, columns: list[str]) -> pa.Table:
    fs, path = filesystem_for(uri)
    with fs.open_input_file(path) as f:
        return pq.read_table(f, columns=columns)


def merge_samples(uris: list[str], k: int) -> list[str]:
    """The `k` sequences with the smallest (hash, key) among the chunks' candidate files,
    in key order (the input's order, record, mate): what training reads."""
    hashes, keys = np.empty(0, np.uint64), np.empty(0, np.uint64)
    for uri in uris:  # the k smallest (hash, key) pairs, from the hash and key columns
        t = _read(uri, [HASH, KEY])
        hashes = np.concatenate([hashes, t.column(HASH).to_numpy()])
        keys = np.concatenate([keys, t.column(KEY).to_numpy()])
        if len(hashes) > 2 * k:
            pick = _smallest(hashes, keys, k)
            hashes, keys = hashes[pick], keys[pick]
    pick = _smallest(hashes, keys, k)
    if not len(pick):
        return []
    cut_hash, cut_key = hashes[pick[-1]], keys[pick[-1]]
    parts: list[tuple[np.ndarray, np.ndarray, pa.ChunkedArray]] = []
    for uri in uris:  # each file is sorted by (hash, key): the chosen rows are a prefix
        t = _read(uri, [HASH, KEY])
        h, key = t.column(HASH).to_numpy(), t.column(KEY).to_numpy()
        n = int(np.count_nonzero((h < cut_hash) | ((h == cut_hash) & (key <= cut_key))))
        if n:
            parts.append((h[:n], key[:n], _read(uri, [SEQ]).column(SEQ).slice(0, n)))
    hashes = np.concatenate([p[0] for p in parts])
    keys = np.concatenate([p[1] for p in parts])
    seqs = pa.chunked_array([c for p in parts for c in p[2].chunks], pa.large_binary())
    # equal (hash, key) pairs at the cut (a record given twice) could add rows: keep k
    pick = _smallest(hashes, keys, k)
    pick = pick[np.argsort(keys[pick], kind="stable")]  # training order: by identity
    return seqs.take(numeric_array(pick)).cast(pa.large_string()).to_pylist()
