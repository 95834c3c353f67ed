"""OpenAI's Responses API (/v1/responses): read, checked and handed to the request path with
the Responses surface (passed through to OpenAI and Azure, translated through chat
completions for every other provider)."""

from __future__ import annotations

from typing import Any

from pllm.api.model_call import model_call
from pllm.errors import GatewayError
from pllm.providers.codec import Endpoint
from pllm.providers.responses.surface import RESPONSES


def _bad(param: str, message: str) -> GatewayError:
    return GatewayError(400, message, param=param, code="invalid_value")


def check_responses(payload: dict[str, Any]) -> tuple[str, bool]:
    """The request's model and whether it streams; the rest is the upstream's to check (passed
    through) or the translation's."""
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise GatewayError(
            400,
            "you must provide a model parameter",
            param="model",
            code="missing_required_parameter",
        )
    if "input" in payload and not isinstance(payload["input"], (str, list)):
        raise _bad("input", "'input' must be a string or a list of input items.")
    stream = payload.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise _bad("stream", "'stream' must be a boolean.")
    cap = payload.get("max_output_tokens")
    if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
        raise _bad("max_output_tokens", "'max_output_tokens' must be a positive integer.")
    return model, stream is True


# Routed as a chat completion: every chat deployment serves it (natively where its codec
# speaks Responses, translated through chat elsewhere).
responses = model_call(RESPONSES, Endpoint.CHAT, check_responses)
responses.__name__ = responses.__qualname__ = "responses"
