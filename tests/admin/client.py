"""Drives an ASGI app in-process, synchronously: one event loop per test, lifespan run by hand."""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

import msgspec

from pllm.admin.app import AdminApp


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return msgspec.json.decode(self.body)

    @property
    def error(self) -> dict[str, Any]:
        err: dict[str, Any] = self.json()["error"]
        return err


class Client:
    def __init__(self, app: AdminApp, runner: asyncio.Runner, key: str | None) -> None:
        self.app = app
        self.runner = runner
        self.key = key

    def request(self, method: str, path: str, **kw: Any) -> Response:
        """``arequest``, run to its end."""
        return self.runner.run(self.arequest(method, path, **kw))

    async def arequest(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        body: bytes | None = None,
        query: dict[str, Any] | None = None,
        key: str | None = "default",
        headers: dict[str, str] | None = None,
    ) -> Response:
        if key == "default":
            key = self.key
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        if key is not None:
            raw_headers.append((b"authorization", f"Bearer {key}".encode()))
        if json is not None:
            body = msgspec.json.encode(json)
            raw_headers.append((b"content-type", b"application/json"))
        payload = body or b""
        raw_headers.append((b"content-length", str(len(payload)).encode()))
        scope = {
            "type": "http",
            "method": method,
            "path": urllib.parse.unquote(path),
            "raw_path": path.encode(),
            "query_string": urllib.parse.urlencode(query or {}).encode(),
            "headers": raw_headers,
        }
        sent: list[MutableMapping[str, Any]] = []
        done = False

        async def receive() -> dict[str, Any]:
            nonlocal done
            if done:
                await asyncio.sleep(3600)
            done = True
            return {"type": "http.request", "body": payload, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        return Response(
            status=start["status"],
            headers={k.decode(): v.decode() for k, v in start["headers"]},
            body=b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"),
        )

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Response:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> Response:
        return self.request("PATCH", path, **kw)

    def put(self, path: str, **kw: Any) -> Response:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Response:
        return self.request("DELETE", path, **kw)
