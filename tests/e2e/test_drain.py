"""Graceful drain on SIGTERM, against a real `pllm serve` (one worker: the embedded server).

/ready turns 503 at once and the listener keeps serving for `drain_delay`; open streams get
`drain_timeout` more, then end with one `server_shutting_down` error event; the spend record
of a cut stream is flushed to the database; exit 0. A second signal exits at once."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.e2e.gateway import GatewayProcess, stream_request

KEY = "sk-drain-master"


def config(data_dir: Path, drain_delay: float, drain_timeout: float) -> str:
    return json.dumps(
        {
            "model_list": [
                {
                    "model_name": "slow",
                    "litellm_params": {
                        "model": "mock/slow",
                        # 20 tokens at 4 a second: a stream open for 5 s.
                        "mock_tokens_per_second": 4,
                        "mock_reply_tokens": 20,
                    },
                }
            ],
            "general_settings": {
                "master_key": KEY,
                "data_dir": str(data_dir),
                "drain_delay": drain_delay,
                "drain_timeout": drain_timeout,
            },
        }
    )


def ready_status(gateway: GatewayProcess) -> int:
    try:
        with urllib.request.urlopen(f"{gateway.url}/ready", timeout=1) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, ConnectionError):
        return 0  # the listener is closed


class StreamReader(threading.Thread):
    """Reads one slow stream to its end on a plain socket."""

    def __init__(self, gateway: GatewayProcess) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=30)
        self.sock.sendall(stream_request("slow", KEY, close=True))
        self.data = b""

    def run(self) -> None:
        while chunk := self.sock.recv(65536):
            self.data += chunk
        self.sock.close()

    def first_chunk(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while b"chat.completion.chunk" not in self.data:
            assert time.monotonic() < deadline, "no chunk arrived"
            time.sleep(0.02)


def test_sigterm_drains_then_ends_open_streams_with_an_error_event(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with GatewayProcess(config(data_dir, 1.5, 0.5), tmp_path) as gateway:
        assert gateway.proc is not None
        reader = StreamReader(gateway)
        reader.start()
        reader.first_chunk()
        os.killpg(gateway.proc.pid, signal.SIGTERM)
        signalled = time.monotonic()
        # Draining: out of the load balancer's rotation, still answering (once the signal
        # has been handled: it is delivered asynchronously).
        while (status := ready_status(gateway)) == 200 and time.monotonic() - signalled < 1:
            time.sleep(0.02)
        assert status == 503
        assert time.monotonic() - signalled < 1.5, "the check ran within drain_delay"
        time.sleep(max(0.0, signalled + 1.8 - time.monotonic()))
        assert ready_status(gateway) == 0, "the listener closed after drain_delay"
        assert gateway.proc.wait(timeout=10) == 0
        reader.join(timeout=5)
    body = reader.data.decode()
    events = [line for line in body.splitlines() if line.startswith("data: ")]
    assert "server_shutting_down" in events[-1], events[-3:]
    assert "[DONE]" not in body, "a cut stream must not look complete"
    assert "draining" in gateway.logs() and "ending 1 open streams" in gateway.logs()
    with sqlite3.connect(data_dir / "pllm.db") as db:
        rows = db.execute("SELECT status, streamed, error FROM pllm_spend").fetchall()
    assert rows == [(200, 1, "server_shutting_down")], "the cut stream's spend was flushed"


def test_streams_that_finish_within_the_drain_timeout_complete(tmp_path: Path) -> None:
    with GatewayProcess(config(tmp_path / "data", 0.0, 30.0), tmp_path) as gateway:
        assert gateway.proc is not None
        reader = StreamReader(gateway)
        reader.start()
        reader.first_chunk()
        os.killpg(gateway.proc.pid, signal.SIGTERM)
        assert gateway.proc.wait(timeout=15) == 0
        reader.join(timeout=5)
    assert "data: [DONE]" in reader.data.decode()  # the stream completed


def test_a_second_signal_exits_at_once(tmp_path: Path) -> None:
    with GatewayProcess(config(tmp_path / "data", 0.0, 30.0), tmp_path) as gateway:
        assert gateway.proc is not None
        reader = StreamReader(gateway)
        reader.start()
        reader.first_chunk()
        os.killpg(gateway.proc.pid, signal.SIGTERM)
        time.sleep(0.3)
        started = time.monotonic()
        os.killpg(gateway.proc.pid, signal.SIGTERM)
        assert gateway.proc.wait(timeout=5) == 1
        assert time.monotonic() - started < 2
        reader.join(timeout=5)
