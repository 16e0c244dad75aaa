"""Labelled reads for training: each read (a pair: both mates' k-mers together, as they are
predicted) as an example of bucket ids with its label index, written per chunk to Parquet
shards in the run's state by a prepare pass over the inputs.

A read's label comes from the TSV by the first word of its name (read 1's for pairs, with a
trailing /1 dropped when the name as written is not listed); reads the TSV does not list
are left out (the run reports how many were labelled). Matching is one Arrow `index_in` per
batch, not a loop per read.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..embed.hashing import KmerHasher
from ..embed.train import IDS
from ..io.buffers import values_offsets
from ..io.formats import WrittenShard
from ..io.formats.parquet import ParquetShardWriter
from ..io.fs import filesystem_for, join
from ..io.schema import NAME, SEQ, SEQ2
from ..pipeline.registry import SinkStage, StageConfig

LABEL = "label"
SCHEMA = pa.schema(
    [
        pa.field(IDS, pa.large_list(pa.uint32()), nullable=False),
        pa.field(LABEL, pa.int32(), nullable=False),
    ]
)


class NameLabels:
    """Read name → label index, from the TSV's name ↦ label and the model's label list."""

    def __init__(self, table: dict[str, str], labels: list[str]):
        index = {lab: i for i, lab in enumerate(labels)}
        self.names = pa.array(list(table), pa.large_string())
        self.label_of = np.array([index[v] for v in table.values()], np.int32)

    def lookup(self, names: pa.ChunkedArray | pa.Array) -> np.ndarray:
        """int32 label index per read name, -1 where the TSV does not list it."""
        first = pc.list_element(
            pc.utf8_split_whitespace(names.cast(pa.large_string()), max_splits=1), 0
        )
        pos = pc.index_in(first, value_set=self.names)
        missing = pc.is_null(pos)
        if pc.any(missing).as_py():  # read 1's name written with a /1 suffix
            stripped = pc.replace_substring_regex(first, r"/1$", "")
            pos = pc.coalesce(pos, pc.index_in(stripped, value_set=self.names))
        found = np.asarray(pos.fill_null(-1), dtype=np.int64)
        return np.where(found >= 0, self.label_of[np.maximum(found, 0)], -1).astype(np.int32)


def join_mates(
    ids1: np.ndarray, off1: np.ndarray, ids2: np.ndarray, off2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each read's ids followed by its mate's: (ids, offsets) of the pairs."""
    l1, l2 = np.diff(off1), np.diff(off2)
    offsets = np.zeros(len(l1) + 1, np.int64)
    np.cumsum(l1 + l2, out=offsets[1:])
    out = np.empty(int(offsets[-1]), np.uint32)
    dest1 = np.arange(len(ids1), dtype=np.int64) + np.repeat(offsets[:-1] - off1[:-1], l1)
    dest2 = np.arange(len(ids2), dtype=np.int64) + np.repeat(offsets[:-1] + l1 - off2[:-1], l2)
    out[dest1] = ids1
    out[dest2] = ids2
    return out, offsets


class ExampleWriter:
    """Per chunk: the labelled examples of its reads (the shard's rows count them)."""

    def __init__(self, uri: str, hasher: KmerHasher, labels: NameLabels):
        self.hasher, self.labels = hasher, labels
        self.out = ParquetShardWriter(uri, SCHEMA)

    def write(self, table: pa.Table) -> None:
        if not len(table):
            return
        label = self.labels.lookup(table.column(NAME))
        ids, offsets = self.hasher.hash_reads(*values_offsets(table.column(SEQ)))
        if SEQ2 in table.column_names:
            ids2, off2 = self.hasher.hash_reads(*values_offsets(table.column(SEQ2)))
            ids, offsets = join_mates(ids, offsets, ids2, off2)
        keep = label >= 0
        if not keep.any():
            return
        lists = pa.LargeListArray.from_arrays(
            pa.array(offsets, pa.int64()), pa.array(ids, pa.uint32())
        )
        kept = lists.filter(pa.array(keep))
        self.out.write(
            pa.Table.from_arrays([kept, pa.array(label[keep], pa.int32())], schema=SCHEMA)
        )

    def commit(self) -> WrittenShard:
        return self.out.commit()

    def abort(self) -> None:
        self.out.abort()


class ExampleSink(SinkStage):
    """Internal sink of the classifier's prepare pass: each chunk's labelled examples."""

    name = "classifier-examples"

    def __init__(self, directory: str, hasher: KmerHasher, labels: NameLabels):
        super().__init__(StageConfig())
        self.directory, self.hasher, self.labels = directory, hasher, labels

    def open(self, chunk: Any, chunk_id: str, output: str) -> list:
        uri = join(self.directory, f"examples-{chunk_id}.parquet")
        return [ExampleWriter(uri, self.hasher, self.labels)]


def read_examples(pieces: list[tuple[str, int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids uint32, offsets int64[n+1], labels int32[n]) of examples [start, stop) of each
    shard, in order."""
    from ..embed.train import read_sentences

    ids, offsets = read_sentences([p[0] for p in pieces], [(p[1], p[2]) for p in pieces])
    labels = []
    for uri, start, stop in pieces:
        fs, path = filesystem_for(uri)
        with fs.open_input_file(path) as f:
            col = pq.read_table(f, columns=[LABEL]).column(LABEL)
        labels.append(np.asarray(col.slice(start, stop - start), dtype=np.int32))
    return ids, offsets, np.concatenate(labels) if labels else np.empty(0, np.int32)


def label_counts(uris: list[str], labels: int) -> np.ndarray:
    """int64[labels]: labelled examples per label over the shards."""
    out = np.zeros(labels, np.int64)
    for uri in uris:
        fs, path = filesystem_for(uri)
        with fs.open_input_file(path) as f:
            col = pq.read_table(f, columns=[LABEL]).column(LABEL)
        out += np.bincount(np.asarray(col, dtype=np.int64), minlength=labels)[:labels]
    return out
