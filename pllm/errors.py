"""OpenAI-shaped errors: every failure a client can see is one of these.

The body is always ``{"error": {"message", "type", "param", "code"}}`` so that the official
SDKs raise their typed exceptions (``BadRequestError``, ``AuthenticationError``, …).
"""

from __future__ import annotations

import msgspec

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


class _ErrorBody(msgspec.Struct, omit_defaults=False):
    message: str
    type: str
    param: str | None
    code: str | None


class _Envelope(msgspec.Struct):
    error: _ErrorBody


_encode = msgspec.json.Encoder().encode


class GatewayError(Exception):
    """An error response. ``raw_body`` carries a provider's own error JSON through unchanged."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        raw_body: bytes | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.type = type or _TYPE_BY_STATUS.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        self.headers = headers
        self.raw_body = raw_body
        # Worth trying on another deployment (set by the upstream-failure mappings).
        self.retryable = retryable

    def body(self) -> bytes:
        if self.raw_body is not None:
            return self.raw_body
        return _encode(_Envelope(_ErrorBody(self.message, self.type, self.param, self.code)))


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param, code=code)
