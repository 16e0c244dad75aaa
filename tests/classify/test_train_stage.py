"""train_classifier: trained on simulated genomes (fragments from the references) or on
labelled reads, the model classifies held-out reads of known origin; runs are byte-identical
for a seed whatever the chunking and runner; the model is an embedding model too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from seqray.classify.model import ClassifierModel
from seqray.classify.supervised import predict
from seqray.embed.model import EmbeddingModel
from seqray.embed.vectors import hash_mates
from seqray.errors import ConfigError, SeqrayError
from seqray.io.buffers import values_offsets
from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline

from .simulated import genomes, reads, write_fasta, write_fastq

LABELS = ["alpha", "beta", "gamma"]
SMALL = {"k": 10, "dim": 16, "epochs": 3, "threads": 2, "fragments": 3000}


@pytest.fixture(scope="module")
def refs(tmp_path_factory) -> tuple[Path, list[str]]:
    d = tmp_path_factory.mktemp("refs")
    gs = genomes(3, 6000, seed=7)
    for label, g in zip(LABELS, gs, strict=True):
        write_fasta(d / f"{label}.fa", [(f"{label}_chr", g)])
    return d, gs


def _train(
    out: Path, read_paths: list[str], run: dict | None = None, runner: str | None = None, **stage
) -> dict:
    cfg = {
        "output": str(out),
        "run": run or {},
        "stages": [{"read": {"paths": read_paths}}, {"train_classifier": {**SMALL, **stage}}],
    }
    return run_pipeline(parse_config(cfg), runner=runner).reports


def _classify(model_dir: Path, seqs: list[str]) -> np.ndarray:
    model = ClassifierModel.load(str(model_dir))
    values, offsets = values_offsets(pa.array([s.encode() for s in seqs], pa.large_binary()))
    a, b = hash_mates(model.embedding, values, offsets)
    labels, _ = predict(
        model.inputs(), np.asarray(model.output), a.rows, a.offsets, b.rows, b.offsets,
        1, model.loss, model.tree,
    )  # fmt: skip
    return labels[:, 0]


def _ref_config(d: Path) -> dict[str, list[str]]:
    return {label: [str(d / f"{label}.fa")] for label in LABELS}


def test_trained_on_references_classifies_reads(tmp_path, refs):
    d, gs = refs
    out = tmp_path / "out"
    rep = _train(out, [str(d / "alpha.fa")], references=_ref_config(d), noise="0.01")
    t = rep["train_classifier"]
    assert t["labels"] == 3 and t["loss"] == "softmax" and t["vocabulary"] > 10_000
    assert set(t["reference_bases"]) == set(LABELS)
    seqs, truth = reads(gs, 600, seed=1, error=0.02)
    got = _classify(out / "classifier_model", seqs)
    assert np.mean(got == truth) >= 0.97
    # its input vectors are an embedding model's
    emb = EmbeddingModel.load(str(out / "classifier_model"))
    assert emb.dim == SMALL["dim"] and emb.table.size == t["vocabulary"]


def test_hierarchical_softmax_learns_too(tmp_path, refs):
    d, gs = refs
    out = tmp_path / "out"
    rep = _train(out, [str(d / "alpha.fa")], references=_ref_config(d), loss="hs")
    assert rep["train_classifier"]["loss"] == "hs"
    seqs, truth = reads(gs, 400, seed=2)
    assert np.mean(_classify(out / "classifier_model", seqs) == truth) >= 0.95


def test_trained_on_labelled_reads(tmp_path, refs):
    _, gs = refs
    seqs, truth = reads(gs, 1500, seed=3)
    names = write_fastq(tmp_path / "train.fq", seqs)
    tsv = tmp_path / "labels.tsv"
    # every read but the last 100 labelled: those are left out of training
    tsv.write_text("".join(f"{n}\t{LABELS[t]}\n" for n, t in zip(names[:-100], truth[:-100])))
    out = tmp_path / "out"
    rep = _train(out, [str(tmp_path / "train.fq")], labels=str(tsv), epochs=5)
    t = rep["train_classifier"]
    assert sum(t["labelled_reads"].values()) == 1400 and t["fragments_per_epoch"] == 0
    held, held_truth = reads(gs, 400, seed=4)
    assert np.mean(_classify(out / "classifier_model", held) == held_truth) >= 0.9


def test_same_bytes_for_any_chunking_and_repeat(tmp_path, refs):
    d, gs = refs
    seqs, truth = reads(gs, 400, seed=5)
    names = write_fastq(tmp_path / "r.fq", seqs)
    tsv = tmp_path / "l.tsv"
    tsv.write_text("".join(f"{n}\t{LABELS[t]}\n" for n, t in zip(names, truth)))
    files = []
    for i, chunk in enumerate((1 << 20, 9000, 9000)):
        out = tmp_path / f"o{i}"
        _train(
            out, [str(tmp_path / "r.fq")], run={"chunk_bytes": chunk},
            references=_ref_config(d), labels=str(tsv), noise="0.02,0.01",
        )  # fmt: skip
        m = out / "classifier_model"
        files.append(
            {n: (m / n).read_bytes() for n in ("vectors.npy", "output.npy", "buckets.npy")}
        )
    assert files[0] == files[1] == files[2]


@pytest.mark.integration
def test_ray_runner_two_trainers_equals_local(tmp_path, refs, ray_cluster):
    d, _ = refs
    got = {}
    for runner in ("local", "ray"):
        out = tmp_path / runner
        _train(
            out, [str(d / "alpha.fa")], references=_ref_config(d), workers=2, threads=1,
            epochs=2, runner=runner,
        )  # fmt: skip
        got[runner] = (out / "classifier_model" / "vectors.npy").read_bytes()
    assert got["local"] == got["ray"]


def test_label_per_record(tmp_path, refs):
    _, gs = refs
    fa = write_fasta(tmp_path / "all.fa", [(n, g) for n, g in zip(LABELS, gs, strict=True)])
    out = tmp_path / "out"
    _train(out, [str(fa)], references={"all": [str(fa)]}, label_per_record=True)
    model = ClassifierModel.load(str(out / "classifier_model"))
    assert model.labels == LABELS
    seqs, truth = reads(gs, 300, seed=6)
    assert np.mean(_classify(out / "classifier_model", seqs) == truth) >= 0.95


@pytest.mark.parametrize(
    ("stage", "needle"),
    [
        ({}, "give reference genomes"),
        ({"references": {"unclassified": ["x.fa"]}}, "cannot be a label"),
        ({"noise": "0.5,0.6"}, "noise"),
    ],
)
def test_bad_configs_are_refused(tmp_path, refs, stage, needle):
    d, _ = refs
    with pytest.raises((ConfigError, SeqrayError), match=needle):
        _train(tmp_path / "out", [str(d / "alpha.fa")], **stage)


def test_labelled_pairs_are_one_example_each(tmp_path, refs):
    _, gs = refs
    seqs, truth = reads(gs, 600, seed=8)
    mates, _ = reads(gs, 600, seed=9)  # mates drawn afresh: only their k-mer count matters
    r1 = tmp_path / "r_1.fq"
    r2 = tmp_path / "r_2.fq"
    names = write_fastq(r1, seqs)
    r1.write_text("".join(
        f"@{n}/1\n{s}\n+\n{'I' * len(s)}\n" for n, s in zip(names, seqs, strict=True)
    ))  # fmt: skip
    write_fastq(r2, mates)
    tsv = tmp_path / "l.tsv"
    tsv.write_text("".join(f"{n}\t{LABELS[t]}\n" for n, t in zip(names, truth, strict=True)))
    cfg = {
        "output": str(tmp_path / "out"),
        "stages": [
            {"read": {"paths": [str(r1)], "mate_paths": [str(r2)]}},
            {"train_classifier": {**SMALL, "labels": str(tsv)}},
        ],
    }
    rep = run_pipeline(parse_config(cfg)).reports["train_classifier"]
    # every pair labelled through read 1's name (its /1 dropped), once
    assert sum(rep["labelled_reads"].values()) == 600


def test_name_labels_match_first_word_and_read1_suffix():
    from seqray.classify.corpus import NameLabels, join_mates

    nl = NameLabels({"a": "x", "b/2": "y", "c": "y"}, ["x", "y"])
    names = pa.array(["a comment", "b/2", "c/1", "d", "a/1 more"], pa.large_string())
    assert nl.lookup(names).tolist() == [0, 1, 1, -1, 0]
    ids, off = join_mates(
        np.array([1, 2, 3], np.uint32), np.array([0, 2, 3]),
        np.array([7, 8], np.uint32), np.array([0, 0, 2]),
    )  # fmt: skip
    assert ids.tolist() == [1, 2, 3, 7, 8] and off.tolist() == [0, 2, 5]
