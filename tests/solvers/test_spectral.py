"""Spectral clustering equals scikit-learn's `SpectralClustering(affinity=
"nearest_neighbors")` (adjusted Rand index ≥ 0.99) with 1, 2 and 4 ranks, on blobs whose
k-NN graph is connected (the eigen-solve has work to do) and on separated ones; labels
keep the reads' identity; the k-means++ step is deterministic."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import SpectralClustering
from sklearn.metrics import adjusted_rand_score

import seqray
from seqray.cli.main import main
from seqray.solvers.spectral import kmeans

from .data import blobs, check_per_rank, write_run

N, K, C = 1200, 15, 4


@pytest.fixture(scope="module")
def blobs_run(tmp_path_factory):
    x, truth = blobs(N, 4, C, seed=5, spread=2.5)  # touching blobs: one connected graph
    return write_run(tmp_path_factory.mktemp("emb"), x, [500, 31, 669]), x, truth


@pytest.fixture(scope="module")
def reference(blobs_run):
    _, x, _ = blobs_run
    sc = SpectralClustering(C, affinity="nearest_neighbors", n_neighbors=K, random_state=0)
    return sc.fit_predict(x)


def _labels(out):
    e = seqray.load_embeddings(str(out), stage="spectral")
    return e, np.asarray(e.column("label")[:])


@pytest.mark.parametrize(
    "ranks",
    [
        1,
        pytest.param(2, marks=pytest.mark.integration),
        pytest.param(4, marks=pytest.mark.integration),
    ],
)
def test_spectral_equals_sklearn(blobs_run, reference, tmp_path, ranks):
    run_dir, _, truth = blobs_run
    out = tmp_path / "sc"
    args = ["solve", "spectral", str(run_dir), "-o", str(out), "--clusters", str(C)]
    assert main([*args, "--neighbors", str(K), "--ranks", str(ranks)]) == 0
    e, labels = _labels(out)
    assert adjusted_rand_score(labels, reference) >= 0.99
    assert adjusted_rand_score(labels, truth) >= 0.95
    src = seqray.load_embeddings(str(run_dir))
    assert list(e.source[:]) == list(src.source[:]) and list(e.name[:]) == list(src.name[:])
    np.testing.assert_array_equal(e.record[:], src.record[:])
    model = np.load(out / "spectral.npz")
    assert model["embedding"].shape == (N, C)
    assert model["eigenvalues"][0] == pytest.approx(1.0, abs=1e-6)  # D^-1/2 A D^-1/2's top
    assert len(list((out / "labels").iterdir())) == ranks
    check_per_rank(out, "spectral", ranks)


def test_separated_blobs_are_found(tmp_path):
    x, truth = blobs(600, 10, 5, seed=3)
    run_dir = write_run(tmp_path / "emb", x, [600])
    out = tmp_path / "sc"
    assert main(["solve", "spectral", str(run_dir), "-o", str(out), "--clusters", "5"]) == 0
    assert adjusted_rand_score(_labels(out)[1], truth) == 1.0


def test_kmeans_is_seeded_and_finds_separated_groups():
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    truth = rng.integers(0, 3, 300)
    x = centres[truth] + rng.normal(scale=0.5, size=(300, 2))
    a, b = kmeans(x, 3), kmeans(x, 3)
    np.testing.assert_array_equal(a, b)
    assert adjusted_rand_score(a, truth) == 1.0
