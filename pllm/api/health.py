"""Liveness and readiness probes (no authentication, nothing secret in the answers)."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from pllm.call import Call
from pllm.http import Receive, Request, Scope, Send
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
    }
    await req.respond(200 if started else 503, _encode(body))


def render_metrics(state: AppState) -> bytes:
    """The exposition text of this process: counters and histograms, and the gauges read
    now from the router, the admission queue, the limiter and the spend writer."""
    queue = [("pllm_queue_depth", (), float(state.admission.queued()))]
    samples = [*state.engine.samples(), *state.accounting.samples(state.gate), *queue]
    return state.metrics.render(samples)


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
