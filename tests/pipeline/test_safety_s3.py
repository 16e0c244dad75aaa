"""Output ownership on S3: a prefix is a directory. A non-empty prefix without a seqray run
is refused, --overwrite removes only the run's own objects (never a foreign object under the
prefix, never a neighbouring prefix), and a missing bucket is a clear error."""

from __future__ import annotations

import pytest

from seqray.errors import OutputError
from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline

from ..dirformat import FILES
from ..dirformat import register as register_npy


def _keys(client, bucket: str, prefix: str = "") -> dict[str, str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {o["Key"]: o["ETag"] for p in pages for o in p.get("Contents", [])}


def _cfg(out: str, src: str):
    return parse_config(
        {
            "output": out,
            "run": {"runner": "local", "chunk_bytes": 100_000},
            "stages": [
                {"read": {"paths": [src]}},
                {"inspect": {}},
                {"write": {"format": "fastq"}},
                {"count": {"k": 11}},
            ],
        }
    )


@pytest.fixture
def s3_reads(s3_env, examples):
    client, bucket, _ = s3_env
    client.put_object(
        Bucket=bucket, Key="in/r1.fq.gz", Body=(examples / "phix_R1.fastq.gz").read_bytes()
    )
    client.put_object(Bucket=bucket, Key="runs/demo-notes.txt", Body=b"a neighbour")
    return client, bucket, f"s3://{bucket}/in/r1.fq.gz"


def test_a_non_empty_prefix_without_a_run_is_refused(s3_reads):
    client, bucket, src = s3_reads
    client.put_object(Bucket=bucket, Key="runs/demo/theirs.csv", Body=b"x")
    before = _keys(client, bucket)
    for overwrite in (False, True):
        with pytest.raises(OutputError, match=r"holds no seqray run \(theirs.csv\)"):
            run_pipeline(_cfg(f"s3://{bucket}/runs/demo", src), overwrite=overwrite)
    assert _keys(client, bucket) == before


def test_overwrite_on_s3_removes_only_the_runs_objects(s3_reads):
    client, bucket, src = s3_reads
    out = f"s3://{bucket}/runs/demo"
    run_pipeline(_cfg(out, src))
    first = _keys(client, bucket, "runs/demo/")
    assert "runs/demo/histo.txt" in first and "runs/demo/stats.json" in first
    with pytest.raises(OutputError, match="--overwrite"):
        run_pipeline(_cfg(out, src))
    run_pipeline(_cfg(out, src), overwrite=True)
    assert set(_keys(client, bucket, "runs/demo/")) == set(first)
    assert _keys(client, bucket, "runs/demo-")["runs/demo-notes.txt"]  # the neighbour stays
    # a foreign object joins the run: --overwrite now removes nothing at all
    client.put_object(Bucket=bucket, Key="runs/demo/counts/mine.txt", Body=b"mine")
    before = _keys(client, bucket)
    with pytest.raises(OutputError, match="counts/mine.txt"):
        run_pipeline(_cfg(out, src), overwrite=True)
    assert _keys(client, bucket) == before


def test_a_missing_bucket_is_an_output_error_before_any_read(s3_reads):
    _, _, src = s3_reads
    with pytest.raises(OutputError, match="no-such-bucket-x1.*cannot"):
        run_pipeline(_cfg("s3://no-such-bucket-x1/run", src))


def test_directory_shards_on_s3(s3_reads, monkeypatch):
    """A directory shard on S3 is a prefix of objects, each listed with its size and
    sha256: resume verifies each, and a foreign object inside one blocks --overwrite."""
    register_npy(monkeypatch)
    client, bucket, src = s3_reads
    out = f"s3://{bucket}/runs/npy"
    cfg = parse_config(
        {
            "output": out,
            "run": {"runner": "local", "chunk_bytes": 100_000},
            "stages": [{"read": {"paths": [src]}}, {"write": {"format": "npydir"}}],
        }
    )
    run_pipeline(cfg)
    # (pyarrow leaves "directory" marker objects, `…/`, where it deletes a temporary)
    keys = [k for k in _keys(client, bucket, "runs/npy/reads/") if not k.endswith("/")]
    shards = sorted({k.rsplit("/", 1)[0] for k in keys})
    assert shards and all(s.endswith(".npyd") for s in shards)
    assert sorted(keys) == sorted(f"{s}/{f}" for s in shards for f in FILES)  # nothing else
    assert run_pipeline(cfg, resume=True).verified == len(keys)
    client.put_object(Bucket=bucket, Key=f"{shards[0]}/mine.txt", Body=b"mine")
    before = _keys(client, bucket)
    with pytest.raises(OutputError, match=r"\.npyd/mine\.txt"):
        run_pipeline(cfg, overwrite=True)
    assert _keys(client, bucket) == before
    client.delete_object(Bucket=bucket, Key=f"{shards[0]}/mine.txt")
    run_pipeline(cfg, overwrite=True)
    assert sorted(k for k in _keys(client, bucket, "runs/npy/reads/") if k[-1] != "/") == sorted(
        keys
    )
