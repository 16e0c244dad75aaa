"""The BPE training sample: the sequences with the smallest hash of their identity, checked
against a bottom-k computed here over the whole input (splitmix64 in plain Python), and the
trained model byte-identical for any chunk size, batch size and runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seqray.io.schema import RECORD, SEQ, SEQ2
from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline
from seqray.tokenize import stage as stage_module
from seqray.tokenize.sample import BottomK, merge_samples

from ..conftest import write_random_fastq, write_random_pairs

M64 = (1 << 64) - 1


def splitmix64(i: int) -> int:
    """The i-th output of splitmix64 seeded 0, written out here (not seqray's kernel)."""
    z = ((i + 1) * 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def bottom_k(inputs: list[list[list[str]]], k: int) -> list[str]:
    """`inputs[source][mate][record]`: the k sequences with the smallest splitmix64 of their
    identity (source << 41 | record << 1 | mate), listed by identity."""
    ranked = sorted(
        (splitmix64(s << 41 | r << 1 | m), s << 41 | r << 1 | m, seq)
        for s, mates in enumerate(inputs)
        for m, seqs in enumerate(mates)
        for r, seq in enumerate(seqs)
    )
    return [seq for _, _, seq in sorted(ranked[:k], key=lambda x: x[1])]


def _fastq_seqs(path: Path) -> list[str]:
    lines = path.read_text().split("\n")
    return lines[1::4]


def _config(out: Path, pairs, k: int, run: dict) -> dict:
    read = {"paths": [str(p[0]) for p in pairs]}
    if len(pairs[0]) > 1:
        read["mate_paths"] = [str(p[1]) for p in pairs]
    return {
        "output": str(out),
        "run": run,
        "stages": [
            {"read": read},
            {"tokenize": {"scheme": "bpe", "vocab_size": 60, "sample_reads": k}},
            {"write": {"format": "parquet", "path": "tokens"}},
        ],
    }


@pytest.fixture
def trained_on(monkeypatch):
    """The sequences each run's model was trained on (what merge_samples gave the stage)."""
    seen: list[list[str]] = []

    def merge(uris, k):
        seen.append(merge_samples(uris, k))
        return seen[-1]

    monkeypatch.setattr(stage_module, "merge_samples", merge)
    return seen


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    d = tmp_path_factory.mktemp("pairs")
    return [
        write_random_pairs(d / "a_1.fq", d / "a_2.fq", 300, seed=3),
        write_random_pairs(d / "b_1.fq", d / "b_2.fq", 200, seed=4),
    ]


def _truth(pairs) -> list[list[list[str]]]:
    return [[_fastq_seqs(p) for p in pair] for pair in pairs]


# one chunk per input; pairs split across 4 and 15 chunks (the last with small batches)
RUNS = [{}, {"chunk_bytes": 20_000}, {"chunk_bytes": 4_000, "block_bases": 2_000}]


def test_model_is_the_same_for_any_chunking(tmp_path, pairs, trained_on):
    k = 150  # of 1000 sequences (the first chunk holds 600: it prunes)
    models, tokens, chunks = [], [], []
    for i, run in enumerate(RUNS):
        out = tmp_path / str(i)
        r = run_pipeline(parse_config(_config(out, pairs, k, run)), runner="local")
        chunks.append(r.chunks)
        models.append((out / "tokenizer" / "tokenizer.json").read_bytes())
        tokens.append(
            pa.concat_tables(pq.read_table(p) for p in sorted((out / "tokens").glob("*.parquet")))
        )
    assert chunks == [2, 4, 15]
    assert models[0] == models[1] == models[2]
    assert tokens[0].equals(tokens[1]) and tokens[0].equals(tokens[2])
    want = bottom_k(_truth(pairs), k)
    assert len(want) == k and trained_on == [want, want, want]


def test_single_end_sample_and_more_reads_asked_than_given(tmp_path, trained_on):
    fq = [write_random_fastq(tmp_path / f"{n}.fq", 150, seed=n, max_len=120) for n in (1, 2)]
    seqs = [[_fastq_seqs(p)] for p in fq]
    runs: list[tuple[int, dict]] = [
        (100, {"chunk_bytes": 5_000}),
        (100, {}),
        (10_000, {"chunk_bytes": 5_000}),
    ]
    for i, (k, run) in enumerate(runs):
        trained_on.clear()
        run_pipeline(parse_config(_config(tmp_path / str(i), [[p] for p in fq], k, run)))
        assert trained_on == [bottom_k(seqs, k)]
    # every read, by identity: the first input's records, then the second's
    assert trained_on[0] == seqs[0][0] + seqs[1][0]


def test_bottom_k_prunes_to_the_global_smallest(tmp_path):
    """Many batches and chunks with k small: the candidate bound and the pruning (held over
    2k) run many times; the merged sample is still the exact bottom-k."""
    rng = np.random.default_rng(5)
    seqs = ["".join(rng.choice(list("ACGT"), rng.integers(1, 30))) for _ in range(3000)]
    k, uris = 37, []
    for c, (lo, hi) in enumerate([(0, 1200), (1200, 1201), (1201, 1201), (1201, 3000)]):
        w = BottomK(str(tmp_path / f"s{c}.parquet"), 0, k)
        for b in range(lo, hi, 50):
            e = min(b + 50, hi)
            w.write(
                pa.table(
                    {
                        SEQ: pa.array([s.encode() for s in seqs[b:e]], pa.large_binary()),
                        SEQ2: pa.array([s[::-1].encode() for s in seqs[b:e]], pa.large_binary()),
                        RECORD: pa.array(np.arange(b, e, dtype=np.int64)),
                    }
                )
            )
            assert w.held <= 2 * k + 2 * (e - b)
        assert w.commit().rows == min(k, 2 * (hi - lo))
        uris.append(str(tmp_path / f"s{c}.parquet"))
    both = [[seqs, [s[::-1] for s in seqs]]]
    assert merge_samples(uris, k) == bottom_k(both, k)
    assert merge_samples(uris, 1) == bottom_k(both, 1)
    assert merge_samples(uris[2:3], k) == []  # an empty chunk's file


@pytest.mark.integration
def test_ray_runner_trains_the_same_model(tmp_path, pairs, ray_cluster, trained_on):
    models = {}
    for runner, run in (("local", {}), ("ray", {"chunk_bytes": 20_000})):
        out = tmp_path / runner
        run_pipeline(parse_config(_config(out, pairs, 400, run)), runner=runner)
        models[runner] = (out / "tokenizer" / "tokenizer.json").read_bytes()
    assert models["local"] == models["ray"]
    assert trained_on[0] == trained_on[1] == bottom_k(_truth(pairs), 400)
