"""Raw HTTP/1.1 over a socket, for the fakes' self-tests that must see exactly which bytes
arrive and how the connection ends (an SDK or ``urllib`` would hide both)."""

from __future__ import annotations

import json
import socket
from typing import Any

from .recording_server import RecordingServer

__all__ = ["CHAT", "connect", "read_to_eof", "sse_data"]

CHAT = "/v1/chat/completions"


def connect(
    server: RecordingServer,
    body: Any,
    headers: dict[str, str],
    path: str = CHAT,
    method: str = "POST",
) -> socket.socket:
    """A socket that has sent one request (``body`` as JSON, if any; ``Connection: close``)."""
    data = json.dumps(body).encode() if body is not None else b""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\nConnection: close\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + "\r\n"
    )
    sock = socket.create_connection((server.host, server.port), timeout=2.0)
    sock.sendall(head.encode() + data)
    return sock


def read_to_eof(sock: socket.socket) -> bytes:
    raw = b""
    while data := sock.recv(65536):
        raw += data
    return raw


def sse_data(body: bytes) -> list[str]:
    """The ``data:`` of each event of an SSE body; asserts that every event is one ``data:``
    line and that the body ends with a whole event."""
    text = body.decode()
    assert text.endswith("\n\n")
    events = text.split("\n\n")[:-1]
    assert all(e.startswith("data: ") for e in events)
    return [e.removeprefix("data: ") for e in events]
