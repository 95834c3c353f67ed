"""Bedrock errors -> gateway errors.

Bedrock answers an error with its type in the ``x-amzn-errortype`` header
(``ThrottlingException:http://internal.amazon.com/coral/...``; the part after ``:`` is not
the type) and ``{"message": ...}`` (``Message`` from some front ends) as the body. Inside a
ConverseStream an exception is a frame named by its type, first letter lower-cased
(``throttlingException``), with the same body. The client sees the status the type stands
for, the message and the type as ``code``; a prompt over the model's context window is
``context_length_exceeded`` (the router's context-window fallbacks read it). Throttling,
a model not ready, an unavailable or failing service and rejected credentials are worth a try
on another deployment.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from pllm.errors import GatewayError

# Bedrock error type -> (the status the client sees, retryable).
_TYPES: dict[str, tuple[int, bool]] = {
    "ValidationException": (400, False),
    "ServiceQuotaExceededException": (429, True),
    "ThrottlingException": (429, True),
    "AccessDeniedException": (403, True),
    "UnrecognizedClientException": (401, True),
    "InvalidSignatureException": (401, True),
    "IncompleteSignature": (401, True),
    "ExpiredTokenException": (401, True),
    "MissingAuthenticationTokenException": (401, True),
    "ResourceNotFoundException": (404, False),
    "ModelNotReadyException": (503, True),
    "ServiceUnavailableException": (503, True),
    "InternalServerException": (500, True),
    "ModelTimeoutException": (504, True),
    "ModelErrorException": (502, True),
    "ModelStreamErrorException": (502, True),
}

# How Bedrock's models word a prompt over their context window (lower-cased).
_TOO_LONG = (
    "input is too long",
    "prompt is too long",
    "too many input tokens",
    "too many tokens",
    "context window",
    "context length",
    "maximum context",
    "input length",
)


class _Body(msgspec.Struct):
    message: str | None = None
    Message: str | None = None


_decode = msgspec.json.Decoder(_Body).decode


def is_retryable(status: int) -> bool:
    return status in (401, 403, 408, 429) or status >= 500


def bedrock_error(error_type: str | None, message: str, status: int = 0) -> GatewayError:
    """The gateway error for a Bedrock error of ``error_type`` (an HTTP reply's type, or an
    in-stream exception's: ``throttlingException`` reads as ``ThrottlingException``)."""
    kind = error_type[:1].upper() + error_type[1:] if error_type else None
    mapped, retryable = _TYPES.get(kind or "", (0, False))
    if mapped:
        status = mapped
    elif not 400 <= status < 600:
        status = 502
    if not mapped:
        retryable = is_retryable(status)
    code = kind or "upstream_error"
    if status == 400 and any(s in message.lower() for s in _TOO_LONG):
        code = "context_length_exceeded"
    return GatewayError(status, message, code=code, retryable=retryable)


def map_bedrock_error(status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
    error_type = headers.get("x-amzn-errortype", "").partition(":")[0] or None
    message = None
    try:
        parsed = _decode(body)
        message = parsed.message or parsed.Message
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass
    if not message:
        text = body[:500].decode("utf-8", "replace").strip()
        message = f"upstream returned HTTP {status}" + (f": {text}" if text else "")
    return bedrock_error(error_type, message, status)
