"""OpenAI's Responses surface (/v1/responses) over any codec.

A codec that speaks Responses (the OpenAI codec for ``openai`` and ``azure``) gets the
client's request as sent, only ``model`` rewritten, and its reply or stream passes through as
bytes. Any other chat deployment gets the request translated to a chat completion; its reply,
or its stream (as the codec relays it in OpenAI's chat format), is translated back event by
event. Errors are OpenAI-shaped, as on the chat endpoints.

The request path routes a Responses request as a chat completion (``Endpoint.CHAT``): every
deployment that serves chat serves Responses, natively or translated, so the router's
capability sets need nothing new. ``Endpoint.RESPONSES`` is the wire endpoint of the codecs
that speak it (its URL, its pass-through), which the surface picks per deployment.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pllm.errors import GatewayError
from pllm.providers.codec import (
    Deployment,
    Endpoint,
    Outgoing,
    StreamTranslator,
    invalid_reply,
)
from pllm.providers.responses.request_to_chat import responses_to_chat_request
from pllm.providers.responses.response_from_chat import chat_to_responses_response
from pllm.providers.responses.stream_from_chat import ChatToResponsesStream
from pllm.providers.surface import ThroughChat
from pllm.usage import Usage

_encode = msgspec.json.Encoder().encode


def error_event(err: GatewayError) -> bytes:
    """A Responses stream's ``error`` event for a failure of the gateway's own."""
    payload = {"type": "error", "code": err.code, "message": err.message, "param": err.param}
    return b"event: error\ndata: " + _encode(payload) + b"\n\n"


class ResponsesSurface:
    def encode(
        self, dep: Deployment, endpoint: Endpoint, payload: dict[str, Any], *, stream: bool
    ) -> Outgoing:
        # ``endpoint`` is CHAT, what routing asked of the deployment (see the module's doc).
        codec = dep.codec
        if Endpoint.RESPONSES in codec.endpoints:
            return codec.encode(dep, Endpoint.RESPONSES, payload, stream=stream, usage_chunk=False)
        chat = responses_to_chat_request(payload)
        # The usage chunk is asked for: response.completed reports it.
        out = codec.encode(dep, Endpoint.CHAT, chat, stream=stream, usage_chunk=True)
        out.model = payload["model"]
        return out

    def decode(self, dep: Deployment, out: Outgoing, body: bytes) -> tuple[bytes, Usage | None]:
        reply, usage = dep.codec.decode(dep, out, body)
        if out.endpoint is not Endpoint.CHAT:
            return reply, usage
        try:
            translated, read = chat_to_responses_response(reply, out.model)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise invalid_reply(dep.id) from None
        return translated, usage if usage is not None else read

    def translator(self, dep: Deployment, out: Outgoing) -> StreamTranslator:
        inner = dep.codec.translator(dep, out)
        if out.endpoint is not Endpoint.CHAT:
            return inner
        return ThroughChat(inner, ChatToResponsesStream(out.model), dep.id)

    def error_frame(self, err: GatewayError) -> bytes:
        return error_event(err)

    def shape(self, err: GatewayError) -> GatewayError:
        return err


RESPONSES = ResponsesSurface()
