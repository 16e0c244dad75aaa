"""A small HTTP client for the tests and the load benchmark: the standard library's
http.client (keep-alive), JSON in and out."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterable
from typing import Any


class Client:
    """One keep-alive connection to the service."""

    def __init__(self, url: str, timeout: float = 60.0):
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
        chunked: bool = False,
    ) -> tuple[int, Any]:
        """(status, the decoded JSON answer) of one request."""
        self.conn.request(method, path, body, headers or {}, encode_chunked=chunked)
        response = self.conn.getresponse()
        data = response.read()
        assert response.getheader("content-type", "").startswith("application/json"), data
        return response.status, json.loads(data)

    def embed(self, sequences: list[str]) -> tuple[int, Any]:
        body = json.dumps({"sequences": sequences}).encode()
        return self.request("POST", "/embed", body, {"Content-Type": "application/json"})

    def health(self) -> dict[str, Any]:
        status, data = self.request("GET", "/health")
        assert status == 200, data
        return data

    def close(self) -> None:
        self.conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, timeout: float) -> dict[str, Any]:
    """The first /health answer within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client = Client(url, timeout=5)
            try:
                return client.health()
            finally:
                client.close()
        except (OSError, http.client.HTTPException, AssertionError, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
