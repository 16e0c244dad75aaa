"""`seqray embeddings train` and `tune` end to end: a model that `embed` and gensim load,
a foreign file where the model goes left alone, and a Ray Tune search on a small
labelled set whose best setting separates two genomes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqray.cli.main import main
from seqray.embed.model import EmbeddingModel

from ..conftest import assert_user_error


def _two_genomes(tmp_path: Path, n: int = 150) -> tuple[Path, Path]:
    """Reads (15× coverage) of two random 1 kb genomes, and a TSV naming each read's genome."""
    rng = np.random.default_rng(11)
    fq, tsv = tmp_path / "reads.fq", tmp_path / "labels.tsv"
    with fq.open("w") as f, tsv.open("w") as t:
        t.write("name\tlabel\n")
        for g in ("alpha", "beta"):
            genome = rng.choice(list("ACGT"), 1000)
            for i in range(n):
                a = int(rng.integers(0, 900))
                seq = "".join(genome[a : a + 100])
                f.write(f"@{g}_{i} extra words\n{seq}\n+\n{'I' * len(seq)}\n")
                t.write(f"{g}_{i}\t{g}\n")
    return fq, tsv


def test_train_export_and_gensim(tmp_path, capsys):
    gensim = pytest.importorskip("gensim")
    fq, _ = _two_genomes(tmp_path)
    model = tmp_path / "model"
    args = ["embeddings", "train", str(fq), "-o", str(model), "--hash", "lsh", "--k", "11"]
    args += ["--hash-bits", "12"]
    assert main([*args, "--dim", "8", "--epochs", "2", "--min-count", "1", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "buckets × 8 (lsh, k=11)" in " ".join(err.split())
    m = EmbeddingModel.load(str(model), verify=True)
    assert m.hasher.k == 11 and m.dim == 8 and m.training["epochs"] == 2
    w2v = tmp_path / "v.bin"
    assert main(["embeddings", "export", str(model), "--word2vec", str(w2v), "--binary"]) == 0
    kv = gensim.models.KeyedVectors.load_word2vec_format(str(w2v), binary=True)
    rows = np.array([kv[str(b)] for b in m.table.buckets])
    assert np.array_equal(rows, m.table.as_float32())
    # the finished run is verified on --resume; a changed one is refused without --overwrite
    same = [*args, "--dim", "8", "--epochs", "2", "--min-count", "1", "--quiet"]
    assert main([*same, "--resume"]) == 0
    assert main([*args, "--dim", "9", "--epochs", "2", "--min-count", "1", "--quiet"]) == 1
    assert EmbeddingModel.load(str(model)).dim == 8


def test_a_foreign_file_where_the_model_goes_is_kept(tmp_path, capsys):
    fq, _ = _two_genomes(tmp_path, 20)
    model = tmp_path / "model"
    model.mkdir()
    (model / "vectors.npy").write_bytes(b"mine")
    code = main(["embeddings", "train", str(fq), "-o", str(model), "--k", "9", "--quiet"])
    assert code == 1
    assert_user_error(capsys.readouterr().err, "holds no seqray run (vectors.npy)")
    assert (model / "vectors.npy").read_bytes() == b"mine"


def test_exact_hash_refuses_long_k(tmp_path, capsys):
    fq, _ = _two_genomes(tmp_path, 5)
    code = main(
        ["embeddings", "train", str(fq), "-o", str(tmp_path / "m2"), "--hash", "exact", "-k", "17"]
    )
    assert code == 2
    assert "k must be <= 16" in " ".join(capsys.readouterr().err.split())


@pytest.mark.integration
def test_tune_picks_a_setting_that_separates_the_genomes(tmp_path, ray_cluster, capsys):
    fq, tsv = _two_genomes(tmp_path)
    out = tmp_path / "tuned"
    args = ["embeddings", "tune", str(fq), "--labels", str(tsv), "-o", str(out)]
    args += ["--hash", "lsh", "--k", "9", "--hash-bits", "16,20", "--dim", "8", "--window", "3"]
    assert main([*args, "--trials", "2", "--epochs", "4", "--threads", "1", "--quiet"]) == 0
    m = EmbeddingModel.load(str(out))
    report = m.training["search"]  # every trial, with the model
    assert len(report["trials"]) == 2 and report["space"]["k"] == [9]
    assert report["best"]["hash_bits"] in (16, 20) and report["trials"][0]["accuracy"] > 0.8
    assert m.hasher.k == report["best"]["k"] and m.dim == 8
    # a second search is refused before it starts; with --overwrite it replaces the first
    assert main([*args, "--trials", "1", "--epochs", "1", "--quiet"]) == 1
    assert "a seqray run is already there" in capsys.readouterr().err
    assert main([*args, "--trials", "1", "--epochs", "1", "--quiet", "--overwrite"]) == 0
    assert len(EmbeddingModel.load(str(out)).training["search"]["trials"]) == 1
