"""The handler of a model-call endpoint: read the body, check it, hand it to the request path."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pllm.call import Call
from pllm.http import Request, read_json_object
from pllm.pipeline import serve
from pllm.providers.codec import Endpoint
from pllm.providers.surface import Surface
from pllm.state import AppState

# Validates a request body; returns its model and whether it asks for a stream.
Check = Callable[[dict[str, Any]], tuple[str, bool]]
Handler = Callable[[AppState, Request, Call], Awaitable[None]]


def model_call(surface: Surface, endpoint: Endpoint, check: Check) -> Handler:
    async def handler(state: AppState, req: Request, call: Call) -> None:
        payload = await read_json_object(req, state.settings.general.max_request_body_bytes)
        model, stream = check(payload)
        await serve(state, req, call, surface, endpoint, model, payload, stream=stream)

    handler.__name__ = handler.__qualname__ = endpoint.name.lower()
    return handler
