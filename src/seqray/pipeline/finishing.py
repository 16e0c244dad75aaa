"""The end of a run, in the driver: merge the chunks' counters and accumulators, let each
stage finish (join shards, write reports), and write the manifest, last."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pyarrow.fs as pafs

from ..io.fs import filesystem_for, join
from ..io.sources import InputFile
from .definition import Pipeline
from .manifest import Journal, write_manifest
from .outputs import JOURNAL_NAME, MARKER_NAME, STATE_DIR
from .progress import Progress, ReportingMapper
from .records import ChunkOutcome, StageCounter
from .registry import FinishContext, MapStage, SinkStage
from .runners import Runner


@dataclass
class Finished:
    manifest: str
    counters: dict[str, StageCounter]
    kinds: dict[str, tuple[str, str]]  # same keys: the kind of rows in, out
    reports: dict[str, dict]
    rejected: int
    inputs: list[dict]


def _input_checksums(inputs: list[InputFile], outcomes: list[ChunkOutcome]) -> dict[str, str]:
    """sha256 of each input: of the file itself when read as one chunk, else of the
    concatenated sha256 digests of its chunks (marked 'sha256-chunks')."""
    by_source: dict[str, list[str]] = {}
    for o in sorted(outcomes, key=lambda o: (o.source, o.index)):
        digests = o.digest.split("+")
        by_source.setdefault(o.source, []).append(digests[0])
        if len(digests) > 1 and o.mate is not None:
            by_source.setdefault(o.mate, []).append(digests[1])
    out = {}
    for src, ds in by_source.items():
        out[src] = (
            ("sha256:" + ds[0])
            if len(ds) == 1
            else ("sha256-chunks:" + hashlib.sha256("".join(ds).encode()).hexdigest())
        )
    return out


def _counters(
    pipeline: Pipeline, ordered: list[ChunkOutcome]
) -> tuple[dict[str, StageCounter], dict[str, tuple[str, str]]]:
    """Per-stage counters summed over the chunks, keyed by stage name (by `i:name` when a
    name repeats), and the kinds of rows each stage took and gave."""
    keys = pipeline.counter_keys()
    merged = [StageCounter() for _ in keys]
    for o in ordered:
        for m, c in zip(merged, o.counters):
            m += c
    kinds = pipeline.kinds()
    flow = [(kinds[0].name, kinds[0].name)] + [
        (kinds[i].name, kinds[i + 1].name) for i in range(len(pipeline.stages))
    ]
    return dict(zip(keys, merged)), dict(zip(keys, flow))


def finish_run(
    pipeline: Pipeline,
    ordered: list[ChunkOutcome],
    inputs: list[InputFile],
    header: dict[str, Any],
    prepared: list[dict],
    resumed: int,
    runner: Runner,
    journal: Journal,
    progress: Progress,
) -> Finished:
    """Finishes every stage in config order, then writes the manifest."""
    output = pipeline.config.output
    counters, kinds = _counters(pipeline, ordered)
    reports: dict[str, dict] = {}
    files = []
    recorded: list[dict] = []

    def record(f, stage: str) -> None:
        entry = {"uri": f.uri, "bytes": f.bytes, "sha256": f.sha256, "stage": stage}
        if getattr(f, "files", None) is not None:  # a directory shard: each of its files
            entry["files"] = f.to_json()["files"]
        journal.record_file(entry)
        recorded.append(entry)

    ctx = FinishContext(
        output=output,
        runner=runner,
        reports=reports,
        input_order=[i.info.uri for i in inputs],
        input_formats={i.info.uri: i.fmt or "" for i in inputs},
        on_record=record,
    )
    for i, st in enumerate(pipeline.stages):
        ctx.runner = ReportingMapper(runner, progress, f"{st.name}: finishing")
        ctx.stage = f"stages[{i + 1}] ({st.name})"
        if isinstance(st, MapStage):
            acc = st.new_accumulator()
            for o in ordered:
                data = o.accumulators.get(str(i))
                if data is not None:
                    acc += st.accumulator_from_json(data)
            reports[st.name] = st.finish(acc, ctx)
        elif isinstance(st, SinkStage):
            shards = [s for o in ordered for s in o.shards if s.stage_index == i]
            for f in st.finish(shards, ctx):
                ctx.record(f)
                entry = {
                    "uri": f.uri,
                    "rows": f.rows,
                    "bytes": f.bytes,
                    "sha256": f.sha256,
                    "stage": st.name,
                    "format": getattr(st.config, "format", None),
                }
                # a directory shard's files, an array shard's arrays
                extra = f.to_json() if hasattr(f, "to_json") else {}
                entry.update({k: extra[k] for k in ("files", "arrays") if k in extra})
                files.append(entry)
                ctx.outputs.setdefault(st.index, []).append(entry)
    rejects = [
        {"uri": f.uri, "rows": s.rows, "bytes": f.bytes, "sha256": f.sha256}
        for o in ordered
        for s in o.shards_of("rejects")
        for f in s.files
    ]
    rejected = sum(o.rejected for o in ordered)
    shard_uris = {f["uri"] for f in files}
    others = [f for f in recorded if f["uri"] not in shard_uris]
    checksums = _input_checksums(inputs, ordered)
    input_entries = [
        {
            **h,
            "format": i.fmt,
            "compression": i.compression.value,
            "phred_offset": i.phred_offset if i.fmt == "FASTQ" else None,
            "phred_source": i.phred_source,
            "phred_evidence": i.phred_evidence,
            "checksum": checksums.get(i.info.uri),
        }
        for h, i in zip(header["inputs"], inputs)
    ]
    stages = {
        n: {"takes": kinds[n][0], "gives": kinds[n][1], **c.to_json()} for n, c in counters.items()
    }
    manifest = write_manifest(
        output,
        {
            "config": pipeline.config.canonical(),
            "config_hash": header["config_hash"],
            "inputs": input_entries,
            "chunks": [
                {"id": o.chunk_id, "source": o.source, "records": o.records, "rejected": o.rejected}
                for o in ordered
            ],
            "shards": files,
            "files": others,
            "rejects": rejects,
            "stages": stages,
            "prepare": prepared,
            "resumed_chunks": resumed,
            "reports": reports,
            "reads": {"in": sum(o.records for o in ordered), "rejected": rejected},
        },
    )
    drop_run_state(output)
    return Finished(manifest, counters, kinds, reports, rejected, input_entries)


def drop_run_state(output: str) -> None:
    """Once the manifest commits, the bulk of the run's state (first-pass results such as
    duplicate marks or trusted k-mers, parts of single-file outputs, spills, a job's
    working records) serves no resume: removed. The marker `_seqray/run.json` and the
    journal (small: a record per chunk and per file written) stay, so the output is still
    a run that `--overwrite` may replace even if its manifest is later damaged. (Killed
    before this, the leftovers are still the run's own: `--overwrite` removes them.)"""
    fs, path = filesystem_for(join(output, STATE_DIR))
    selector = pafs.FileSelector(path, recursive=False, allow_not_found=True)
    for info in fs.get_file_info(selector):
        if info.base_name in (MARKER_NAME, JOURNAL_NAME):
            continue
        if info.type == pafs.FileType.Directory:
            fs.delete_dir(info.path)
        else:
            fs.delete_file(info.path)
