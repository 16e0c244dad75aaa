"""Load test of `seqray serve`: requests/s and latency at 1, 8 and 32 concurrent clients.

    python bench/serve_load.py [--model DIR [--backend lsh|hf]] [--requests 400]
        [--concurrency 1 8 32] [--sequences 8] [--read-length 150] [--replicas 1]
        [--threads 1] [--max-batch-size 1024] [--batch-wait-ms 5] [--json OUT.json]

Without --model, a k-mer embedding model is trained first (`seqray embeddings train`,
k=12 exact, dim 100, 1 epoch) on 5,000 reads simulated from a random 50 kb genome; the
requests carry other reads of the same genome (so their k-mers are in the model). The service
is started in this process on a local Ray (`seqray.serve.service.running`, the code
behind `seqray serve`) on a free loopback port.

Protocol:
1. **Check** (untimed): one request's vectors must equal the embedder's own output for
   the same sequences (`load_embedder(...).embed`) and not be all zero, else the script
   exits 3 and prints no timing. A few warm-up requests follow.
2. **Timed**, per concurrency C: `--requests` requests of `--sequences` reads
   each, spread over C client threads, each with one keep-alive connection
   (`http.client`); every answer must be 200 with one vector per sequence. Reported:
   requests/s and sequences/s over the wall time of the level, and the p50/p99 of the
   per-request latency (send to last byte received), and the embed calls the replicas
   made (from /health: how many requests `serve.batch` combined).

Clients, Serve's proxy and the replicas share this machine's CPUs: the figures are for
the whole loop on one machine, and are lower on a machine loaded by other work (the load
average before and after is printed).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

EXIT_DISAGREE = 3


GENOME_SEED = 1


def simulate_reads(rng: np.random.Generator, n: int, read_len: int) -> list[str]:
    """n reads of a random 50 kb genome (the same genome for every call: `GENOME_SEED`),
    both strands, 1% substitutions."""
    genome = np.random.default_rng(GENOME_SEED).integers(0, 4, 50_000).astype(np.uint8)
    starts = rng.integers(0, len(genome) - read_len, n)
    codes = genome[starts[:, None] + np.arange(read_len)]
    reverse = rng.random(n) < 0.5
    codes[reverse] = 3 - codes[reverse, ::-1]
    wrong = rng.random(codes.shape) < 0.01
    codes[wrong] = (codes[wrong] + rng.integers(1, 4, int(wrong.sum()))) % 4
    letters = np.frombuffer(b"ACGT", np.uint8)[codes]
    return [row.tobytes().decode() for row in letters]


def train_model(workdir: Path) -> Path:
    fq = workdir / "reads.fq"
    reads = simulate_reads(np.random.default_rng(2), 5_000, 150)
    fq.write_text("".join(f"@r{i}\n{r}\n+\n{'I' * len(r)}\n" for i, r in enumerate(reads)))
    model = workdir / "model"
    cmd = [sys.executable, "-m", "seqray.cli.main", "embeddings", "train", str(fq)]
    cmd += ["-o", str(model), "-k", "12", "--dim", "100", "--epochs", "1", "--quiet"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return model


class Connection:
    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self.conn.request(method, path, body, headers)
        response = self.conn.getresponse()
        return response.status, json.loads(response.read())


def run_level(port: int, bodies: list[bytes], per_request: int, clients: int) -> dict:
    """All `bodies` sent by `clients` threads; latencies (s) and the level's wall time."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    shares = [bodies[i::clients] for i in range(clients)]
    barrier = threading.Barrier(clients + 1)

    def client(share: list[bytes]) -> None:
        conn = Connection(port)
        mine = []
        barrier.wait()
        for body in share:
            t0 = time.perf_counter()
            status, data = conn.get("POST", "/embed", body)
            mine.append(time.perf_counter() - t0)
            if status != 200 or len(data.get("vectors", [])) != per_request:
                with lock:
                    failures.append(f"{status}: {str(data)[:200]}")
        conn.conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(s,)) for s in shares]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if failures:
        sys.exit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    lat = np.array(latencies) * 1000
    return {
        "clients": clients,
        "requests": len(bodies),
        "wall_s": wall,
        "requests_per_s": len(bodies) / wall,
        "sequences_per_s": len(bodies) * per_request / wall,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, help="model directory (default: train a small one)")
    ap.add_argument("--backend", default="lsh", choices=["lsh", "hf"])
    ap.add_argument("--requests", type=int, default=400, help="requests per concurrency level")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--sequences", type=int, default=8, help="sequences per request")
    ap.add_argument("--read-length", type=int, default=150)
    ap.add_argument("--replicas", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="CPUs per replica")
    ap.add_argument("--max-batch-size", type=int, default=1024)
    ap.add_argument("--batch-wait-ms", type=float, default=5.0)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)

    from seqray.embed.embedder import load_embedder
    from seqray.serve.app import ServeSettings
    from seqray.serve.requests import Limits
    from seqray.serve.service import running

    with tempfile.TemporaryDirectory(prefix="seqray-serve-load-") as tmp:
        model = args.model or train_model(Path(tmp))
        settings = ServeSettings(
            str(model),
            backend=args.backend,
            limits=Limits(max_sequences=max(args.sequences, 1)),
            max_batch_size=max(args.max_batch_size, args.sequences),
            batch_wait_ms=args.batch_wait_ms,
            replicas=args.replicas,
            num_cpus=float(args.threads),
        )
        rng = np.random.default_rng(0)
        load_before = os.getloadavg()[0]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with running(settings, port=port):
            conn = Connection(port)
            check = simulate_reads(rng, args.sequences, args.read_length)
            status, data = conn.get("POST", "/embed", json.dumps({"sequences": check}).encode())
            want = load_embedder(str(model), args.backend).embed([s.encode() for s in check])
            got = np.array(data.get("vectors"), np.float32)
            if status != 200 or not np.count_nonzero(want) or not np.array_equal(got, want):
                print("served vectors differ from the embedder's own (or are all zero): no timing")
                return EXIT_DISAGREE
            dim = data["dim"]
            for _ in range(20):  # warm-up
                conn.get("POST", "/embed", json.dumps({"sequences": check}).encode())
            rows = []
            for clients in args.concurrency:
                bodies = [
                    json.dumps(
                        {"sequences": simulate_reads(rng, args.sequences, args.read_length)}
                    ).encode()
                    for _ in range(args.requests)
                ]
                calls_before = conn.get("GET", "/health")[1]["calls"]
                row = run_level(port, bodies, args.sequences, clients)
                calls = conn.get("GET", "/health")[1]["calls"] - calls_before
                row["embed_calls"] = calls if args.replicas == 1 else None
                rows.append(row)
            conn.conn.close()
    load_after = os.getloadavg()[0]

    print(
        f"seqray serve, {args.backend} model (dim {dim}), {args.replicas} replica(s) x "
        f"{args.threads} CPU, batches ≤ {settings.max_batch_size} sequences / "
        f"{args.batch_wait_ms:g} ms; {args.requests} requests of {args.sequences} x "
        f"{args.read_length} bp per level; {os.cpu_count()} CPUs, load average "
        f"{load_before:.1f} before, {load_after:.1f} after\n"
    )
    print(
        "| clients | requests/s | sequences/s | p50 latency (ms) | p99 latency (ms) | embed calls |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        calls = "n/a" if r["embed_calls"] is None else str(r["embed_calls"])
        print(
            f"| {r['clients']} | {r['requests_per_s']:,.0f} | {r['sequences_per_s']:,.0f} "
            f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {calls} |"
        )
    if args.json:
        report = {"settings": vars(args) | {"model": str(model), "json": None}, "rows": rows}
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
