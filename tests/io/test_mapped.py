"""A local plain file is scanned in place (memory-mapped); the batches are the same as
when its text is read piece by piece (as from S3), so outputs do not depend on how the
bytes arrived."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from seqray.cli.common import iter_chunk_tables
from seqray.io import streams
from seqray.io.parse import ReadOptions
from seqray.io.sources import plan_chunks
from seqray.io.streams import READ_SIZE
from seqray.qc.scan_stats import chunk_stats


def _fastq(path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    lens = rng.integers(0, 400, n)
    seq = rng.choice(np.frombuffer(b"ACGTN", np.uint8), int(lens.sum())).tobytes()
    qual = rng.integers(35, 75, int(lens.sum()), dtype=np.uint8).tobytes()
    ends = np.cumsum(lens)
    parts = []
    for i, (e, L) in enumerate(zip(ends.tolist(), lens.tolist())):
        s = e - L
        parts.append(b"@r%d\n%s\n+\n%s\n" % (i, seq[s:e], qual[s:e]))
    path.write_bytes(b"".join(parts))


def _batches(path, chunk_bytes: int) -> list[pa.Table]:
    chunks, _ = plan_chunks(str(path), chunk_bytes=chunk_bytes)
    return [
        t.select(["name", "seq", "qual", "record"])
        for _, t in iter_chunk_tables(chunks, ReadOptions())
    ]


@pytest.fixture(scope="module")
def big_fastq(tmp_path_factory):
    path = tmp_path_factory.mktemp("mapped") / "big.fq"
    _fastq(path, 60_000)  # ~25 MB: several READ_SIZE windows
    assert path.stat().st_size > 2 * READ_SIZE
    return path


@pytest.mark.parametrize("chunk_bytes", [64 << 20, 7 << 20])
def test_mapped_batches_equal_read_batches(big_fastq, monkeypatch, chunk_bytes):
    assert streams.map_local(str(big_fastq)) is not None
    mapped = _batches(big_fastq, chunk_bytes)
    monkeypatch.setattr(streams, "map_local", lambda uri: None)
    read = _batches(big_fastq, chunk_bytes)
    assert len(mapped) == len(read) > 2
    for a, b in zip(mapped, read):
        assert a.equals(b)
    assert pa.concat_tables(mapped).column("record").to_pylist() == list(range(60_000))


def test_mapped_statistics_equal_read_statistics(big_fastq, monkeypatch):
    chunks, _ = plan_chunks(str(big_fastq), chunk_bytes=7 << 20)
    mapped = [chunk_stats(c, ReadOptions(digest=False)).__dict__ for c in chunks]
    monkeypatch.setattr(streams, "map_local", lambda uri: None)
    read = [chunk_stats(c, ReadOptions(digest=False)).__dict__ for c in chunks]
    assert mapped == read


def test_no_map_for_empty_or_missing_files(tmp_path):
    (tmp_path / "empty.fq").write_bytes(b"")
    assert streams.map_local(str(tmp_path / "empty.fq")) is None
    assert streams.map_local(str(tmp_path / "missing.fq")) is None
    assert streams.map_local("s3://bucket/key.fq") is None


def test_closing_a_gzip_stream_stops_its_inflating_thread(tmp_path):
    """A whole gzip file inflates on a thread of its own; closing the stream part-way (an
    error, a reader that stops early) must stop that thread too."""
    import gzip
    import random
    import threading

    from seqray.io.sources import plan_chunks
    from seqray.io.streams import ChunkStream

    rng = random.Random(1)
    seq = "".join(rng.choice("ACGT") for _ in range(1 << 16)).encode()
    record = b"@r\n" + seq + b"\n+\n" + b"I" * len(seq) + b"\n"
    path = tmp_path / "r.fq.gz"
    path.write_bytes(gzip.compress(record * 600, compresslevel=1))  # ~80 MB of text
    (chunk,), _ = plan_chunks(str(path))
    before = threading.active_count()
    for _ in range(3):
        stream = ChunkStream(chunk)
        assert stream.read()
        stream.close()
    for _ in range(50):
        if threading.active_count() <= before:
            break
        threading.Event().wait(0.1)
    assert threading.active_count() <= before
