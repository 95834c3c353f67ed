"""Liveness and readiness probes (no authentication, nothing secret in the answers)."""

from __future__ import annotations

import msgspec

from pllm.call import Call
from pllm.http import Request
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


async def metrics(state: AppState, req: Request, call: Call) -> None:
    body = state.metrics.render([*state.engine.samples(), *state.accounting.samples(state.gate)])
    await req.respond(200, body, content_type=b"text/plain; version=0.0.4; charset=utf-8")


async def deployments(state: AppState, req: Request, call: Call) -> None:
    """Health score, circuit state and load of every deployment (formula in the README)."""
    await req.respond(200, _encode({"data": state.engine.health_view()}))
