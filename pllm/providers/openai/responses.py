"""OpenAI's Responses API passed through (``openai`` and ``azure`` deployments).

The client's request goes upstream with only ``model`` rewritten and the reply's bytes come
back as they were sent; a stream's events pass through as bytes (the ``"tap"`` relay), the
terminal ones parked to read the usage (``response.completed``/``incomplete``/``failed``) and
an in-band ``error``.
"""

from __future__ import annotations

import msgspec

from pllm.providers.codec import COMPLETE, Batch, Ending, StreamSource, truncated
from pllm.usage import PromptTokensDetails, Usage

# The events a pass-through stream is read for; every other one only passes through.
TAPPED = ("response.completed", "response.incomplete", "response.failed", "error")


class _InputDetails(msgspec.Struct):
    cached_tokens: int | None = None


class ResponsesUsage(msgspec.Struct):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int | None = None
    input_tokens_details: _InputDetails | None = None

    def gateway_usage(self) -> Usage:
        details = self.input_tokens_details
        cached = (details.cached_tokens or 0) if details is not None else 0
        total = self.total_tokens
        if total is None:
            total = self.input_tokens + self.output_tokens
        return Usage(
            self.input_tokens,
            self.output_tokens,
            total,
            PromptTokensDetails(cached) if cached else None,
        )


class _Response(msgspec.Struct):
    usage: ResponsesUsage | None = None


class _Event(msgspec.Struct):
    response: _Response | None = None


_reply = msgspec.json.Decoder(_Response).decode
_event = msgspec.json.Decoder(_Event).decode


def responses_usage(body: bytes) -> Usage | None:
    """The usage of a Responses object (None when it has none or is not one)."""
    try:
        usage = _reply(body).usage
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return usage.gateway_usage() if usage is not None else None


class ResponsesPassThrough:
    """A Responses stream to a Responses client: the bytes pass through as they came; the
    tapped events give the usage, the end and an in-band error."""

    __slots__ = ("_deployment", "_done", "_error", "_usage")

    stopped = False

    def __init__(self, deployment: str) -> None:
        self._deployment = deployment
        self._usage: Usage | None = None
        self._done = False
        self._error = False

    def feed(self, batch: Batch) -> bytes:
        for ev in batch.events:
            name = ev.event
            if name == "error" or name == "response.failed":
                self._error = True
            if name != "error":
                self._done = True
                try:
                    response = _event(ev.data).response
                except (msgspec.DecodeError, msgspec.ValidationError):
                    continue
                if response is not None and response.usage is not None:
                    self._usage = response.usage.gateway_usage()
        return batch.out

    def usage(self, source: StreamSource) -> Usage | None:
        return self._usage

    def finish(self, source: StreamSource) -> Ending:
        if self._error:
            return Ending(relayed_error="upstream_error")
        return COMPLETE if self._done else Ending(truncated(self._deployment, "early"))
