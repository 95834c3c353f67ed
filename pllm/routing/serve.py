"""Serving one request through the router: admission, the retry loop, disconnect watch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pllm.api.http import Request
from pllm.providers.base import Endpoint
from pllm.routing.engine import Attempt
from pllm.streaming.disconnect import DisconnectWatch
from pllm.usage import prompt_tokens_estimate, reply_cap

if TYPE_CHECKING:
    from pllm.state import AppState


def estimate_tokens(req: Request, payload: dict[str, Any]) -> int:
    """A conservative reservation for tpm limits: about four request bytes a token plus the
    reply's cap; the router settles it with the real usage afterwards."""
    return prompt_tokens_estimate(req.headers) + (reply_cap(payload) or 0)


async def serve(
    state: AppState,
    req: Request,
    model: str,
    endpoint: Endpoint,
    payload: dict[str, Any],
    attempt: Attempt,
    *,
    stream: bool,
) -> None:
    state.registry.group(model)  # 404 for a model that is not configured
    req.model = model
    req.stream = stream
    tokens = estimate_tokens(req, payload)
    # Before admission: a request over its key's limits never waits for a slot.
    state.gate.admit(req, model, tokens, payload)
    try:
        if not state.admission.try_acquire():
            await state.admission.acquire(req)
    except BaseException:
        state.gate.release(req)
        raise
    try:
        if not stream:
            await state.engine.run(req, model, endpoint, payload, attempt, tokens)
            return
        # A stream ends early, and cancels its upstream request, when the client leaves.
        with DisconnectWatch(req.receive) as watch:
            await state.engine.run(req, model, endpoint, payload, attempt, tokens)
        if watch.fired:
            req.error = "client_disconnected"
    finally:
        state.admission.release()
        state.gate.release(req)
