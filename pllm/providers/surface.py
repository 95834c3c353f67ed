"""Surfaces: the client-facing formats a model call can arrive in.

The OpenAI surface is the gateway's own format, so it hands each step straight to the
deployment's codec. Anthropic's Messages surface (``pllm.providers.anthropic.surface``) serves
natively where the codec speaks Messages and translates through OpenAI chat elsewhere. Either
way the request path calls the same five methods.
"""

from __future__ import annotations

from typing import Any, Protocol

import pllm_accel
from pllm.errors import GatewayError
from pllm.providers.codec import (
    Batch,
    Deployment,
    Ending,
    Endpoint,
    Outgoing,
    StreamSource,
    StreamTranslator,
    judged,
    truncated,
    usage_requested,
)
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


class ChatStreamReframer(Protocol):
    """Turns the data of one OpenAI chat chunk into the client's frames (another surface's
    stream translator: Anthropic's events, the Responses API's)."""

    done: bool
    failure: GatewayError | None

    @property
    def usage(self) -> Usage | None: ...

    def feed(self, data: bytes) -> bytes: ...


class ThroughChat:
    """A surface's stream made from the OpenAI chat frames another codec's translator relays:
    the inner translator's frames are parsed back into chunks and re-framed by ``outer``."""

    __slots__ = ("_deployment", "_inner", "_outer", "_parser")

    def __init__(self, inner: StreamTranslator, outer: ChatStreamReframer, deployment: str) -> None:
        self._inner = inner
        self._outer = outer
        self._parser = pllm_accel.SseParser()
        self._deployment = deployment

    def feed(self, batch: Batch) -> bytes:
        frames = self._inner.feed(batch)
        if not frames:
            return b""
        feed = self._outer.feed
        return b"".join([feed(ev.data) for ev in self._parser.feed(frames)])

    @property
    def stopped(self) -> bool:
        outer = self._outer
        return outer.done or outer.failure is not None or self._inner.stopped

    def usage(self, source: StreamSource) -> Usage | None:
        return self._outer.usage or self._inner.usage(source)

    def finish(self, source: StreamSource) -> Ending:
        seen = judged(self._outer.failure, self._outer.done)
        if seen is not None:
            return seen
        ending = self._inner.finish(source)
        if ending.failure is not None or ending.relayed_error is not None:
            return ending
        return Ending(truncated(self._deployment, "without [DONE]"))
