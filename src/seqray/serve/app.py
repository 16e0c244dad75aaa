"""The Ray Serve deployment behind `seqray serve`: an embedder per replica, requests
batched with `serve.batch`.

Each replica loads the model once (`load_embedder`, the same embedder the `embed` stage
uses, so served vectors equal `seqray embed`'s). Requests are checked and normalised on
arrival (`requests.py`), then queued: `serve.batch` gathers the queued requests, up to
`max_batch_size` sequences or `batch_wait_ms` after the first, into one `embed` call
whose vectors are split back per request. A request is never split across calls, so one
larger than `max_batch_size` is refused at start (`ServeSettings`). The embed call runs on
a thread (the kernels release the GIL), so the replica keeps taking requests meanwhile;
those form the next batch.

Routes: `POST /embed`, `GET /health`. Every answer is JSON; every refusal is
`{"error": "..."}` with a 4xx status (404 and 405 for unknown routes and methods).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ray import serve
from starlette.requests import Request
from starlette.responses import Response

from ..errors import SeqrayError
from .requests import Limits, RequestError, check_body_size, letter_table, parse_embed_request

APP_NAME = "seqray-embed"


@dataclass(frozen=True)
class ServeSettings:
    """How the service runs: the model, its options, request limits, batching and the
    resources of each replica."""

    model: str
    backend: str = "lsh"
    options: dict[str, Any] = field(default_factory=dict)  # the backend's (hf: pooling, ...)
    alphabet: str = "dna"  # letters a request may hold (requests.letter_table)
    limits: Limits = field(default_factory=Limits)
    max_batch_size: int = 1024  # sequences in one embed call
    batch_wait_ms: float = 5.0
    replicas: int = 1
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    max_ongoing_requests: int = 64  # per replica: queued for a batch or being embedded

    def __post_init__(self) -> None:
        from ..errors import ConfigError

        if self.max_batch_size < self.limits.max_sequences:
            raise ConfigError(
                f"max batch size ({self.max_batch_size} sequences) must be at least the "
                f"most sequences a request may hold ({self.limits.max_sequences}): "
                "requests are never split across embed calls"
            )
        if self.alphabet not in ("dna", "protein"):
            raise ConfigError(f"alphabet {self.alphabet!r}: allowed: dna, protein")
        if self.alphabet == "protein" and self.backend == "lsh":
            raise ConfigError("alphabet protein: a k-mer (lsh) model embeds DNA only")
        if self.options.get("pooling") == "tokens":
            raise ConfigError("pooling tokens: the service gives one vector per sequence")
        for name in ("replicas", "max_ongoing_requests"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.batch_wait_ms < 0 or self.num_cpus < 0 or self.num_gpus < 0:
            raise ConfigError("batch wait, CPUs and GPUs cannot be negative")


def model_name(model: str) -> str:
    """The name a response gives the model: its directory's name (the server's paths are
    not the client's business)."""
    return os.path.basename(os.path.normpath(model)) or model


def _json(data: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(data, separators=(",", ":")), status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


def _sequence_count(items: list[list[bytes]]) -> int:
    return sum(len(x) for x in items)


async def embed_requests(
    items: list[list[bytes]], embed: Callable[[list[bytes]], Awaitable[np.ndarray]]
) -> list[np.ndarray | SeqrayError]:
    """Each request's vectors from one `embed` call over all their sequences, split back.
    If the model refuses a sequence, each request is embedded alone, so that only the
    request holding it gets the error (naming the sequence's index in that request)."""
    try:
        vectors = await embed([s for item in items for s in item])
    except SeqrayError:
        out: list[np.ndarray | SeqrayError] = []
        for item in items:
            try:
                out.append(await embed(item))
            except SeqrayError as exc:
                out.append(exc)
        return out
    bounds = np.cumsum([len(item) for item in items])[:-1]
    return list(np.split(vectors, bounds))


class EmbedService:
    """One replica: the embedder, request checks, the batch queue and its counters."""

    def __init__(self, settings: ServeSettings):
        from ..embed.embedder import load_embedder

        self.settings = settings
        self.embedder = load_embedder(settings.model, settings.backend, **settings.options)
        self.table = letter_table(settings.alphabet)
        self.limits = settings.limits
        self.dim = int(self.embedder.dim)
        self.info: dict[str, Any] = {
            "model": model_name(settings.model),
            "dim": self.dim,
            "backend": self.embedder.backend,
        }
        # serve.batch's queue takes its sizes from the decorator; these are the service's
        batch = self._embed_batch
        batch.set_max_batch_size(settings.max_batch_size)  # type: ignore[attr-defined]
        batch.set_batch_wait_timeout_s(settings.batch_wait_ms / 1000)  # type: ignore[attr-defined]
        # since start, in this replica: embed calls, requests and sequences they embedded
        self.calls = self.requests = self.sequences = 0

    @serve.batch(max_batch_size=1024, batch_wait_timeout_s=0.005, batch_size_fn=_sequence_count)
    async def _embed_batch(self, items: list[list[bytes]]) -> list[np.ndarray | SeqrayError]:
        """The batched requests' vectors (`embed_requests`), counted."""
        results = await embed_requests(items, self._embed_now)
        self.requests += sum(not isinstance(r, SeqrayError) for r in results)
        return results

    async def _embed_now(self, sequences: list[bytes]) -> np.ndarray:
        # on a thread: the replica keeps taking requests (the next batch) meanwhile
        if sequences:
            vectors = await asyncio.to_thread(self.embedder.embed, sequences)
        else:
            vectors = np.zeros((0, self.dim), np.float32)
        self.calls += 1
        self.sequences += len(sequences)
        return vectors

    async def __call__(self, request: Request) -> Response:
        route = request.url.path.rstrip("/") or "/"
        try:
            if route == "/embed":
                if request.method != "POST":
                    return _error(405, "use POST /embed")
                return await self._embed(request)
            if route == "/health":
                if request.method not in ("GET", "HEAD"):
                    return _error(405, "use GET /health")
                return _json({"status": "ok", **self.info, **self.counters()})
            return _error(404, f"no route {route}; the routes are POST /embed, GET /health")
        except RequestError as exc:
            return _error(exc.status, exc.message)
        except SeqrayError as exc:  # the model refused a sequence (InputError names it)
            return _error(400, str(exc))
        except Exception as exc:  # a bug, not the client's doing: still an answer in JSON
            return _error(500, f"internal error: {type(exc).__name__}: {exc}")

    async def _embed(self, request: Request) -> Response:
        check_body_size(request.headers.get("content-length"), self.limits)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.limits.max_body_bytes:
                raise RequestError(
                    413, f"request body is over the limit of {self.limits.max_body_bytes} bytes"
                )
        sequences = parse_embed_request(bytes(body), self.limits, self.table)
        vectors = await self._embed_batch(sequences)
        if isinstance(vectors, SeqrayError):
            raise vectors
        return _json({"vectors": vectors.tolist(), **self.info})

    def counters(self) -> dict[str, int]:
        """Embed calls, requests and sequences of this replica since it started."""
        return {"calls": self.calls, "requests": self.requests, "sequences": self.sequences}


def build_app(settings: ServeSettings) -> Any:
    """The Serve application of `settings` (for `serve.run`)."""
    deployment = serve.deployment(
        name="EmbedService",
        num_replicas=settings.replicas,
        max_ongoing_requests=settings.max_ongoing_requests,
        ray_actor_options={"num_cpus": settings.num_cpus, "num_gpus": settings.num_gpus},
    )(EmbedService)
    return deployment.bind(settings)
