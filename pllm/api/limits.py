"""Limits on the request head a client controls: header count, the size of the headers pllm
reads, path and query string length. Checked before routing, on both listeners.

Every request pays for these, so each is an O(1) ``len()``: no loop over the headers, no
allocation. Granian caps what lies beyond them (100 headers, a header block of a few hundred
KiB, with a bare 431 or 414); pllm's limits sit below its caps, so a client gets a JSON
error that says which limit it crossed instead. Limits on the body (size, JSON depth, array
lengths, message and tool counts) are in :mod:`pllm.api.validation` and
``general_settings.max_request_body_bytes``.
"""

from __future__ import annotations

from pllm.errors import GatewayError
from pllm.http import Request

# An SDK sends about 15 headers and a proxy chain adds a few; 64 leaves room for both.
MAX_HEADERS = 64
# The headers pllm parses at length: a key (hashed) or a JWT (decoded, verified). 8 KiB
# holds any JWT an identity provider issues with room to spare.
MAX_CREDENTIAL_BYTES = 8 * 1024
# No route takes a long path; the admin API's query strings are a handful of filters.
MAX_PATH_BYTES = 2 * 1024
MAX_QUERY_BYTES = 8 * 1024


def _head_error(status: int, message: str, code: str, param: str | None = None) -> GatewayError:
    return GatewayError(status, message, code=code, param=param, type="invalid_request_error")


def check_head(req: Request) -> None:
    """431 or 414 when the request's head is over a limit above; otherwise nothing."""
    scope = req.scope
    if len(scope["headers"]) > MAX_HEADERS:
        raise _head_error(
            431,
            f"Too many request headers: the limit is {MAX_HEADERS}.",
            "too_many_headers",
        )
    # The two headers pllm reads a credential from (pllm.auth.master_key.presented_key);
    # one it ignores costs nothing however large it is.
    headers = req.headers
    if (
        len(headers.get(b"authorization", b"")) > MAX_CREDENTIAL_BYTES
        or len(headers.get(b"x-api-key", b"")) > MAX_CREDENTIAL_BYTES
    ):
        name = (
            "x-api-key"
            if len(headers.get(b"authorization", b"")) <= MAX_CREDENTIAL_BYTES
            else "authorization"
        )
        raise _head_error(
            431,
            f"Header '{name}' is too large: the limit is {MAX_CREDENTIAL_BYTES} bytes.",
            "header_too_large",
            param=name,
        )
    if len(req.path) > MAX_PATH_BYTES:
        raise _head_error(
            414, f"The URL path is too long: the limit is {MAX_PATH_BYTES} bytes.", "path_too_long"
        )
    if len(scope.get("query_string", b"")) > MAX_QUERY_BYTES:
        raise _head_error(
            414,
            f"The query string is too long: the limit is {MAX_QUERY_BYTES} bytes.",
            "query_too_long",
        )
