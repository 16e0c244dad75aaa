"""The training corpus: every read (each mate apart) as a sentence of bucket ids, written
per chunk to Parquet shards in the run's state, and the bucket counts of those shards.

Written once by a prepare pass over the data; training reads each worker's share from the
shards (never through the driver), and a resumed run takes them as they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from ..io.buffers import values_offsets
from ..io.formats import WrittenShard
from ..io.formats.parquet import ParquetShardWriter
from ..io.fs import join
from ..io.schema import SEQ, SEQ2
from ..pipeline.registry import SinkStage, StageConfig
from .hashing import KmerHasher
from .train import IDS, read_sentences
from .vocab import merge_counts

CORPUS_SCHEMA = pa.schema([pa.field(IDS, pa.large_list(pa.uint32()), nullable=False)])


def sentences(hasher: KmerHasher, column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """The bucket-id sentence of each sequence of a column."""
    values, offsets = values_offsets(column)
    ids, id_offsets = hasher.hash_reads(values, offsets)
    return pa.LargeListArray.from_arrays(
        pa.array(id_offsets, pa.int64()), pa.array(ids, pa.uint32())
    )


class SentenceWriter:
    """Per chunk: the sentences of its reads (read 1, then read 2 of each batch)."""

    def __init__(self, uri: str, hasher: KmerHasher):
        self.hasher = hasher
        self.out = ParquetShardWriter(uri, CORPUS_SCHEMA)

    def write(self, table: pa.Table) -> None:
        for column in (SEQ, SEQ2):
            if column in table.column_names and len(table):
                arr = sentences(self.hasher, table.column(column))
                self.out.write(pa.Table.from_arrays([arr], schema=CORPUS_SCHEMA))

    def commit(self) -> WrittenShard:
        return self.out.commit()

    def abort(self) -> None:
        self.out.abort()


class CorpusSink(SinkStage):
    """Internal sink of the training prepare pass: each chunk's sentences."""

    name = "embedding-corpus"

    def __init__(self, directory: str, hasher: KmerHasher):
        super().__init__(StageConfig())
        self.directory, self.hasher = directory, hasher

    def open(self, chunk: Any, chunk_id: str, output: str) -> list:
        return [SentenceWriter(join(self.directory, f"corpus-{chunk_id}.parquet"), self.hasher)]


def shard_counts(uri: str) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(bucket ids, their counts, sentences, tokens) of one corpus shard."""
    ids, offsets = read_sentences([uri])
    uniq, counts = np.unique(ids, return_counts=True)
    return uniq.astype(np.uint32), counts.astype(np.int64), len(offsets) - 1, len(ids)


def count_buckets(runner: Any, uris: list[str]) -> tuple[np.ndarray, np.ndarray, list[int], int]:
    """(ids, counts, sentences of each shard, tokens) over all the shards, counted where
    the run runs."""
    parts = runner.map(shard_counts, uris)
    ids, counts = merge_counts([(p[0], p[1]) for p in parts])
    return ids, counts, [int(p[2]) for p in parts], sum(p[3] for p in parts)
