"""Stages that keep state across batches, resource hints and `runner.share`.

A test-only stage builds a lookup table in `setup` (as a model stage loads its model) and
reports, through its accumulator, every worker instance it ran in and how often `setup`
ran there: locally it must run once for the whole run; on Ray once per actor, with fewer
actors than chunks (the state is not rebuilt per chunk). Outputs equal the local runner's.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import uuid
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seqray.errors import ConfigError, InputError
from seqray.io.buffers import values_offsets
from seqray.pipeline import registry
from seqray.pipeline.config import parse_config
from seqray.pipeline.definition import Pipeline
from seqray.pipeline.driver import run_pipeline
from seqray.pipeline.registry import DictAccumulator, MapStage, Resources, StageConfig

from ..conftest import write_random_fastq


class Instances(DictAccumulator):
    """worker instance id → times `setup` ran in it; merged by union."""

    def __iadd__(self, other: Instances) -> Instances:
        for k, v in other.items():
            assert self.get(k, v) == v  # one instance reports one count
            self[k] = v
        return self


class LookupConfig(StageConfig):
    missing_table: str | None = None  # a table file to load, that is not there


class LookupStage(MapStage):
    """Complements every base through a 256-byte table built in `setup`."""

    name = "test-lookup"
    Config = LookupConfig
    Accumulator = Instances
    stateful: ClassVar[bool] = True

    def default_resources(self) -> Resources:
        return Resources(num_cpus=1, concurrency=2)

    def setup(self) -> None:
        if self.config.missing_table:
            raise InputError(f"{self.config.missing_table}: no such lookup table")
        table = np.arange(256, dtype=np.uint8)
        for a, b in zip(b"ACGTN", b"TGCAN"):
            table[a] = b
        self.table = table
        self.instance = f"{os.getpid()}-{uuid.uuid4().hex}"
        self.setups = getattr(self, "setups", 0) + 1

    def transform(self, table: pa.Table, acc: Instances, chunk) -> pa.Table:
        acc[self.instance] = self.setups
        seq = table.column("seq").combine_chunks()
        values, offsets = values_offsets(seq)
        flipped = pa.Array.from_buffers(
            seq.type, len(seq), [None, pa.py_buffer(offsets), pa.py_buffer(self.table[values])]
        )
        i = table.schema.get_field_index("seq")
        return table.set_column(i, table.schema.field(i), flipped)

    def finish(self, acc: Instances, ctx) -> dict:
        return {"instances": dict(acc)}


@pytest.fixture
def lookup_stage():
    registry.register(LookupStage)
    # Ray workers take the class by value: they cannot import the test module
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    registry._REGISTRY.pop(LookupStage.name)


def _config(out, fq, *more, lookup=None):
    return parse_config(
        {
            "output": str(out),
            "run": {"chunk_bytes": 20_000},
            "stages": [
                {"read": {"paths": [str(fq)]}},
                {"test-lookup": lookup or {}},
                *more,
                {"write": {"format": "fastq", "compression": "none"}},
            ],
        }
    )


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _complement(text: bytes) -> bytes:
    lines = text.split(b"\n")
    lines[1::4] = [s.translate(bytes.maketrans(b"ACGTN", b"TGCAN")) for s in lines[1::4]]
    return b"\n".join(lines)


def test_local_runner_sets_a_stateful_stage_up_once(tmp_path, lookup_stage):
    fq = write_random_fastq(tmp_path / "r.fq", 2000, max_len=120)
    r = run_pipeline(_config(tmp_path / "o", fq), runner="local")
    assert r.chunks > 3
    # one instance for every chunk, set up once
    assert list(r.reports["test-lookup"]["instances"].values()) == [1]
    out = (tmp_path / "o" / "reads.fastq").read_bytes()
    assert out == _complement(fq.read_bytes())


def test_a_prepare_pass_does_not_set_a_stateful_stage_up_again(tmp_path, lookup_stage):
    # dedup's first pass runs the map stages before it, the stateful one included
    fq = write_random_fastq(tmp_path / "r.fq", 500, max_len=120)
    r = run_pipeline(_config(tmp_path / "o", fq, {"dedup": {}}), runner="local")
    assert r.prepare[0]["chunks_scanned"] == r.chunks > 1
    assert list(r.reports["test-lookup"]["instances"].values()) == [1]


@pytest.mark.integration
def test_ray_runner_runs_a_stateful_stage_on_an_actor_pool(tmp_path, ray_cluster, lookup_stage):
    fq = write_random_fastq(tmp_path / "r.fq", 2000, max_len=120)
    local = run_pipeline(_config(tmp_path / "a", fq), runner="local")
    r = run_pipeline(_config(tmp_path / "b", fq), runner="ray")
    instances = r.reports["test-lookup"]["instances"]
    # the stage's concurrency (2) caps the pool: fewer actors than chunks, each set up once
    assert 1 <= len(instances) <= 2 < r.chunks
    assert set(instances.values()) == {1}
    assert _digest(tmp_path / "b" / "reads.fastq") == _digest(tmp_path / "a" / "reads.fastq")
    assert local.chunks == r.chunks


def test_resources_combine_over_stages_and_config_overrides(tmp_path, lookup_stage):
    fq = tmp_path / "r.fq"
    cfg = _config(tmp_path / "o", fq)
    assert Pipeline.from_config(cfg).resources() == Resources(num_cpus=1, concurrency=2)
    raw = {
        "output": str(tmp_path / "o"),
        "stages": [
            {"read": {"paths": [str(fq)]}},
            {"test-lookup": {"resources": {"num_cpus": 2, "num_gpus": 0.5, "memory": 1 << 30}}},
            {"inspect": {"resources": {"concurrency": 4}}},
            {"write": {}},
        ],
    }
    cfg2 = parse_config(raw)
    got = Pipeline.from_config(cfg2).resources()
    assert got == Resources(num_cpus=2, num_gpus=0.5, memory=1 << 30, concurrency=4)
    # where stages run does not shape their outputs: resume and the manifest's hash agree
    raw["stages"][1] = {"test-lookup": {}}
    raw["stages"][2] = {"inspect": {}}
    assert parse_config(raw).output_hash() == cfg2.output_hash()
    bad = {
        **raw,
        "stages": [raw["stages"][0], {"inspect": {"resources": {"gpus": 1}}}, {"write": {}}],
    }
    with pytest.raises(ConfigError, match=r"stages\[1\]\.inspect\.resources\.gpus: unknown key"):
        parse_config(bad)


def test_the_manifest_names_the_kinds_each_stage_takes_and_gives(tmp_path):
    fq = write_random_fastq(tmp_path / "r.fq", 50, max_len=40)
    cfg = parse_config(
        {
            "output": str(tmp_path / "o"),
            "stages": [
                {"read": {"paths": [str(fq)]}},
                {"tokenize": {"k": 3}},
                {"write": {}},
            ],
        }
    )
    run_pipeline(cfg, runner="local")
    m = json.loads((tmp_path / "o" / "manifest.json").read_text())
    st = m["stages"]
    assert (st["read"]["takes"], st["tokenize"]["takes"], st["tokenize"]["gives"]) == (
        "reads",
        "reads",
        "tokens",
    )
    bases = sum(len(s) for s in fq.read_text().split("\n")[1::4])
    assert st["read"]["rows_out"] == 50 and st["read"]["bases_out"] == bases
    assert st["tokenize"]["bases_in"] == bases
    # the token count is the ids the written shards hold
    shards = pq.read_table(tmp_path / "o" / "reads")
    ids = shards.column("input_ids").to_pylist()
    assert st["tokenize"]["rows_out"] == len(ids) == st["write"]["rows_in"]
    assert st["tokenize"]["tokens_out"] == sum(len(x) for x in ids) == st["write"]["tokens_in"]
    assert st["write"]["takes"] == st["write"]["gives"] == "tokens"


@pytest.mark.integration
def test_resources_no_node_has_are_refused_before_anything_is_written(tmp_path, ray_cluster):
    fq = write_random_fastq(tmp_path / "r.fq", 50, max_len=40)
    for resources, asked in (({"num_gpus": 1}, "GPU 1"), ({"num_cpus": 64}, "CPU 64")):
        cfg = parse_config(
            {
                "output": str(tmp_path / "o"),
                "stages": [
                    {"read": {"paths": [str(fq)]}},
                    {"inspect": {"resources": resources}},
                    {"write": {}},
                ],
            }
        )
        with pytest.raises(ConfigError, match=f"ask for .*{asked} per chunk task, but no node"):
            run_pipeline(cfg, runner="ray")
        assert not (tmp_path / "o").exists()


@pytest.mark.integration
@pytest.mark.parametrize("runner", ["local", "ray"])
def test_a_users_error_in_setup_reaches_the_driver_intact(tmp_path, runner, request, lookup_stage):
    if runner == "ray":
        request.getfixturevalue("ray_cluster")
    fq = write_random_fastq(tmp_path / "r.fq", 200, max_len=120)
    cfg = _config(tmp_path / "o", fq, lookup={"missing_table": "t.bin"})
    with pytest.raises(InputError, match="t.bin: no such lookup table"):
        run_pipeline(cfg, runner=runner)
