"""The translator of an OpenAI-format stream that the native relay already re-frames.

Parsing, framing, the usage chunk and the checks (JSON events, ``[DONE]``, an in-band error)
all happen in Rust as bytes arrive; Python only sends the frames on and reads the verdict.
"""

from __future__ import annotations

from pllm.errors import GatewayError
from pllm.providers.codec import (
    COMPLETE,
    Batch,
    Ending,
    StreamSource,
    truncated,
)
from pllm.usage import Usage


class OpenAIStream:
    __slots__ = ("_deployment",)

    stopped = False

    def __init__(self, deployment: str) -> None:
        self._deployment = deployment

    def feed(self, batch: Batch) -> bytes:
        return batch.out

    def usage(self, source: StreamSource) -> Usage | None:
        u = source.usage
        if u is None or isinstance(u, Usage):
            return u
        return Usage(u.prompt_tokens, u.completion_tokens, u.total_tokens)

    def finish(self, source: StreamSource) -> Ending:
        fault = source.fault
        if fault == "in_band_error":
            # The upstream's own error event went to the client.
            return Ending(relayed_error="upstream_error")
        if fault == "malformed":
            return Ending(
                GatewayError(
                    502,
                    f"Upstream {self._deployment} sent an event that is not JSON.",
                    code="upstream_invalid",
                )
            )
        if not source.saw_done:
            how = "in the middle of an event" if source.truncated else "without [DONE]"
            return Ending(truncated(self._deployment, how))
        return COMPLETE
