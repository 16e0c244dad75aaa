"""Every pair of stages the docs allow, single-end and paired, on both runners: the run
succeeds, each map stage's batches have the schema it declares (the runner checks), and
both runners write the same bytes."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline

from ..conftest import write_random_fastq, write_random_pairs

MAPS = {
    "inspect": {"inspect": {}},
    "qc": {"qc": {"length_required": 5}},
    "dedup": {"dedup": {"dup_count": True}},
    "correct": {"correct": {"k": 15}},
    "tokenize": {"tokenize": {"scheme": "kmer", "k": 3, "max_length": 64}},
}
SINKS = {
    "fastq": {"write": {"format": "fastq", "path": "out_fq"}},
    "parquet": {"write": {"format": "parquet", "path": "out_pq"}},
    "count": {"count": {"k": 11}},
}
NEEDS_READS = set(MAPS) | {"fastq", "count"}
# the documented rule: a stage that needs reads cannot follow `tokenize`
PAIRS = [
    (a, b)
    for a, b in itertools.chain(itertools.product(MAPS, MAPS), itertools.product(MAPS, SINKS))
    if not (a == "tokenize" and b in NEEDS_READS) and a != b
]


def _stages(a: str, b: str) -> list[dict]:
    stages = [MAPS[a], MAPS.get(b) or SINKS[b]]
    if b in MAPS:
        stages.append(SINKS["parquet"])  # a map stage's output written as it is
    return stages


def _files(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "manifest.json" and "_seqray" not in p.parts
    }


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("reads")
    se = write_random_fastq(d / "se.fq", 150, seed=5, max_len=120)
    r1, r2 = write_random_pairs(d / "p_1.fq", d / "p_2.fq", 150, seed=6, dup_every=4)
    return {"se": ([se], None), "pe": ([r1], [r2])}


def test_the_pairs_cover_the_catalog():
    from seqray.pipeline.registry import stage_names

    # train_embeddings → embed: their own pair test, tests/embed/test_pipeline.py;
    # train_classifier → classify: tests/classify/test_classify_stage.py; write → hpc
    # (a job after the run's shards are written) on both runners: tests/hpc/test_hpc_stage.py
    trained = {"train_embeddings", "embed", "train_classifier", "classify", "hpc"}
    named = {"read", "write"} | set(MAPS) | {"count"} | trained
    assert set(stage_names()) == named, "a new stage needs its place in this test"


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["se", "pe"])
@pytest.mark.parametrize("pair", PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_stage_pair_on_both_runners(tmp_path, ray_cluster, inputs, pair, kind):
    paths, mates = inputs[kind]
    read = {"paths": [str(p) for p in paths]}
    if mates:
        read["mate_paths"] = [str(p) for p in mates]
    written = {}
    for runner in ("local", "ray"):
        out = tmp_path / runner
        cfg = {
            "output": str(out),
            "run": {"chunk_bytes": 4000, "block_bases": 3000},
            "stages": [{"read": read}, *_stages(*pair)],
        }
        run_pipeline(parse_config(cfg), runner=runner)
        written[runner] = _files(out)
    assert written["local"] == written["ray"]
    assert written["local"], "the pair wrote nothing"
