"""Both runners, tiny chunks: identical bytes; resume after SIGKILL equals a clean run."""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline

from ..conftest import seqray_cmd, write_random_fastq, write_random_pairs


def _config(out: Path, paths, mates=None, chunk_bytes=20000, block_bases=5000, extra=None):
    read = {"paths": [str(p) for p in paths]}
    if mates:
        read["mate_paths"] = [str(p) for p in mates]
    return {
        "output": str(out),
        "run": {"chunk_bytes": chunk_bytes, "block_bases": block_bases},
        "stages": [
            {"read": read},
            {"inspect": {}},
            {"write": {"format": "fastq"}},
            {"write": {"format": "parquet", "path": "pq"}},
            *(extra or []),
        ],
    }


def _files(out: Path) -> dict[str, bytes]:
    skip = {"manifest.json", "run.json"}
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name not in skip and "_seqray" not in p.parts
    }


@pytest.mark.integration
def test_local_and_ray_runners_write_identical_bytes(tmp_path, ray_cluster, examples):
    fq = write_random_fastq(tmp_path / "a.fq", 3000)
    results = {}
    for runner in ("local", "ray"):
        cfg = parse_config(_config(tmp_path / runner, [fq, examples / "phix_R1.fastq.gz"]))
        r = run_pipeline(cfg, runner=runner)
        assert r.runner == runner
        results[runner] = _files(tmp_path / runner)
    assert results["local"] == results["ray"]
    assert len([k for k in results["local"] if k.startswith("pq/")]) > 5  # many chunks
    # the FASTQ output is the input, normalised, in read-identity order
    text = gzip.decompress(results["local"]["reads.fastq.gz"])
    assert text.startswith(fq.read_bytes())
    with gzip.open(examples / "phix_R1.fastq.gz", "rb") as f:
        assert text[len(fq.read_bytes()) :] == f.read()


@pytest.mark.integration
def test_paired_run_on_ray(tmp_path, ray_cluster, examples):
    cfg = parse_config(
        _config(tmp_path / "o", [examples / "phix_R1.fastq.gz"], [examples / "phix_R2.fastq.gz"])
    )
    r = run_pipeline(cfg, runner="ray")
    out = tmp_path / "o"
    for mate in ("R1", "R2"):
        with gzip.open(examples / f"phix_{mate}.fastq.gz", "rb") as f:
            assert gzip.decompress((out / f"reads_{mate}.fastq.gz").read_bytes()) == f.read()
    m = json.loads((out / "manifest.json").read_text())
    assert m["complete"] and m["reads"]["in"] == 2000
    assert r.counters["0:read"].rows_out == 2000
    assert {s["uri"].rsplit("/", 1)[1] for s in m["shards"]} >= {
        "reads_R1.fastq.gz",
        "reads_R2.fastq.gz",
    }
    stats = json.loads((out / "stats.json").read_text())
    assert [f["num_seqs"] for f in stats["files"]] == [2000, 2000]


@pytest.mark.integration
def test_split_pairs_on_both_runners(tmp_path, ray_cluster):
    """R1 cut in byte ranges, R2 placed by count: both runners write the input pairs back,
    byte-identical, with duplicates marked by (source, record) across chunks."""
    r1, r2 = write_random_pairs(tmp_path / "a_1.fq", tmp_path / "a_2.fq", 3000, dup_every=5)
    results, manifests = {}, {}
    for runner in ("local", "ray"):
        dedup = [{"dedup": {}}, {"write": {"format": "fastq", "path": "dd"}}]
        cfg = _config(tmp_path / runner, [r1], [r2], extra=dedup)
        run_pipeline(parse_config(cfg), runner=runner)
        results[runner] = _files(tmp_path / runner)
        manifests[runner] = json.loads((tmp_path / runner / "manifest.json").read_text())
    assert results["local"] == results["ray"]
    assert [i["checksum"] for i in manifests["local"]["inputs"]] == [
        i["checksum"] for i in manifests["ray"]["inputs"]
    ]
    assert all(i["checksum"].startswith("sha256-chunks:") for i in manifests["ray"]["inputs"])
    assert len([k for k in results["local"] if k.startswith("pq/")]) > 5  # many chunks
    out = results["local"]
    assert gzip.decompress(out["reads_R1.fastq.gz"]) == r1.read_bytes()
    assert gzip.decompress(out["reads_R2.fastq.gz"]) == r2.read_bytes()
    # every 5th pair repeats an earlier one: the dedup writer drops exactly those
    kept = gzip.decompress(out["dd_R1.fastq.gz"]).decode().split("\n")[0::4][:-1]
    assert kept == [f"@pair{i}/1" for i in range(3000) if i % 5 != 4]


def test_resume_of_split_pairs_equals_a_clean_run(tmp_path, monkeypatch):
    from seqray.pipeline.manifest import Journal

    r1, r2 = write_random_pairs(tmp_path / "a_1.fq", tmp_path / "a_2.fq", 1500, seed=4)
    clean, cut = tmp_path / "clean", tmp_path / "cut"
    run_pipeline(parse_config(_config(clean, [r1], [r2], chunk_bytes=15000)), runner="local")
    record = Journal.record
    seen = []

    def crash_after_five(self, outcome):
        if len(seen) == 5:
            raise KeyboardInterrupt  # the run dies part-way, its finished chunks journaled
        seen.append(outcome["chunk"])
        record(self, outcome)

    monkeypatch.setattr(Journal, "record", crash_after_five)
    cfg = parse_config(_config(cut, [r1], [r2], chunk_bytes=15000))
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(cfg, runner="local")
    monkeypatch.setattr(Journal, "record", record)
    r = run_pipeline(cfg, resume=True, runner="local")
    assert r.resumed_chunks == 5 and r.chunks > 10
    assert _files(cut) == _files(clean)


def test_manifest_lists_verifiable_shards(tmp_path):
    import hashlib

    fq = write_random_fastq(tmp_path / "a.fq", 500)
    run_pipeline(parse_config(_config(tmp_path / "o", [fq], chunk_bytes=10000)))
    m = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert m["complete"] and m["config_hash"] and m["seqray_version"]
    for s in m["shards"]:
        data = Path(s["uri"]).read_bytes()
        assert len(data) == s["bytes"] and hashlib.sha256(data).hexdigest() == s["sha256"]
    pq_rows = sum(s["rows"] for s in m["shards"] if s["format"] == "parquet")
    assert pq_rows == 500
    inp = m["inputs"][0]
    assert inp["size"] == fq.stat().st_size and inp["checksum"].startswith("sha256-chunks:")


def test_refuses_to_overwrite_or_resume_changed(tmp_path):
    from seqray.errors import ResumeError, SeqrayError

    fq = write_random_fastq(tmp_path / "a.fq", 200)
    cfg = parse_config(_config(tmp_path / "o", [fq]))
    run_pipeline(cfg)
    with pytest.raises(SeqrayError, match="--overwrite"):
        run_pipeline(cfg)
    (tmp_path / "o" / "manifest.json").unlink()  # looks interrupted
    changed = parse_config(_config(tmp_path / "o", [fq], chunk_bytes=999))
    with pytest.raises(ResumeError, match="config changed"):
        run_pipeline(changed, resume=True)
    write_random_fastq(fq, 201)
    with pytest.raises(ResumeError, match="input changed"):
        run_pipeline(cfg, resume=True)
    run_pipeline(cfg, overwrite=True)


@pytest.mark.integration
@pytest.mark.parametrize("runner", ["local", "ray"])
def test_resume_after_sigkill_is_byte_identical(tmp_path, runner, run_env):
    fq = write_random_fastq(tmp_path / "a.fq", 30000, max_len=200)
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    for out in (clean, killed):
        (tmp_path / f"{out.name}.yaml").write_text(
            yaml.safe_dump(_config(out, [fq], chunk_bytes=20000))
        )
    subprocess.run(
        [*seqray_cmd(), "run", str(tmp_path / "clean.yaml"), "--runner", "local"],
        check=True,
        env=run_env,
        capture_output=True,
    )
    cmd = [*seqray_cmd(), "run", str(tmp_path / "killed.yaml"), "--runner", runner]
    proc = subprocess.Popen(
        cmd,
        env=run_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=runner == "local",
    )
    journal = killed / "_seqray" / "journal"
    deadline = time.time() + 120
    n = 0
    while time.time() < deadline and proc.poll() is None:
        n = len(list(journal.glob("*.json"))) if journal.exists() else 0
        if n >= 5:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(list(journal.glob("*.json")))
    assert 0 < done_before, "the run was killed before any chunk finished"
    assert not (killed / "manifest.json").exists(), "the run finished before it was killed"
    r = subprocess.run([*cmd, "--resume"], env=run_env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "resumed" in r.stderr
    assert _files(killed) == _files(clean)


@pytest.mark.integration
def test_bad_input_on_ray_is_a_located_error_and_no_manifest(tmp_path, ray_cluster):
    from seqray.errors import FormatError

    fq = write_random_fastq(tmp_path / "a.fq", 2000)
    with open(fq, "ab") as f:
        f.write(b"@bad\nACGT\n+\nIII\n")
    cfg = parse_config(_config(tmp_path / "o", [fq], chunk_bytes=50_000))
    with pytest.raises(FormatError) as e:
        run_pipeline(cfg, runner="ray")
    assert e.value.record == 2001 and e.value.path == str(fq)
    assert "sequence and quality lengths differ" in str(e.value)
    assert not (tmp_path / "o" / "manifest.json").exists()


def test_on_error_skip_writes_rejects_and_counts_them(tmp_path):
    fq = tmp_path / "a.fq"
    fq.write_bytes(b"@r1\nACGT\n+\nIIII\n@r2\nACGT\n+\nIII\n@r3\nAZGT\n+\nIIII\n@r4\nGG\n+\nII\n")
    data = _config(tmp_path / "o", [fq], chunk_bytes=20)
    data["run"]["on_error"] = "skip"
    run_pipeline(parse_config(data))
    out = tmp_path / "o"
    assert gzip.decompress((out / "reads.fastq.gz").read_bytes()) == (
        b"@r1\nACGT\n+\nIIII\n@r4\nGG\n+\nII\n"
    )
    m = json.loads((out / "manifest.json").read_text())
    assert m["reads"] == {"in": 4, "rejected": 2}
    rejects = [
        json.loads(line)
        for p in sorted((out / "rejects").glob("*.jsonl"))
        for line in p.read_text().splitlines()
    ]
    assert [(r["record"], r["reason"]) for r in rejects] == [
        (2, "sequence and quality lengths differ"),
        (3, "invalid character 'Z' in sequence"),
    ]
    assert rejects[0]["text"] == "@r2\nACGT\n+\nIII\n"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["files"][0]["num_seqs"] == 2


def test_thread_count_does_not_change_outputs(tmp_path, examples):
    fq = write_random_fastq(tmp_path / "a.fq", 2000)
    results = {}
    for threads in (1, 4):
        cfg = _config(
            tmp_path / f"t{threads}", [fq, examples / "phix_R1.fastq.gz"], block_bases=900
        )
        cfg["run"]["num_cpus"] = threads
        run_pipeline(parse_config(cfg), runner="local")
        results[threads] = _files(tmp_path / f"t{threads}")
    assert sorted(results[1]) == sorted(results[4])
    assert [k for k in results[1] if results[1][k] != results[4][k]] == []  # names what differs
    stats = json.loads((tmp_path / "t4" / "stats.json").read_text())
    assert stats["total"]["num_seqs"] == 4000
