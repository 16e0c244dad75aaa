"""The MPI solvers equal the single-process references (scikit-learn) with 1, 2 and 4
ranks: PCA (explained variance rtol 1e-6, components up to sign, projections), the exact
k-NN graph (indices equal, distances rtol 1e-6); outputs keep the reads' identity and
are readable by `seqray.load_embeddings`; ties are broken the same way whatever the
tiling or the ranks; a non-empty output directory is refused untouched; a failing rank's
error reaches the user with a non-zero exit."""

from __future__ import annotations

import argparse
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

import seqray
from seqray.cli.main import main
from seqray.errors import SeqrayError
from seqray.solvers import knn, partition_rows, pca
from seqray.solvers._common import SelfComm
from seqray.solvers.knn import block_neighbors, knn_graph

from .data import blobs, check_per_rank, write_run

N, DIM = 1500, 12
SHARDS = [400, 37, 700, 363]  # uneven: rank ranges cut across shards


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    x, _ = blobs(N, DIM, 4, seed=7, spread=3.0)
    return write_run(tmp_path_factory.mktemp("emb"), x, SHARDS)


@pytest.fixture(scope="module")
def x(run_dir):
    return np.asarray(seqray.load_embeddings(str(run_dir)).vectors[:], dtype=np.float64)


def test_partition_is_balanced_and_covers_every_row():
    for total, ranks in [(0, 1), (10, 4), (1500, 4), (3, 5), (7, 1)]:
        p = partition_rows(total, ranks)
        sizes = np.diff(p.bounds)
        assert p.bounds[0] == 0 and p.total == total and p.ranks == ranks
        assert sizes.max() - sizes.min() <= 1 and (np.diff(sizes) <= 0).all()
    with pytest.raises(ValueError):
        partition_rows(5, 0)


def _solve(module, run_dir, out, **opts):
    args = argparse.Namespace(embeddings=str(run_dir), output=str(out), **opts)
    module.solve(SelfComm(), args)


def check_pca(out, x, k):
    ref = PCA(n_components=k, svd_solver="full").fit(x)
    model = np.load(out / "pca.npz")
    np.testing.assert_allclose(model["explained_variance"], ref.explained_variance_, rtol=1e-6)
    np.testing.assert_allclose(
        model["explained_variance_ratio"], ref.explained_variance_ratio_, rtol=1e-6
    )
    np.testing.assert_allclose(model["mean"], ref.mean_, rtol=1e-9, atol=1e-9)
    signs = np.sign(np.sum(model["components"] * ref.components_, axis=1))
    np.testing.assert_allclose(model["components"], ref.components_ * signs[:, None], atol=1e-6)
    e = seqray.load_embeddings(str(out))
    proj = np.asarray(e.vectors[:], dtype=np.float64)
    np.testing.assert_allclose(proj, ref.transform(x) * signs, rtol=1e-4, atol=1e-4)
    return e


def check_knn(out, x, k):
    d, i = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(x).kneighbors()
    e = seqray.load_embeddings(str(out), stage="knn")
    got_i = np.asarray(e.column("neighbors")[:])
    got_d = np.asarray(e.column("distances")[:], dtype=np.float64)
    np.testing.assert_array_equal(got_i, i)
    np.testing.assert_allclose(got_d, d, rtol=1e-6, atol=1e-6)
    return e


def check_identity(e, run_dir):
    src = seqray.load_embeddings(str(run_dir))
    assert len(e) == N
    assert list(e.source[:]) == list(src.source[:])
    np.testing.assert_array_equal(e.record[:], src.record[:])
    assert list(e.name[:]) == list(src.name[:])
    np.testing.assert_array_equal(e.column("row")[:], np.arange(N))


def test_pca_one_rank_equals_sklearn(run_dir, x, tmp_path):
    _solve(pca, run_dir, tmp_path / "pca", components=5)
    check_identity(check_pca(tmp_path / "pca", x, 5), run_dir)


def test_knn_one_rank_equals_sklearn(run_dir, x, tmp_path):
    _solve(knn, run_dir, tmp_path / "knn", neighbors=7)
    check_identity(check_knn(tmp_path / "knn", x, 7), run_dir)


def test_knn_ties_go_to_the_lower_row_whatever_the_tiles():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 3, size=(60, 2)).astype(np.float64)  # many equal distances
    k = 6
    ref_d, ref_i = knn_graph(SelfComm(), base, partition_rows(60, 1), k)
    for tile in (1, 5, 7, 64):
        d = np.full((60, k), np.inf)
        i = np.full((60, k), np.iinfo(np.int64).max)
        d, i = block_neighbors(base, 0, base, 0, d, i, tile=tile)
        np.testing.assert_array_equal(i, ref_i)
    # the reference: sort each row by (distance, row), self excluded
    full = ((base[:, None, :] - base[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(full, np.inf)
    cols = np.broadcast_to(np.arange(60), full.shape)
    want = np.take_along_axis(cols, np.lexsort((cols, full), axis=1), 1)[:, :k]
    np.testing.assert_array_equal(ref_i, want)
    np.testing.assert_allclose(ref_d**2, np.take_along_axis(full, want, 1))


def test_too_many_components_or_neighbors_is_an_error(run_dir, tmp_path):
    assert (
        main(["solve", "pca", str(run_dir), "-o", str(tmp_path / "a"), "--components", "13"]) == 1
    )
    assert (
        main(["solve", "knn", str(run_dir), "-o", str(tmp_path / "b"), "--neighbors", "1500"]) == 1
    )


def test_a_non_empty_output_is_refused_untouched(run_dir, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["solve", "pca", str(run_dir), "-o", str(out)]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "keep me"


def test_the_manifest_lists_the_shards_with_checksums(run_dir, tmp_path):
    out = tmp_path / "pca"
    assert main(["solve", "pca", str(run_dir), "-o", str(out), "--components", "2"]) == 0
    from seqray.pipeline.manifest import damaged_file, load

    m = load(str(out))
    assert m.config["solver"] == "pca" and m.stages["pca"].rows_out == N
    assert [damaged_file(s.model_dump()) for s in m.shards] == [None]
    assert [damaged_file(f.model_dump()) for f in m.files] == [None]
    assert pq.read_table(m.shards[0].uri).column_names[:4] == ["source", "record", "name", "row"]
    check_per_rank(out, "pca", 1)


@pytest.mark.integration
@pytest.mark.parametrize("ranks", [2, 4])
def test_pca_on_mpi_ranks_equals_sklearn(run_dir, x, tmp_path, ranks):
    out = tmp_path / "pca 'q' $HOME `x`"  # the launch is an argument list, never a shell
    args = ["solve", "pca", str(run_dir), "-o", str(out), "--components", "5"]
    assert main([*args, "--ranks", str(ranks)]) == 0
    assert len(list((out / "projections").iterdir())) == ranks
    check_identity(check_pca(out, x, 5), run_dir)
    check_per_rank(out, "pca", ranks)


@pytest.mark.integration
@pytest.mark.parametrize("ranks", [2, 4])
def test_knn_on_mpi_ranks_equals_sklearn(run_dir, x, tmp_path, ranks):
    out = tmp_path / "knn"
    args = ["solve", "knn", str(run_dir), "-o", str(out), "--neighbors", "7"]
    assert main([*args, "--ranks", str(ranks)]) == 0
    assert len(list((out / "neighbors").iterdir())) == ranks
    check_identity(check_knn(out, x, 7), run_dir)
    check_per_rank(out, "knn", ranks)


@pytest.mark.integration
def test_a_failing_rank_fails_the_command_with_its_error(run_dir, tmp_path, capsys):
    out = tmp_path / "pca"
    args = ["solve", "pca", str(run_dir), "-o", str(out), "--components", "40", "--ranks", "2"]
    assert main(args) == 1
    err = capsys.readouterr()
    assert "--components must be between 1 and 12, not 40" in err.out + err.err
    assert "on 2 ranks failed" in err.out + err.err
    assert not (out / "manifest.json").exists()


def test_on_a_real_embedding_run(tmp_path):
    """A pipeline's own output (reads → embed → Parquet shards, float16 vectors)."""
    from ..io.formats.runs import make_inputs
    from ..io.formats.runs import run as embed_run

    model, data = make_inputs(tmp_path / "in")
    emb = tmp_path / "emb"
    embed_run(emb, data, model, "hdf5", dtype="float16")
    src = seqray.load_embeddings(str(emb))
    assert len(src.shards) > 3
    x = np.asarray(src.vectors[:], dtype=np.float64)
    keep = np.unique(x, axis=0, return_index=True)[1]
    assert len(keep) > 20  # distinct vectors: the reads differ
    assert main(["solve", "pca", str(emb), "-o", str(tmp_path / "pca"), "--components", "3"]) == 0
    e = check_pca(tmp_path / "pca", x, 3)
    assert list(e.source[:]) == list(src.source[:])
    np.testing.assert_array_equal(e.record[:], src.record[:])
    out = tmp_path / "knn"
    assert main(["solve", "knn", str(emb), "-o", str(out), "--neighbors", "3"]) == 0
    got = seqray.load_embeddings(str(out), stage="knn")
    d, _ = NearestNeighbors(n_neighbors=3, algorithm="brute").fit(x).kneighbors()
    # equal vectors (reads without k-mers, repeats) tie: compare distances, and check ties
    # went to the lowest rows by recomputing each neighbour's distance
    got_i = np.asarray(got.column("neighbors")[:])
    got_d = np.asarray(got.column("distances")[:], dtype=np.float64)
    np.testing.assert_allclose(got_d, d, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        np.linalg.norm(x[got_i] - x[:, None, :], axis=2), got_d, rtol=1e-5, atol=1e-6
    )


def test_the_module_runs_alone_without_mpirun(run_dir, x, tmp_path):
    import subprocess
    import sys

    import seqray as pkg

    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(pkg.__file__)))
    for v in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"):
        env.pop(v, None)
    out = tmp_path / "knn"
    cmd = [sys.executable, "-m", "seqray.solvers.knn", str(run_dir), "-o", str(out)]
    subprocess.run([*cmd, "--neighbors", "4"], env=env, check=True)
    check_knn(out, x, 4)
    bad = subprocess.run(cmd, env=env, capture_output=True, text=True)  # OUT is not empty
    assert bad.returncode == 1 and "is not empty" in bad.stderr


def test_the_launch_is_an_argument_list(monkeypatch):
    from seqray.cli import solve_cmd

    monkeypatch.setattr(solve_cmd.shutil, "which", lambda name: "/usr/bin/mpirun")
    cmd = solve_cmd.mpirun_command("knn", 3, ["a b", "-o", "$x `y`"])
    assert cmd[:3] == ["/usr/bin/mpirun", "-np", "3"] and "--oversubscribe" in cmd
    assert cmd[cmd.index("-x") + 1] == "PYTHONPATH"
    assert ("--allow-run-as-root" in cmd) == (os.geteuid() == 0)
    assert cmd[-5:] == ["-m", "seqray.solvers.knn", "a b", "-o", "$x `y`"]
    monkeypatch.setattr(solve_cmd.shutil, "which", lambda name: None)
    with pytest.raises(SeqrayError, match="needs `mpirun`"):
        solve_cmd.mpirun_command("knn", 2, [])
