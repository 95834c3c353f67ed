"""Helpers for end-to-end tests of keys, limits and budgets: the admin API over HTTP and plain
chat requests whose status and headers the tests inspect."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from tests.e2e.gateway import GatewayProcess

MASTER = "sk-master-e2e-0123456789"


def http(
    method: str, url: str, body: Any = None, key: str | None = None, timeout: float = 10.0
) -> tuple[int, dict[str, str], Any]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            status, head = r.status, {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as e:
        raw = e.read()
        status, head = e.code, {k.lower(): v for k, v in e.headers.items()}
    try:
        return status, head, json.loads(raw) if raw else None
    except ValueError:
        return status, head, raw.decode(errors="replace")


class Admin:
    """The admin API of a running gateway, called with the master key."""

    def __init__(self, gw: GatewayProcess, key: str = MASTER) -> None:
        self.gw, self.key = gw, key

    def wait_ready(self, timeout: float = 15.0) -> Admin:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                status, _, _ = http("GET", f"{self.gw.admin_url}/health", timeout=1)
                if status == 200:
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"admin API did not become ready:\n{self.gw.logs()}")

    def call(self, method: str, path: str, body: Any = None) -> Any:
        status, _, answer = http(method, f"{self.gw.admin_url}{path}", body, self.key)
        assert 200 <= status < 300, (status, answer)
        return answer

    def create_key(self, **fields: Any) -> tuple[str, dict[str, Any]]:
        answer = self.call("POST", "/admin/keys", fields)
        return answer["secret"], answer["key"]


def chat(
    gw: GatewayProcess, key: str, model: str = "cheap", **extra: Any
) -> tuple[int, dict[str, str], Any]:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}
    return http("POST", f"{gw.base_url}/chat/completions", body, key)


def metric(gw: GatewayProcess, name: str) -> float:
    _, _, text = http("GET", f"{gw.url}/metrics")
    total = 0.0
    for line in str(text).splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            total += float(line.rsplit(" ", 1)[1])
    return total
