"""Typed records that travel between workers, the journal and the driver.

A chunk's outcome crosses a process boundary (a Ray task's return value), is journaled as
JSON (resume) and is read by stages' prepare and finish steps: one typed form, with one
JSON form, instead of dicts read by key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FileRecord:
    """One file a run wrote: where, how big, its sha256 (what resume verifies)."""

    uri: str
    bytes: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"uri": self.uri, "bytes": self.bytes, "sha256": self.sha256}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FileRecord:
        return cls(d["uri"], d["bytes"], d["sha256"])


@dataclass
class ShardRecord:
    """What one chunk wrote for one sink: a file, or a set of files / a directory (`uri` is
    the file or the directory; `files` lists every file with its size and sha256)."""

    uri: str
    rows: int
    files: list[FileRecord]
    stage: str  # the sink's name ("rejects" for bad records)
    stage_index: int  # its place among the pipeline's stages (-1: rejects)
    arrays: dict[str, Any] | None = None  # an array format's {name: {shape, dtype, chunks}}

    def to_json(self) -> dict[str, Any]:
        out = {
            "uri": self.uri,
            "rows": self.rows,
            "files": [f.to_json() for f in self.files],
            "stage": self.stage,
            "stage_index": self.stage_index,
        }
        if self.arrays is not None:
            out["arrays"] = self.arrays
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ShardRecord:
        files = [FileRecord.from_json(f) for f in d["files"]]
        return cls(d["uri"], d["rows"], files, d["stage"], d["stage_index"], d.get("arrays"))


@dataclass
class StageCounter:
    """Rows in and out of a stage, its time, and the measures its batch kinds add (bases
    of reads, tokens, vector values), each `<measure>_in` / `<measure>_out`."""

    rows_in: int = 0
    rows_out: int = 0
    seconds: float = 0.0
    measures: dict[str, int] = field(default_factory=dict)

    def add(self, measure: str, n: int) -> None:
        self.measures[measure] = self.measures.get(measure, 0) + n

    def __iadd__(self, o: StageCounter) -> StageCounter:
        self.rows_in += o.rows_in
        self.rows_out += o.rows_out
        self.seconds += o.seconds
        for k, v in o.measures.items():
            self.add(k, v)
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "seconds": self.seconds,
            **dict(sorted(self.measures.items())),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> StageCounter:
        measures = {k: v for k, v in d.items() if k.endswith(("_in", "_out")) and k[:4] != "rows"}
        return cls(d["rows_in"], d["rows_out"], d["seconds"], measures)


@dataclass
class ChunkOutcome:
    """What processing one chunk gave: its records, the shards it wrote, per-stage counters
    (the source first) and accumulators (JSON, by stage index)."""

    chunk: str  # the chunk's key
    chunk_id: str  # its name in shard files
    source: str
    mate: str | None
    index: int
    first_record: int
    records: int
    rejected: int
    digest: str
    shards: list[ShardRecord]
    counters: list[StageCounter]
    accumulators: dict[str, Any]

    def shards_of(self, stage: str) -> list[ShardRecord]:
        return [s for s in self.shards if s.stage == stage]

    def to_json(self) -> dict[str, Any]:
        return {
            "chunk": self.chunk,
            "chunk_id": self.chunk_id,
            "source": self.source,
            "mate": self.mate,
            "index": self.index,
            "first_record": self.first_record,
            "records": self.records,
            "rejected": self.rejected,
            "digest": self.digest,
            "shards": [s.to_json() for s in self.shards],
            "counters": [c.to_json() for c in self.counters],
            "accumulators": self.accumulators,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ChunkOutcome:
        return cls(
            d["chunk"],
            d["chunk_id"],
            d["source"],
            d["mate"],
            d["index"],
            d["first_record"],
            d["records"],
            d["rejected"],
            d["digest"],
            [ShardRecord.from_json(s) for s in d["shards"]],
            [StageCounter.from_json(c) for c in d["counters"]],
            d["accumulators"],
        )
