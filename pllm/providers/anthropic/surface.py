"""Anthropic's Messages surface (/v1/messages, /v1/messages/count_tokens) over any codec.

A codec that speaks Messages (``anthropic``) gets the client's request as sent, only ``model``
rewritten, and its reply passes through as bytes. Any other chat deployment gets the request
translated to an OpenAI chat completion; its reply, or its stream (as the codec relays it in
OpenAI's format), is translated back event by event. Errors are Anthropic-shaped throughout.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pllm.errors import GatewayError
from pllm.providers.anthropic.errors import anthropic_error_body, as_anthropic_error
from pllm.providers.anthropic.request_to_openai import anthropic_to_openai_request
from pllm.providers.anthropic.response_to_anthropic import openai_to_anthropic_response
from pllm.providers.anthropic.stream_to_anthropic import OpenAIToAnthropicStream
from pllm.providers.codec import (
    Deployment,
    Endpoint,
    Outgoing,
    StreamTranslator,
    invalid_reply,
)
from pllm.providers.surface import ThroughChat
from pllm.usage import Usage


class MessagesSurface:
    def encode(
        self, dep: Deployment, endpoint: Endpoint, payload: dict[str, Any], *, stream: bool
    ) -> Outgoing:
        codec = dep.codec
        if endpoint in codec.endpoints:
            return codec.encode(dep, endpoint, payload, stream=stream, usage_chunk=False)
        chat = anthropic_to_openai_request(payload, dep.upstream_model)
        # The usage chunk is asked for: the closing message_delta event reports it.
        out = codec.encode(dep, Endpoint.CHAT, chat, stream=stream, usage_chunk=True)
        out.model = payload["model"]
        return out

    def decode(self, dep: Deployment, out: Outgoing, body: bytes) -> tuple[bytes, Usage | None]:
        reply, usage = dep.codec.decode(dep, out, body)
        if out.endpoint is not Endpoint.CHAT:
            return reply, usage
        try:
            return openai_to_anthropic_response(reply, out.model)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise invalid_reply(dep.id) from None

    def translator(self, dep: Deployment, out: Outgoing) -> StreamTranslator:
        inner = dep.codec.translator(dep, out)
        if out.endpoint is not Endpoint.CHAT:
            return inner
        return ThroughChat(inner, OpenAIToAnthropicStream(out.model), dep.id)

    def error_frame(self, err: GatewayError) -> bytes:
        return b"event: error\ndata: " + anthropic_error_body(err) + b"\n\n"

    def shape(self, err: GatewayError) -> GatewayError:
        return as_anthropic_error(err)


MESSAGES = MessagesSurface()
