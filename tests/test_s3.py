"""Reads and pipeline outputs on S3, against moto's S3 server on 127.0.0.1: split and paired
reads, multi-chunk FASTQ and Parquet outputs, rejects, and resume after SIGKILL."""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from seqray.cli.common import iter_chunk_tables
from seqray.io.formats.text import format_records
from seqray.io.parse import ReadOptions
from seqray.io.sources import plan_chunks
from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline

from .conftest import seqray_cmd, write_random_fastq

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


def _objects(client, bucket: str, prefix: str) -> dict[str, bytes]:
    """Every object under `prefix` (key relative to it) and its bytes."""
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            if o["Key"].endswith("/"):
                continue  # a directory marker, not a file
            body = client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            out[o["Key"][len(prefix) :]] = body
    return out


def _outputs(objects: dict[str, bytes]) -> dict[str, bytes]:
    """The run's data outputs: not its run state, not the manifest (it holds times)."""
    return {
        k: v
        for k, v in objects.items()
        if not k.startswith("_seqray/") and k not in ("manifest.json", "run.json")
    }


def _fastq_records(text: bytes) -> list[tuple[str, bytes, bytes]]:
    lines = text.split(b"\n")
    return [
        (lines[i][1:].decode(), lines[i + 1], lines[i + 3]) for i in range(0, len(lines) - 1, 4)
    ]


def _pipeline(output: str, paths, mates=None, chunk_bytes=20000, on_error="fail") -> dict:
    read = {"paths": [str(p) for p in paths]}
    if mates:
        read["mate_paths"] = [str(p) for p in mates]
    return {
        "output": output,
        "run": {"chunk_bytes": chunk_bytes, "block_bases": 5000, "on_error": on_error},
        "stages": [
            {"read": read},
            {"write": {"format": "fastq"}},
            {"write": {"format": "parquet", "path": "pq"}},
        ],
    }


def test_multi_chunk_fastq_and_parquet_writes_to_s3(s3_env, tmp_path):
    """Many chunks, each writing a FASTQ part and a Parquet shard to S3: the parts are joined
    into one file in read order, the shards hold every read, and the objects are
    byte-identical to a local run's files."""
    client, bucket, _ = s3_env
    fq = write_random_fastq(tmp_path / "a.fq", 1500, max_len=150)
    local = tmp_path / "local"
    run_pipeline(parse_config(_pipeline(str(local), [fq])), runner="local")
    r = run_pipeline(parse_config(_pipeline(f"s3://{bucket}/run", [fq])), runner="local")
    assert r.chunks > 5
    objects = _objects(client, bucket, "run/")
    assert not [k for k in objects if "/parts/" in k or ".tmp-" in k]  # joined, committed
    # the FASTQ is the input (already in seqray's normal form), in order
    assert gzip.decompress(objects["reads.fastq.gz"]) == fq.read_bytes()
    shards = sorted(k for k in objects if k.startswith("pq/"))
    assert len(shards) == r.chunks
    rows = pa.concat_tables(pq.read_table(pa.BufferReader(objects[k])) for k in shards)
    got = list(
        zip(
            rows.column("name").to_pylist(),
            rows.column("seq").to_pylist(),
            rows.column("qual").to_pylist(),
        )
    )
    assert got == _fastq_records(fq.read_bytes())
    assert rows.column("record").to_pylist() == list(range(1500))
    local_files = {
        str(p.relative_to(local)): p.read_bytes()
        for p in local.rglob("*")
        if p.is_file() and "_seqray" not in p.parts
    }
    assert _outputs(objects) == _outputs(local_files)


def test_pairs_read_from_s3(s3_env, examples, tmp_path):
    """Plain R1/R2 objects, R1 cut into byte ranges and R2 placed by record counts, read
    over S3: the pairs written back are the inputs."""
    client, bucket, _ = s3_env
    texts = [gzip.decompress((examples / f"phix_R{m}.fastq.gz").read_bytes()) for m in (1, 2)]
    for m, text in zip((1, 2), texts):
        client.put_object(Bucket=bucket, Key=f"in/phix_R{m}.fq", Body=text)
    cfg = _pipeline(
        str(tmp_path / "o"),
        [f"s3://{bucket}/in/phix_R1.fq"],
        [f"s3://{bucket}/in/phix_R2.fq"],
        chunk_bytes=50_000,
    )
    r = run_pipeline(parse_config(cfg), runner="local")
    assert r.chunks > 3  # split, not one chunk
    for m, text in zip((1, 2), texts):
        assert gzip.decompress((tmp_path / "o" / f"reads_R{m}.fastq.gz").read_bytes()) == text
    t = pq.read_table(tmp_path / "o" / "pq")
    assert t.column("name2").to_pylist() == [n for n, _, _ in _fastq_records(texts[1])]


def test_rejects_written_to_s3(s3_env, tmp_path):
    """on_error: skip with the output on S3: bad records go to rejects/ objects, counted in
    the manifest; the good ones are written."""
    client, bucket, _ = s3_env
    good = [(f"g{i}", "ACGT" * (i % 5 + 1), "I" * 4 * (i % 5 + 1)) for i in range(300)]
    bad = {
        57: "@b57\nACGT\n+\nIII\n",  # qualities shorter than the sequence
        201: "@b201\nAZGT\n+\nIIII\n",  # not a base
    }
    text = ""
    ordinal = 0
    order = []
    for name, s, q in good:
        if ordinal in bad:
            text += bad[ordinal]
            order.append(None)
            ordinal += 1
        text += f"@{name}\n{s}\n+\n{q}\n"
        order.append(name)
        ordinal += 1
    src = tmp_path / "in.fq"
    src.write_text(text)
    out = f"s3://{bucket}/rej"
    r = run_pipeline(
        parse_config(_pipeline(out, [src], chunk_bytes=2000, on_error="skip")), runner="local"
    )
    assert r.rejected == 2 and r.chunks > 3
    objects = _objects(client, bucket, "rej/")
    rejects = [
        json.loads(line)
        for k in sorted(k for k in objects if k.startswith("rejects/"))
        for line in objects[k].decode().splitlines()
    ]
    assert [(x["record"], x["text"]) for x in rejects] == [(o + 1, bad[o]) for o in sorted(bad)]
    assert [x["file"] for x in rejects] == [str(src)] * 2
    assert "lengths differ" in rejects[0]["reason"] and "'Z'" in rejects[1]["reason"]
    manifest = json.loads(objects["manifest.json"])
    assert manifest["reads"] == {"in": 302, "rejected": 2}
    kept = [n for n, _, _ in _fastq_records(gzip.decompress(objects["reads.fastq.gz"]))]
    assert kept == [n for n, _, _ in good]


def test_resume_on_s3_after_sigkill(s3_env, tmp_path, run_env):
    """A run writing to S3 killed after some chunks, resumed: its objects equal a clean
    run's, and no half-written object is left."""
    client, bucket, env = s3_env
    fq = write_random_fastq(tmp_path / "a.fq", 1200, max_len=150)
    full_env = {**run_env, **env}
    cfgs = {}
    for name in ("clean", "killed"):
        cfgs[name] = tmp_path / f"{name}.yaml"
        cfg = _pipeline(f"s3://{bucket}/{name}", [fq], chunk_bytes=10000)
        cfg["run"]["num_cpus"] = 1  # on many CPUs every chunk may end before the kill
        cfgs[name].write_text(yaml.safe_dump(cfg))
    subprocess.run(
        [*seqray_cmd(), "run", str(cfgs["clean"]), "--runner", "local"],
        check=True,
        env=full_env,
        capture_output=True,
    )
    cmd = [*seqray_cmd(), "run", str(cfgs["killed"]), "--runner", "local"]
    proc = subprocess.Popen(cmd, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def journaled() -> int:
        got = client.list_objects_v2(Bucket=bucket, Prefix="killed/_seqray/journal/")
        return got.get("KeyCount", 0)

    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and journaled() < 3:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = journaled()
    assert before >= 3, "the run was killed before three chunks finished"
    killed = _objects(client, bucket, "killed/")
    assert "manifest.json" not in killed, "the run finished before it was killed"
    r = subprocess.run([*cmd, "--resume"], env=full_env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "resumed" in r.stderr
    clean = _objects(client, bucket, "clean/")
    resumed = _objects(client, bucket, "killed/")
    assert _outputs(resumed) == _outputs(clean)
    assert not [k for k in resumed if ".tmp-" in k or "/parts/" in k]
    assert json.loads(resumed["manifest.json"])["complete"]
