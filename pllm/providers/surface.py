"""Surfaces: the client-facing formats a model call can arrive in.

The OpenAI surface is the gateway's own format, so it hands each step straight to the
deployment's codec. Anthropic's Messages surface (``pllm.providers.anthropic.surface``) serves
natively where the codec speaks Messages and translates through OpenAI chat elsewhere. Either
way the request path calls the same five methods.
"""

from __future__ import annotations

from typing import Any, Protocol

from pllm.errors import GatewayError
from pllm.providers.codec import Deployment, Endpoint, Outgoing, StreamTranslator, usage_requested
from pllm.usage import Usage


class Surface(Protocol):
    def encode(
        self, dep: Deployment, endpoint: Endpoint, payload: dict[str, Any], *, stream: bool
    ) -> Outgoing: ...

    def decode(self, dep: Deployment, out: Outgoing, body: bytes) -> tuple[bytes, Usage | None]: ...

    def translator(self, dep: Deployment, out: Outgoing) -> StreamTranslator: ...

    def error_frame(self, err: GatewayError) -> bytes:
        """The terminal event that ends a started stream which failed."""
        ...

    def shape(self, err: GatewayError) -> GatewayError:
        """An error answered before the response started, in this surface's shape."""
        ...


class OpenAISurface:
    def encode(
        self, dep: Deployment, endpoint: Endpoint, payload: dict[str, Any], *, stream: bool
    ) -> Outgoing:
        usage_chunk = stream and usage_requested(payload)
        return dep.codec.encode(dep, endpoint, payload, stream=stream, usage_chunk=usage_chunk)

    def decode(self, dep: Deployment, out: Outgoing, body: bytes) -> tuple[bytes, Usage | None]:
        return dep.codec.decode(dep, out, body)

    def translator(self, dep: Deployment, out: Outgoing) -> StreamTranslator:
        return dep.codec.translator(dep, out)

    def error_frame(self, err: GatewayError) -> bytes:
        return b"data: " + err.body() + b"\n\n"

    def shape(self, err: GatewayError) -> GatewayError:
        return err


OPENAI = OpenAISurface()
