"""Runs the gateway as users do: ``pllm serve`` in a child process, Granian and all."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self

import openai
import pytest

from tests.fakes.openai_upstream import FakeOpenAI
from tests.service import Service


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def deployment(name: str, model: str, **params: Any) -> dict[str, Any]:
    """One ``model_list`` entry: ``name`` served by ``model`` with these ``litellm_params``."""
    return {"model_name": name, "litellm_params": {"model": model, **params}}


class GatewayProcess(Service):
    def __init__(
        self,
        config_text: str,
        workdir: Path,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.workdir = workdir
        self.args = args
        self.config = workdir / "config.yaml"
        self.config.write_text(config_text)
        self.log_path = workdir / "gateway.log"
        self.port = free_port()
        self.admin_port = free_port()
        self.metrics_port = free_port()
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self, timeout: float = 15.0) -> Self:
        log = self.log_path.open("ab")
        cmd = [sys.executable, "-m", "pllm", "serve", "--config", str(self.config)]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--admin-port", str(self.admin_port), "--metrics-port", str(self.metrics_port)]
        cmd += self.args
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited early:\n{self.logs()}")
            try:
                with urllib.request.urlopen(f"{self.url}/ready", timeout=1) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"gateway did not become ready:\n{self.logs()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def access_line(self, request_id: str, timeout: float = 3.0) -> dict[str, Any]:
        """The access-log record of one request (the log is flushed off the hot path)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.logs().splitlines():
                if request_id in line and '"pllm.access"' in line:
                    return dict(json.loads(line))
            time.sleep(0.02)
        raise AssertionError(f"no access log line for {request_id}")


def gateway_fixtures(
    make_config: Callable[[FakeOpenAI], str], key: str, timeout: float = 10.0
) -> tuple[Any, Any]:
    """The ``gateway`` (one per module, on ``make_config(upstream)``) and ``client`` (an
    ``openai`` SDK client without retries, the upstream's records cleared) fixtures a module
    binds as ``gateway, client = gateway_fixtures(config, KEY)``."""

    @pytest.fixture(scope="module")
    def gateway(
        upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[GatewayProcess]:
        with GatewayProcess(make_config(upstream), tmp_path_factory.mktemp("gw")) as gw:
            yield gw

    @pytest.fixture()
    def client(gateway: GatewayProcess, upstream: FakeOpenAI) -> Iterator[openai.OpenAI]:
        upstream.clear()
        # Closed after the test: a pooled socket left to the garbage collector is a
        # ResourceWarning wherever the collection happens to run.
        with openai.OpenAI(
            base_url=gateway.base_url, api_key=key, max_retries=0, timeout=timeout
        ) as sdk:
            yield sdk

    return gateway, client


def stream_request(model: str, key: str, *, close: bool = False) -> bytes:
    """The raw HTTP/1.1 request of a streaming chat completion."""
    body = json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "x"}], "stream": True}
    )
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {key}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
        + ("connection: close\r\n" if close else "")
        + "\r\n"
    )
    return head.encode() + body.encode()


def raw_stream(gateway: GatewayProcess, model: str, key: str) -> bytes:
    """A streaming chat completion over a plain socket: the exact bytes the gateway sent."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(stream_request(model, key, close=True))
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


def _sorted_labels(sample: str) -> str:
    """``name{b="2",a="1"}`` as ``name{a="1",b="2"}``: the exposition orders labels by name."""
    name, brace, rest = sample.partition("{")
    if not brace:
        return sample
    labels = re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', rest)
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels)) + "}"


class Samples(dict[str, float]):
    """A scrape's samples; looked up with the labels in any order."""

    def __getitem__(self, sample: str) -> float:
        return super().__getitem__(_sorted_labels(sample))


def parse_samples(text: str) -> Samples:
    samples = Samples()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[_sorted_labels(name)] = float(value)
    return samples
