"""Errors between the two formats: Anthropic error types and their OpenAI counterparts.

On the OpenAI surface an Anthropic error keeps its message and its Anthropic type as ``code``;
on the Anthropic surface (/v1/messages) every gateway error is written in Anthropic's shape,
``{"type": "error", "error": {"type", "message"}}``.
"""

from __future__ import annotations

import msgspec

from pllm.errors import GatewayError

# Anthropic error type -> (status the OpenAI surface answers, OpenAI error type, retryable).
_ANTHROPIC_TO_OPENAI: dict[str, tuple[int, str, bool]] = {
    "invalid_request_error": (400, "invalid_request_error", False),
    "authentication_error": (401, "authentication_error", False),
    "billing_error": (402, "invalid_request_error", False),
    "permission_error": (403, "permission_error", False),
    "not_found_error": (404, "invalid_request_error", False),
    "request_too_large": (413, "invalid_request_error", False),
    "rate_limit_error": (429, "rate_limit_error", True),
    "api_error": (500, "api_error", False),
    "timeout_error": (504, "api_error", True),
    # Anthropic's 529: OpenAI clients know 503 as "try again later".
    "overloaded_error": (503, "api_error", True),
}

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_type_for_status(status: int) -> str:
    return _TYPE_BY_STATUS.get(status, "api_error" if status >= 500 else "invalid_request_error")


def openai_error_from_anthropic(
    status: int,
    error_type: str | None,
    message: str,
    headers: tuple[tuple[str, str], ...] = (),
) -> GatewayError:
    """An Anthropic error (reply status, ``error.type``) as the OpenAI surface reports it.
    The Anthropic type stays readable as ``code``; overload and rate limits are retryable."""
    kind = error_type if error_type in _ANTHROPIC_TO_OPENAI else anthropic_type_for_status(status)
    mapped_status, openai_type, retryable = _ANTHROPIC_TO_OPENAI[kind]
    out_status = status if 400 <= status < 600 and status != 529 else mapped_status
    if kind == "overloaded_error":
        out_status = 503
    return GatewayError(
        out_status,
        message,
        type=openai_type,
        code=kind,
        headers=headers,
        retryable=retryable or status in (429, 529),
    )


class _ErrorBody(msgspec.Struct):
    type: str
    message: str


class AnthropicErrorEnvelope(msgspec.Struct, tag_field="type", tag="error"):
    error: _ErrorBody


_encode = msgspec.json.Encoder().encode


def anthropic_error_type(err: GatewayError) -> str:
    """The Anthropic type of any gateway error: kept from an Anthropic upstream (``code``),
    else read from the status."""
    code = err.code
    if code is not None and code in _ANTHROPIC_TO_OPENAI:
        return code
    return anthropic_type_for_status(err.status)


def anthropic_status(err: GatewayError) -> int:
    return 529 if anthropic_error_type(err) == "overloaded_error" else err.status


def anthropic_error_body(err: GatewayError) -> bytes:
    return _encode(AnthropicErrorEnvelope(_ErrorBody(anthropic_error_type(err), err.message)))


def as_anthropic_error(err: GatewayError) -> GatewayError:
    """The same error with an Anthropic-shaped body (for the /v1/messages surface)."""
    return GatewayError(
        anthropic_status(err),
        err.message,
        code=err.code,
        param=err.param,
        type=err.type,
        headers=err.headers,
        raw_body=anthropic_error_body(err),
        retryable=err.retryable,
    )
