"""How ``pllm keys|users|groups|usage`` reach the admin API: over HTTP, or in this process
against the database (``--local``), through the same routes either way, so both modes
validate and answer alike. Also the table printer the commands share.
"""

from __future__ import annotations

import asyncio
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import msgspec

from pllm.config import ConfigError, Settings, load_settings

DEFAULT_ADMIN_URL = "http://127.0.0.1:8081"
_TIMEOUT_S = 30.0


class CliError(Exception):
    """A failure to report on stderr (the message is for people)."""


def _query_string(query: dict[str, Any] | None) -> str:
    if not query:
        return ""
    pairs = []
    for name, value in query.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        pairs.append((name, str(value)))
    return urllib.parse.urlencode(pairs)


def _result(status: int, data: bytes) -> Any:
    try:
        payload = msgspec.json.decode(data) if data else None
    except msgspec.DecodeError:
        payload = None
    if status >= 400:
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            raise CliError(f"{error['message']} (HTTP {status})")
        raise CliError(f"the admin API answered HTTP {status}")
    return payload


def _body_bytes(body: dict[str, Any] | None) -> bytes:
    return b"" if body is None else msgspec.json.encode(body)


class Backend:
    """One admin call in, its JSON answer out (a CliError for an error answer); the two
    ways to reach the API differ only in how a request travels (``send``)."""

    def call(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        return _result(*self.send(method, path, _query_string(query), body))

    def send(
        self, method: str, path: str, qs: str, body: dict[str, Any] | None
    ) -> tuple[int, bytes]:
        """The answer's status and body."""
        raise NotImplementedError


class HttpBackend(Backend):
    def __init__(self, base_url: str, master_key: str | None) -> None:
        self.base_url = base_url.rstrip("/")
        self.master_key = master_key

    def send(
        self, method: str, path: str, qs: str, body: dict[str, Any] | None
    ) -> tuple[int, bytes]:
        url = self.base_url + urllib.parse.quote(path)
        if qs:
            url += "?" + qs
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise CliError(f"--admin-url must be an http:// or https:// URL, not {self.base_url!r}")
        headers = {"Accept": "application/json", "User-Agent": "pllm-cli"}
        data = None
        if body is not None:
            data = _body_bytes(body)
            headers["Content-Type"] = "application/json"
        if self.master_key:
            headers["Authorization"] = f"Bearer {self.master_key}"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:  # noqa: S310
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise CliError(
                f"cannot reach the admin API at {self.base_url} ({reason}); is `pllm serve` "
                "running? --local talks to the database directly"
            ) from None


class LocalBackend(Backend):
    """Runs each call through the admin app in this process, with the config's database."""

    def __init__(self, settings: Settings, runner: asyncio.Runner) -> None:
        from pllm.admin.app import AdminApp

        self.app = AdminApp(settings)
        self.runner = runner

    def send(
        self, method: str, path: str, qs: str, body: dict[str, Any] | None
    ) -> tuple[int, bytes]:
        call = self.app.call_local(method, path, query=qs.encode(), body=_body_bytes(body))
        return self.runner.run(call)


def _settings(config: str | None, *, required: bool) -> Settings | None:
    path = config or os.environ.get("PLLM_CONFIG") or "config.yaml"
    if not required and not os.path.exists(path):
        return None
    try:
        return load_settings(path)
    except ConfigError as e:
        problems = "; ".join(str(p) for p in e.problems)
        raise CliError(f"{path}: {problems}") from None
    except OSError as e:
        raise CliError(f"cannot read the config {path}: {e.strerror or e}") from None


def _admin_url(settings: Settings | None) -> str:
    if settings is None or settings.general.admin_port == 0:
        return DEFAULT_ADMIN_URL
    host = settings.general.admin_host
    if host in ("0.0.0.0", "::", ""):  # a wildcard bind is reached on loopback
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.general.admin_port}"


@contextmanager
def open_backend(
    *, local: bool, config: str | None, admin_url: str | None, master_key: str | None
) -> Iterator[Backend]:
    if local:
        settings = _settings(config, required=True)
        assert settings is not None
        with asyncio.Runner() as runner:
            backend = LocalBackend(settings, runner)
            try:
                runner.run(backend.app.startup())
            except Exception as e:
                raise CliError(f"cannot open the database: {e}") from None
            try:
                yield backend
            finally:
                runner.run(backend.app.shutdown())
        return
    settings = None if admin_url and master_key else _settings(config, required=False)
    url = admin_url or _admin_url(settings)
    key = master_key or os.environ.get("PLLM_MASTER_KEY")
    if not key and settings is not None:
        key = settings.general.master_key
    yield HttpBackend(url, key)


# ---------------------------------------------------------------- output


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    if isinstance(value, dict):
        return msgspec.json.encode(value).decode() if value else "-"
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """Aligned columns; ``columns`` are ``(heading, field)``."""
    cells = [[heading for heading, _ in columns]]
    cells.extend([_cell(row.get(field)) for _, field in columns] for row in rows)
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def record(row: dict[str, Any]) -> str:
    """One entity as ``field: value`` lines."""
    width = max((len(k) for k in row), default=0)
    return "\n".join(f"{k.ljust(width)}  {_cell(v)}" for k, v in row.items())
