"""The service over real HTTP on loopback (a Serve deployment on the session's Ray):
vectors equal to `seqray embed`'s, concurrent requests batched into fewer embed calls and
each answered with its own vectors, every refusal a 4xx JSON error, and the service
healthy after all of them."""

from __future__ import annotations

import glob
import json
import threading

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seqray.cli.main import main
from seqray.errors import ConfigError
from seqray.serve.app import ServeSettings
from seqray.serve.requests import Limits
from seqray.serve.service import running

from ..conftest import write_random_fastq
from ..embed.exact_hasher import tiny_model
from .client import Client, free_port

pytestmark = pytest.mark.integration

LIMITS = Limits(max_sequences=8, max_sequence_length=400, max_body_bytes=20_000)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve") / "tiny-model"
    tiny_model(k=3, dim=6, dtype="float16").save(str(d))
    return d


@pytest.fixture(scope="module")
def service(ray_cluster, model_dir):
    """The service's URL; Serve is shut down after the module's tests."""
    settings = ServeSettings(
        str(model_dir),
        limits=LIMITS,
        max_batch_size=64,
        batch_wait_ms=100,  # wide, so that concurrent requests surely meet in one batch
        num_cpus=0.5,
    )
    with running(settings, port=free_port()) as endpoint:
        yield endpoint.url


@pytest.fixture
def client(service):
    c = Client(service)
    yield c
    c.close()


def fastq_sequences(path) -> list[str]:
    lines = path.read_text().splitlines()
    return lines[1::4]


def test_health(client, model_dir):
    health = client.health()
    assert health["status"] == "ok"
    assert (health["model"], health["dim"], health["backend"]) == ("tiny-model", 6, "lsh")
    assert str(model_dir) not in json.dumps(health)  # the server's paths stay on the server


def test_vectors_equal_seqray_embed(client, model_dir, tmp_path):
    fq = write_random_fastq(tmp_path / "r.fq", 40, seed=7, max_len=120)
    out = tmp_path / "out"
    args = ["embed", str(fq), "--model", str(model_dir), "-o", str(out)]
    assert main([*args, "--runner", "local", "--quiet"]) == 0
    parts = sorted(glob.glob(str(out / "vectors" / "part-*.parquet")))
    table = pa.concat_tables(pq.read_table(p) for p in parts)
    expected = np.array(table.column("vector").to_pylist(), np.float32)
    assert np.count_nonzero(np.abs(expected).sum(axis=1)) > 30  # real vectors, not zeros

    sequences = fastq_sequences(fq)
    served = []
    for i in range(0, len(sequences), LIMITS.max_sequences):
        status, data = client.embed(sequences[i : i + LIMITS.max_sequences])
        assert status == 200, data
        assert (data["model"], data["dim"], data["backend"]) == ("tiny-model", 6, "lsh")
        served += data["vectors"]
    assert np.array_equal(np.array(served, np.float32), expected)
    # lower case is the same sequence
    status, data = client.embed([s.lower() for s in sequences[:8]])
    assert status == 200 and np.array_equal(np.array(data["vectors"], np.float32), expected[:8])


def test_concurrent_requests_share_embed_calls(service, client):
    rng = np.random.default_rng(3)
    requests = [
        ["".join(rng.choice(list("ACGT"), rng.integers(5, 80))) for _ in range(1 + i % 3)]
        for i in range(16)
    ]
    alone = []  # each request by itself, one after another
    for seqs in requests:
        status, data = client.embed(seqs)
        assert status == 200
        alone.append(data["vectors"])

    before = client.health()
    answers: list = [None] * len(requests)
    barrier = threading.Barrier(len(requests))

    def send(i: int) -> None:
        c = Client(service)
        try:
            barrier.wait()
            answers[i] = c.embed(requests[i])
        finally:
            c.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    after = client.health()

    assert [a[0] for a in answers] == [200] * len(requests)
    # every request got its own vectors back, in its own order
    assert [a[1]["vectors"] for a in answers] == alone
    requests_done = after["requests"] - before["requests"]
    calls = after["calls"] - before["calls"]
    assert requests_done == len(requests)
    assert after["sequences"] - before["sequences"] == sum(map(len, requests))
    assert calls <= len(requests) // 2, (calls, requests_done)  # batched: ≥ 2 requests a call


def test_empty_list_gives_no_vectors(client):
    before = client.health()["calls"]
    assert client.embed([]) == (
        200,
        {"vectors": [], "model": "tiny-model", "dim": 6, "backend": "lsh"},
    )
    status, data = client.embed(["", "AC"])  # too short for a 3-mer: zero vectors
    assert status == 200 and data["vectors"] == [[0.0] * 6] * 2
    assert client.health()["calls"] == before + 2


def post(client: Client, body: bytes, **kw) -> tuple[int, dict]:
    return client.request("POST", "/embed", body, {"Content-Type": "application/json"}, **kw)


@pytest.mark.parametrize(
    "body, status, message",
    [
        (b"{oops", 400, "request body is not valid JSON"),
        (b"", 400, "request body is not valid JSON"),
        (b'["ACGT"]', 400, 'request body must be a JSON object {"sequences": [...]}'),
        (b'{"seqs": ["ACGT"]}', 400, 'request body has no "sequences"'),
        (b'{"sequences": "ACGT"}', 400, '"sequences" must be a list of strings, not str'),
        (b'{"sequences": ["ACGT", 7]}', 400, "sequence 1 is int, not a string"),
        (b'{"sequences": ["ACGT", "ACZT"]}', 400, "sequence 1 has an invalid letter 'Z' at"),
        (b'{"sequences": ["\\u00e9"]}', 400, "sequence 0 has an invalid letter 'é' at"),
        (json.dumps({"sequences": ["A"] * 9}).encode(), 413, "9 sequences is over the limit"),
        (json.dumps({"sequences": ["A" * 401]}).encode(), 413, "sequence 0 has 401 letters"),
        (json.dumps({"sequences": [], "pad": "x" * 20_000}).encode(), 413, "request body of"),
    ],
)
def test_refusals_are_json_4xx(client, body, status, message):
    got, data = post(client, body)
    assert got == status, data
    assert set(data) == {"error"} and message in data["error"], data


def test_a_large_chunked_body_is_refused_while_read(client):
    """Without a Content-Length, the body is counted as it arrives."""
    pieces = [b'{"sequences": [], "pad": "'] + [b"x" * 1000] * 25 + [b'"}']
    status, data = post(client, iter(pieces), chunked=True)
    assert status == 413 and "over the limit of 20000 bytes" in data["error"], data
    status, data = post(client, iter([b'{"sequences": ', b'["ACGT"]}']), chunked=True)
    assert status == 200 and len(data["vectors"]) == 1


@pytest.mark.parametrize(
    "method, path, status, message",
    [
        ("GET", "/embed", 405, "use POST /embed"),
        ("POST", "/health", 405, "use GET /health"),
        ("GET", "/vectors", 404, "no route /vectors"),
    ],
)
def test_unknown_routes_and_methods(client, method, path, status, message):
    got, data = client.request(method, path, b"{}" if method == "POST" else None)
    assert got == status and message in data["error"], data


def test_healthy_after_every_refusal(client):
    for body in (b"{oops", b'{"sequences": ["N" * 999]}', b'{"sequences": [1]}'):
        assert post(client, body)[0] in (400, 413)
    assert client.health()["status"] == "ok"
    assert client.embed(["ACGTACGT"])[0] == 200


def test_a_second_service_on_the_same_serve_is_refused(service, client, model_dir):
    """Serve has one HTTP proxy per cluster, and the service one application: a second
    start is refused, and the running service is left alone."""
    port = int(service.rsplit(":", 1)[1])
    settings = ServeSettings(str(model_dir), limits=LIMITS, max_batch_size=64)
    with pytest.raises(ConfigError, match=f"already runs on this cluster on 127.0.0.1:{port}"):
        with running(settings, port=free_port()):
            pass
    with pytest.raises(ConfigError, match="already runs a seqray service"):
        with running(settings, port=port):
            pass
    assert client.health()["status"] == "ok"
    assert client.embed(["ACGTACGT"])[0] == 200
