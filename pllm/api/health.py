"""Liveness and readiness probes (no authentication, nothing secret in the answers)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec

from pllm.call import Call
from pllm.http import Receive, Request, Scope, Send
from pllm.observability.metrics import Labels, snapshot
from pllm.state import AppState

_encode = msgspec.json.Encoder().encode


async def health(state: AppState, req: Request, call: Call) -> None:
    await req.respond(200, b'{"status":"ok"}')


async def ready(state: AppState, req: Request, call: Call) -> None:
    started = state.ready()
    body = {
        "status": "ready" if started else "draining" if state.draining else "starting",
        "store": "connected" if state.accounting.store is not None else "unavailable",
        "models": len(state.registry.groups),
        "deployments": sum(len(g.deployments) for g in state.registry.groups.values()),
        "config_revision": state.revision.hash,
        "config_loaded_at": round(state.revision.loaded_at, 3),
    }
    if state.cluster is not None:
        # Degraded still serves: each instance enforces its share of every limit.
        body["redis"] = state.cluster.status()
    await req.respond(200 if started else 503, _encode(body))


def render_metrics(state: AppState) -> bytes:
    """The exposition text of this process: counters and histograms, and the gauges read
    now from the router, the admission queue, the limiter and the spend writer."""
    return state.metrics.render(gauges(state))


def write_snapshot(state: AppState, path: Path) -> None:
    """This worker's metrics, for the supervisor's ``/metrics`` (see
    :func:`pllm.observability.metrics.render_merged`); renamed into place whole."""
    partial = path.with_suffix(".tmp")
    partial.write_bytes(snapshot(state.metrics, gauges(state)))
    partial.replace(path)


def gauges(state: AppState) -> list[tuple[str, Labels, float]]:
    process = [
        ("pllm_queue_depth", (), float(state.admission.queued())),
        ("pllm_config_info", (("revision", state.revision.hash),), 1.0),
        ("pllm_config_loaded_timestamp_seconds", (), state.revision.loaded_at),
    ]
    cache = state.cache.samples() if state.cache is not None else []
    return [*state.engine.samples(), *state.accounting.samples(state.gate), *process, *cache]


async def metrics(state: AppState, req: Request, call: Call) -> None:
    body = render_metrics(state)
    await req.respond(200, body, content_type=b"text/plain; version=0.0.4; charset=utf-8")


async def deployments(state: AppState, req: Request, call: Call) -> None:
    """Health score, circuit state and load of every deployment (formula in the README)."""
    await req.respond(200, _encode({"data": state.engine.health_view()}))


_PROMETHEUS = b"text/plain; version=0.0.4; charset=utf-8"


def metrics_app(state: Callable[[], AppState | None]) -> Callable[[Scope, Receive, Send], object]:
    """The metrics listener (``metrics_port``): ``GET /metrics`` and nothing else, with no
    authentication, as Prometheus scrapes it; ``state`` gives the gateway's once it runs."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        gateway = state()
        if scope["path"] != "/metrics" or gateway is None:
            status, body, kind = 404, b'{"error":{"message":"Not found","type":"not_found"}}', b""
        else:
            status, body, kind = 200, render_metrics(gateway), _PROMETHEUS
        headers = [(b"content-type", kind or b"application/json")]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app
