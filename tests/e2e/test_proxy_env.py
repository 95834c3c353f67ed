"""Upstream requests honour HTTP(S)_PROXY and NO_PROXY from the gateway's environment."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.e2e.gateway import GatewayProcess, deployment
from tests.fakes.openai_upstream import FakeOpenAI

REPLY = {
    "id": "via-proxy",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "proxied"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


class RecordingProxy:
    """A forward proxy that answers every request itself and records its request line."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.request_lines: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.request_lines.append(lines[0])
        length = next(
            (int(h.split(":", 1)[1]) for h in lines[1:] if h.lower().startswith("content-length:")),
            0,
        )
        while len(body) < length:
            body += conn.recv(65536)
        payload = json.dumps(REPLY).encode()
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n"
            + f"content-length: {len(payload)}\r\n\r\n".encode()
            + payload
        )

    def close(self) -> None:
        self.sock.close()


@pytest.fixture()
def proxy() -> Iterator[RecordingProxy]:
    p = RecordingProxy()
    yield p
    p.close()


def config(api_base: str) -> str:
    return json.dumps({"model_list": [deployment("m", "openai/m", api_base=api_base, api_key="k")]})


def ask(gw: GatewayProcess) -> str | None:
    with openai.OpenAI(base_url=gw.base_url, api_key="x", max_retries=0) as client:
        reply = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
    return reply.choices[0].message.content


def test_requests_go_through_http_proxy(proxy: RecordingProxy, tmp_path: Path) -> None:
    env = {"HTTP_PROXY": f"http://127.0.0.1:{proxy.port}", "NO_PROXY": "", "no_proxy": ""}
    with GatewayProcess(config("http://upstream.example.invalid/v1"), tmp_path, env) as gw:
        assert ask(gw) == "proxied"
    assert proxy.request_lines == [
        "POST http://upstream.example.invalid/v1/chat/completions HTTP/1.1"
    ]


def test_no_proxy_hosts_are_reached_directly(
    proxy: RecordingProxy, upstream: FakeOpenAI, tmp_path: Path
) -> None:
    env = {"HTTP_PROXY": f"http://127.0.0.1:{proxy.port}", "NO_PROXY": "127.0.0.1"}
    with GatewayProcess(config(upstream.base_url), tmp_path, env) as gw:
        assert ask(gw) == "Hello from fake upstream"
    assert proxy.request_lines == []
