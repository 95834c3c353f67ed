"""Google API errors -> gateway errors.

Google answers ``{"error": {"code", "message", "status", "details"}}`` (a list of one such
object from some streaming endpoints). The client sees the upstream's status and message, the
Google status (``RESOURCE_EXHAUSTED``…) as ``code``; a prompt over the context window is
``context_length_exceeded`` (the router's context-window fallbacks read it), and Gemini's 400
for a bad API key a 401.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from pllm.errors import GatewayError

# Google status -> the HTTP status it stands for (an event in a stream has no HTTP status).
_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INTERNAL": 500,
    "DATA_LOSS": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


class _Detail(msgspec.Struct):
    reason: str | None = None


class _Error(msgspec.Struct):
    code: int | None = None
    message: str = ""
    status: str | None = None
    details: list[_Detail] = []


class _Reply(msgspec.Struct):
    error: _Error | None = None


_decode = msgspec.json.Decoder(_Reply | list[_Reply]).decode


def is_retryable(status: int) -> bool:
    """Statuses that say something about this deployment (its key, quota or health), not
    about the request: another deployment may well succeed."""
    return status in (401, 403, 408, 429) or status >= 500


def google_error(
    status: int,
    message: str,
    google_status: str | None,
    reasons: tuple[str | None, ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
) -> GatewayError:
    if not 400 <= status < 600:
        status = _STATUS.get(google_status or "", 502)
    code = google_status or "upstream_error"
    if "API_KEY_INVALID" in reasons:
        status, code = 401, "invalid_api_key"
    elif status == 400 and "exceeds the maximum number of tokens" in message:
        code = "context_length_exceeded"
    return GatewayError(status, message, code=code, headers=headers, retryable=is_retryable(status))


def map_google_error(status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
    forwarded = tuple((k, v) for k, v in headers.items() if k == "retry-after")
    try:
        reply = _decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        reply = None
    if isinstance(reply, list):
        reply = reply[0] if reply else None
    err = reply.error if reply is not None else None
    if err is not None and err.message:
        reasons = tuple(d.reason for d in err.details)
        return google_error(status, err.message, err.status, reasons, forwarded)
    text = body[:500].decode("utf-8", "replace").strip()
    message = f"upstream returned HTTP {status}" + (f": {text}" if text else "")
    return google_error(status, message, None, (), forwarded)
