"""examples/cluster_genomes.py end to end on the test Slurm cluster (small: 150 reads of
5 kb per genome): its ARI is the one scikit-learn computes from the labels it wrote, and it
separates the six genomes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from sklearn.metrics import adjusted_rand_score

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_cluster_genomes_example(slurm, tmp_path):
    out = tmp_path / "cluster"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "cluster_genomes.py"), "--out", str(out),
         "--reads-per-genome", "150"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((out / "report.json").read_text())
    labels = ds.dataset(out / "run" / "hpc" / "result" / "labels").to_table()
    truth = [n.rsplit("_", 1)[0] for n in labels.column("name").to_pylist()]
    ari = adjusted_rand_score(truth, labels.column("label").to_pylist())
    assert report["adjusted_rand_index"] == pytest.approx(ari, abs=1e-4)
    assert report["reads"] == 900 and report["genomes"] == 6
    assert ari >= 0.85
    (job,) = report["jobs"]
    assert job["job_id"].isdigit() and job["state"] == "COMPLETED"
    assert "adjusted Rand index" in proc.stdout
