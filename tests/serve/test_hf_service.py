"""The service with the hf backend: a tiny DNABERT-style model (tests/embed/hf/models.py),
served vectors equal to `seqray embed --backend hf`'s (fp32, rtol 1e-5: the model batches
differently there), letters refused as for lsh. Skipped only where the hf backend is not
in the tree (seqray.embed.hf)."""

from __future__ import annotations

import glob

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seqray.cli.main import main
from seqray.serve.app import ServeSettings
from seqray.serve.service import running

from ..conftest import assert_user_error, write_random_fastq
from .client import Client, free_port

pytest.importorskip("seqray.embed.hf.embedder", reason="the hf backend is not in this tree")
pytest.importorskip("transformers", reason="seqray[hf] is not installed")


@pytest.mark.integration
def test_hf_vectors_equal_seqray_embed(ray_cluster, tmp_path):
    from ..embed.hf import models

    model = models.dnabert(tmp_path / "dnabert")
    fq = write_random_fastq(tmp_path / "r.fq", 12, seed=3, max_len=150)
    out = tmp_path / "out"
    args = ["embed", str(fq), "--backend", "hf", "--model", str(model), "-o", str(out)]
    assert main([*args, "--pooling", "mean", "--runner", "local", "--quiet"]) == 0
    table = pa.concat_tables(
        pq.read_table(p) for p in sorted(glob.glob(str(out / "vectors" / "part-*.parquet")))
    )
    expected = np.array(table.column("vector").to_pylist(), np.float32)

    options = {"pooling": "mean", "threads": 1}
    settings = ServeSettings(str(model), backend="hf", options=options, num_cpus=1)
    with running(settings, port=free_port()) as endpoint:
        client = Client(endpoint.url)
        status, data = client.embed(fq.read_text().splitlines()[1::4])
        assert status == 200, data
        assert (data["model"], data["backend"], data["dim"]) == ("dnabert", "hf", expected.shape[1])
        np.testing.assert_allclose(np.array(data["vectors"], np.float32), expected, 1e-5, 1e-6)
        status, data = client.embed(["ACGT", "ACGE"])
        assert status == 400 and "sequence 1 has an invalid letter 'E'" in data["error"]
        client.close()


def test_a_directory_without_an_hf_model_is_refused(tmp_path, capsys):
    assert main(["serve", "--backend", "hf", "--model", str(tmp_path)]) == 1
    assert_user_error(capsys.readouterr().err, "not a Hugging Face model directory")
