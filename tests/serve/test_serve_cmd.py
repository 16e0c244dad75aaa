"""`seqray serve` as a user runs it: bad models and options refused before anything
starts (exit 1 / 2, a clear line), and the real command serving on loopback until
Ctrl-C, then stopping cleanly (exit 0)."""

from __future__ import annotations

import queue
import signal
import socket
import subprocess
import threading

import pytest

from seqray.cli.main import main

from ..conftest import assert_user_error, seqray_cmd
from ..embed.exact_hasher import tiny_model
from .client import Client, free_port, wait_healthy


@pytest.fixture
def model_dir(tmp_path):
    d = tmp_path / "model"
    tiny_model(k=3, dim=4).save(str(d))
    return d


def test_a_missing_model_is_refused_before_serving(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path / "nonexistent")]) == 1
    assert_user_error(capsys.readouterr().err, "nonexistent: not an embedding model directory")


def test_a_broken_model_is_refused(tmp_path, model_dir, capsys):
    (model_dir / "model.json").write_text("{")
    assert main(["serve", "--model", str(model_dir)]) == 1
    assert_user_error(capsys.readouterr().err, "model.json: not a readable JSON file")


def test_hf_options_are_refused_for_lsh(model_dir, capsys):
    assert main(["serve", "--model", str(model_dir), "--pooling", "mean"]) == 1
    assert_user_error(capsys.readouterr().err, "backend lsh takes no options (pooling)")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--alphabet", "protein"], "alphabet protein: a k-mer (lsh) model embeds DNA only"),
        (["--backend", "hf", "--pooling", "tokens"], "invalid value for '--pooling'"),
    ],
)
def test_options_the_service_cannot_take(model_dir, capsys, args, message):
    assert main(["serve", "--model", str(model_dir), *args]) == 2
    assert_user_error(capsys.readouterr().err.lower(), message.lower())


def test_a_batch_smaller_than_a_request_is_a_usage_error(model_dir, capsys):
    args = ["serve", "--model", str(model_dir), "--max-batch-size", "10", "--max-sequences", "20"]
    assert main(args) == 2
    assert_user_error(capsys.readouterr().err, "max batch size (10 sequences) must be at least")


@pytest.mark.parametrize("ray_running", [False, True])
def test_a_port_in_use_is_refused(model_dir, capsys, request, ray_running):
    """Before Ray starts, or before Serve starts on a Ray already running here."""
    if ray_running:
        request.getfixturevalue("ray_cluster")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--model", str(model_dir), "--port", str(port)]) == 1
    assert_user_error(capsys.readouterr().err, f"cannot listen on 127.0.0.1:{port}")


@pytest.mark.integration
def test_serve_answers_until_ctrl_c(model_dir, run_env, ray_cluster, tmp_path):
    """The command joins the test session's Ray (RAY_ADDRESS), as on a cluster, and
    leaves it running when it stops."""
    run_env["RAY_ADDRESS"] = ray_cluster.get_runtime_context().gcs_address
    port = free_port()
    cmd = [*seqray_cmd(), "serve", "--model", str(model_dir), "--port", str(port)]
    err = open(tmp_path / "stderr", "wb")  # a file: Ray may write more than a pipe holds
    proc = subprocess.Popen(cmd, env=run_env, stdout=subprocess.PIPE, stderr=err)
    url = f"http://127.0.0.1:{port}"
    lines: queue.Queue[bytes] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    try:
        # the command says it serves once Serve has it running; Ctrl-C from then on stops
        # it cleanly (before, Ctrl-C aborts the start-up: exit 130)
        first = lines.get(timeout=120).decode()
        assert f"serving {model_dir} (lsh) at {url}" in first
        health = wait_healthy(url, timeout=10)
        assert (health["status"], health["model"], health["dim"]) == ("ok", "model", 4)
        client = Client(url)
        status, data = client.embed(["ACGTACGTAC"])
        client.close()
        assert status == 200 and len(data["vectors"][0]) == 4
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        err.close()
    stderr = (tmp_path / "stderr").read_text()
    assert proc.returncode == 0, stderr
    assert "SIGINT: stopping the service" in stderr
    with pytest.raises(OSError):  # nothing answers any more
        Client(url, timeout=2).health()
    assert ray_cluster.is_initialized() and ray_cluster.cluster_resources()["CPU"] == 2


def test_settings_refuse_what_the_service_cannot_do(model_dir):
    from seqray.errors import ConfigError
    from seqray.serve.app import ServeSettings

    with pytest.raises(ConfigError, match="pooling tokens: the service gives one vector"):
        ServeSettings(str(model_dir), backend="hf", options={"pooling": "tokens"})
    with pytest.raises(ConfigError, match="alphabet 'rna'"):
        ServeSettings(str(model_dir), alphabet="rna")
    with pytest.raises(ConfigError, match="replicas must be at least 1"):
        ServeSettings(str(model_dir), replicas=0)
