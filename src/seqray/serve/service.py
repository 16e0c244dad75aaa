"""Starting and stopping the service: Ray (local, or the cluster at `address` /
RAY_ADDRESS), Serve's HTTP proxy on host:port, the application, and a clean stop.

The model is loaded here once before anything is deployed, so a bad model directory is
a clear error (exit 1) instead of a replica failing to start. On a cluster the replicas
load it again on their nodes: the directory must be readable at the same path on every
node (a shared filesystem).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

from ..errors import ConfigError, SeqrayError
from .app import APP_NAME, ServeSettings

log = logging.getLogger(__name__)


class ServeError(SeqrayError):
    """The service could not be deployed (the cause in words)."""


@dataclass(frozen=True)
class Endpoint:
    """Where the service answers."""

    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def check_model(settings: ServeSettings) -> None:
    """Loads the model once in this process, so that a missing or broken model is a
    SeqrayError here, before Ray starts. An hf model is checked on the CPU: the driver
    never holds GPU memory that the replicas need."""
    import gc

    from ..embed.embedder import load_embedder

    options = dict(settings.options)
    if settings.backend == "hf":
        options.update(device="cpu", threads=1)
    embedder = load_embedder(settings.model, settings.backend, **options)
    del embedder
    gc.collect()


@contextmanager
def running(
    settings: ServeSettings,
    host: str = "127.0.0.1",
    port: int = 8000,
    address: str | None = None,
) -> Iterator[Endpoint]:
    """The service, deployed and answering at the yielded endpoint, until the block ends;
    then the application is deleted, and Serve and Ray are shut down if this call
    started them (on a cluster you joined, only the application goes)."""
    import ray
    from ray import serve

    from .app import build_app

    check_model(settings)
    address = address or os.environ.get("RAY_ADDRESS") or None
    if not address and not ray.is_initialized():
        check_port_free(host, port)
    started_ray = not ray.is_initialized()
    if started_ray:
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "configure_logging": False,
        }
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(**kwargs)
    started_serve = deployed = False
    try:
        started_serve = _start_serve(host, port, local=not address)
        if not started_serve and APP_NAME in serve.status().applications:
            raise ConfigError(
                f"Ray Serve on this cluster already runs a seqray service ({APP_NAME}); "
                "stop it first (one per cluster)"
            )
        deployed = True  # from here a failure leaves a half-deployed application to delete
        try:
            serve.run(build_app(settings), name=APP_NAME, route_prefix="/")
        except Exception as exc:
            raise ServeError(f"could not deploy the service: {_last_line(exc)}") from exc
        yield Endpoint(host, port)
    finally:
        _stop(started_serve, deployed, started_ray)


def _start_serve(host: str, port: int, local: bool) -> bool:
    """Starts Serve's HTTP proxy on host:port; False if Serve was already running on the
    cluster (its proxy keeps the host and port it has: refused if they differ). `local`:
    the proxy will run on this machine, so a busy port is refused here."""
    from ray import serve
    from ray.serve.context import _get_global_client

    try:
        client = _get_global_client(raise_if_no_controller_running=False)
    except Exception:  # an unreachable controller: let serve.start say what is wrong
        client = None
    if client is not None:
        config = client.http_config
        if (config.host, config.port) != (host, port):
            raise ConfigError(
                f"Ray Serve already runs on this cluster on {config.host}:{config.port}; "
                f"it cannot also listen on {host}:{port}: use --host {config.host} "
                f"--port {config.port}"
            )
        return False
    if local:
        check_port_free(host, port)
    try:
        serve.start(http_options={"host": host, "port": port})
    except Exception as exc:
        try:  # a controller without its proxy would refuse every later start
            serve.shutdown()
        except Exception as stop_exc:
            log.warning("stopping a failed Ray Serve: %s", stop_exc)
        raise ServeError(f"could not start Ray Serve on {host}:{port}: {_last_line(exc)}") from exc
    return True


def check_port_free(host: str, port: int) -> None:
    """Refuses a port something already listens on (when the proxy will run on this
    machine), before Ray starts: Serve's own failure comes late and buried."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc} (another service "
                "there? choose another --port)"
            ) from None


def _stop(started_serve: bool, deployed: bool, started_ray: bool) -> None:
    """Undoes what `running` did, and nothing else: Serve if it started it, else only
    its application."""
    import ray
    from ray import serve

    try:
        if started_serve:
            serve.shutdown()
        elif deployed:
            serve.delete(APP_NAME)
    except Exception as exc:  # stopping must not hide why we stop
        log.warning("stopping Ray Serve: %s", exc)
    if started_ray:
        ray.shutdown()


def _last_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def wait_for_stop() -> str:
    """Blocks until SIGINT (Ctrl-C) or SIGTERM; returns the signal's name. The previous
    handlers are restored."""
    stop = threading.Event()
    received: list[str] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return received[0]
