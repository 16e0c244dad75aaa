"""Reads and pipeline outputs on S3, against moto's S3 server on 127.0.0.1."""

from __future__ import annotations

import gzip
import json

import pytest

from seqray.cli.common import iter_chunk_tables
from seqray.io.parse import ReadOptions
from seqray.io.sources import plan_chunks
from seqray.io.writers import format_records
from seqray.pipeline.config import parse_config
from seqray.pipeline.runner import run_pipeline

pytestmark = pytest.mark.integration


def test_read_split_fastq_from_s3(s3_env, examples):
    client, bucket, _ = s3_env
    text = gzip.decompress((examples / "phix_R1.fastq.gz").read_bytes())
    client.put_object(Bucket=bucket, Key="in/phix.fq", Body=text)
    client.put_object(
        Bucket=bucket, Key="in/phix.fq.gz", Body=(examples / "phix_R1.fastq.gz").read_bytes()
    )
    for key in ("in/phix.fq", "in/phix.fq.gz"):
        chunks, _ = plan_chunks(f"s3://{bucket}/{key}", chunk_bytes=50_000)
        assert len(chunks) == (1 if key.endswith(".gz") else -(-len(text) // 50_000))
        got = b"".join(
            format_records(t, fastq=True) for _, t in iter_chunk_tables(chunks, ReadOptions())
        )
        assert got == text
    # globs expand on S3 too, in sorted order
    chunks, inputs = plan_chunks(f"s3://{bucket}/in/*.fq*")
    assert [i.info.uri for i in inputs] == [
        f"s3://{bucket}/in/phix.fq",
        f"s3://{bucket}/in/phix.fq.gz",
    ]


def test_pipeline_reads_and_writes_s3(s3_env, examples, tmp_path):
    client, bucket, _ = s3_env
    client.put_object(
        Bucket=bucket, Key="r1.fq.gz", Body=(examples / "phix_R1.fastq.gz").read_bytes()
    )
    out = f"s3://{bucket}/runs/demo"
    cfg = parse_config(
        {
            "output": out,
            "run": {"chunk_bytes": 100_000},
            "stages": [
                {"read": {"paths": [f"s3://{bucket}/r1.fq.gz"]}},
                {"inspect": {}},
                {"write": {"format": "fastq"}},
                {"write": {"format": "parquet", "path": "pq"}},
            ],
        }
    )
    run_pipeline(cfg, runner="local")
    manifest = json.loads(
        client.get_object(Bucket=bucket, Key="runs/demo/manifest.json")["Body"].read()
    )
    assert manifest["complete"]
    fq = client.get_object(Bucket=bucket, Key="runs/demo/reads.fastq.gz")["Body"].read()
    assert gzip.decompress(fq) == gzip.decompress((examples / "phix_R1.fastq.gz").read_bytes())
    keys = {
        o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="runs/demo/")["Contents"]
    }
    assert "runs/demo/pq/part-0000-00000.parquet" in keys
    assert not any("/_seqray/parts/" in k for k in keys)  # joined, then removed
    # a finished run on S3 is recognised as finished
    with pytest.raises(Exception, match="--overwrite"):
        run_pipeline(cfg, runner="local")
    # and the S3 output reads back through seqray
    chunks, _ = plan_chunks(f"{out}/pq/part-0000-00000.parquet")
    rows = sum(len(t) for _, t in iter_chunk_tables(chunks, ReadOptions()))
    assert rows == 2000


def test_missing_s3_object_is_an_input_error(s3_env):
    from seqray.errors import InputError

    _, bucket, _ = s3_env
    with pytest.raises(InputError, match="no such file"):
        plan_chunks(f"s3://{bucket}/nope.fq")


def test_read_bam_from_s3(s3_env, examples, tmp_path):
    """htslib reads local paths only: the reader copies the object to a task-local file."""
    from seqray.cli.main import main

    client, bucket, _ = s3_env
    bam = tmp_path / "phix.bam"
    assert main(["convert", str(examples / "phix_R1.fastq.gz"), str(bam)]) == 0
    client.put_object(Bucket=bucket, Key="bam/phix.bam", Body=bam.read_bytes())

    def records(uri):
        chunks, _ = plan_chunks(uri)
        return b"".join(
            format_records(t, fastq=True) for _, t in iter_chunk_tables(chunks, ReadOptions())
        )

    got = records(f"s3://{bucket}/bam/phix.bam")
    assert got == records(str(bam))
    assert got == gzip.decompress((examples / "phix_R1.fastq.gz").read_bytes())
