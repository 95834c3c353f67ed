"""Fault injection for the fake OpenAI upstream: the catalogue and its logic.

The gateway does not forward client headers, so a fault is chosen per upstream
deployment, by headers the gateway's config adds to upstream requests
(``extra_headers``), or by the deployment's upstream model name:

* ``x-fault: <name>`` (or the model ``fault-<name>``; the header wins) selects a fault;
* ``x-fault-times: N``: only the first N requests with the same ``x-fault-key``
  (default: the fault name) get the fault, later ones are answered normally;
* ``x-fault-retry-after`` (``429``), ``x-fault-delay-ms`` (``slow-first-token``) and
  ``x-fault-chunks`` (``stream-cut-after``, ``stream-stall``) tune a fault.

Faults apply to the POST endpoints (chat, legacy completions, embeddings; OpenAI and
Azure paths). The ``STREAM_FAULTS`` apply only to ``"stream": true`` chat and legacy
completions requests; other requests carrying them are answered normally, do not
count against ``x-fault-times`` and are recorded with ``fault=None``. An unknown
fault name is answered with a 400 ``unknown_fault`` error, so that typos fail loudly.

``openai_upstream.FakeOpenAI`` calls ``FaultBook.choose`` when it records a request
(the applied fault's name lands in ``RecordedRequest.fault``), ``early_response``
before answering, and ``shape_stream`` to rewrite the events of a stream.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from .openai_wire import SSE_DONE, error_body, sse

__all__ = [
    "FAULTS",
    "FAULT_HEADER",
    "FAULT_KEY_HEADER",
    "FAULT_MODEL_PREFIX",
    "FAULT_TIMES_HEADER",
    "IN_BAND_ERROR",
    "MALFORMED_EVENT",
    "STREAM_FAULTS",
    "FaultBook",
    "FaultPlan",
    "SseEvent",
    "StreamEnding",
    "abort_with_rst",
    "early_response",
    "shape_stream",
]

FAULT_HEADER = "x-fault"
FAULT_TIMES_HEADER = "x-fault-times"
FAULT_KEY_HEADER = "x-fault-key"
FAULT_MODEL_PREFIX = "fault-"

STATUS_FAULTS = frozenset(
    {"429", "429-no-retry-after", "500", "503", "context-length", "content-policy"}
)
"""Faults answered with an OpenAI error status and body instead of the answer."""

CONNECTION_FAULTS = frozenset({"reset", "never-answer", "slow-first-token"})
"""Faults acting on the connection or the timing before the response head."""

STREAM_FAULTS = frozenset(
    {"stream-cut-after", "stream-stall", "malformed-sse", "missing-done", "in-band-error"}
)
"""Faults that rewrite a stream; they apply to ``"stream": true`` requests only."""

FAULTS = STATUS_FAULTS | CONNECTION_FAULTS | STREAM_FAULTS

DEFAULT_RETRY_AFTER = "1"
DEFAULT_DELAY_MS = 2000
DEFAULT_CHUNKS = 2

MALFORMED_EVENT = b"data: {not json\n\n"
"""The broken event ``malformed-sse`` sends after the first content chunk."""

IN_BAND_ERROR: dict[str, Any] = {
    "error": {
        "message": "upstream failed mid-stream",
        "type": "server_error",
        "param": None,
        "code": "internal_error",
    }
}
"""The event ``in-band-error`` sends (as ``data: <json>``) after the first content chunk."""

_CONTEXT_LENGTH_MESSAGE = (
    "This model's maximum context length is 8192 tokens. However, your messages resulted"
    " in 9000 tokens. Please reduce the length of the messages."
)

StreamEnding = Literal["eof", "stall"]
"""How a stream ends: a clean end of the response, or silence with the connection open."""


@dataclass(frozen=True)
class SseEvent:
    """One event of a stream about to be sent."""

    data: bytes
    content: bool
    """Whether it carries a content piece (paced by ``x-fake-interval-ms``, timed)."""


@dataclass(frozen=True)
class FaultPlan:
    """The fault chosen for one request, with its parameters."""

    name: str
    retry_after: str = DEFAULT_RETRY_AFTER
    delay_ms: int = DEFAULT_DELAY_MS
    chunks: int = DEFAULT_CHUNKS

    @property
    def known(self) -> bool:
        return self.name in FAULTS


def _int(headers: Mapping[str, str], name: str) -> int | None:
    """A non-negative integer header (negatives clamp to 0), or ``None`` if absent or bad."""
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return max(int(raw.strip()), 0)
    except ValueError:
        return None


def _fault_name(headers: Mapping[str, str], model: str | None) -> str | None:
    name = headers.get(FAULT_HEADER)
    if name is not None and name.strip():
        return name.strip()
    if model is not None and model.startswith(FAULT_MODEL_PREFIX):
        return model.removeprefix(FAULT_MODEL_PREFIX)
    return None


class FaultBook:
    """Picks the fault of each request and counts ``x-fault-times`` per ``x-fault-key``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}
        """Requests that asked for a fault so far, per key (faulted or not)."""

    def clear(self) -> None:
        with self._lock:
            self.counts.clear()

    def choose(
        self, headers: Mapping[str, str], model: str | None, stream: bool | None
    ) -> FaultPlan | None:
        """The fault to inject into a request, or ``None`` to answer it normally.

        ``headers`` have lower-case names; ``model`` is the resolved model (body or
        Azure deployment); ``stream`` is ``None`` for endpoints that cannot stream.
        Unknown names come back as a plan whose ``known`` is false (never counted).
        """
        name = _fault_name(headers, model)
        if name is None:
            return None
        delay_ms = _int(headers, "x-fault-delay-ms")
        chunks = _int(headers, "x-fault-chunks")
        plan = FaultPlan(
            name=name,
            retry_after=headers.get("x-fault-retry-after", DEFAULT_RETRY_AFTER),
            delay_ms=DEFAULT_DELAY_MS if delay_ms is None else delay_ms,
            chunks=DEFAULT_CHUNKS if chunks is None else chunks,
        )
        if not plan.known:
            return plan
        if name in STREAM_FAULTS and not stream:
            return None
        times = _int(headers, FAULT_TIMES_HEADER)
        key = headers.get(FAULT_KEY_HEADER, name)
        with self._lock:
            seen = self.counts.get(key, 0)
            self.counts[key] = seen + 1
        return plan if times is None or seen < times else None


def abort_with_rst(request: web.Request) -> None:
    """Close the request's connection at once with a TCP RST (``SO_LINGER`` 0)."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def early_response(plan: FaultPlan) -> web.Response | None:
    """The error answer of a status fault (or ``unknown_fault``), else ``None``."""
    if not plan.known:
        return web.json_response(
            error_body(400, f"fake upstream: unknown fault {plan.name!r}", code="unknown_fault"),
            status=400,
        )
    if plan.name in ("429", "429-no-retry-after"):
        response = web.json_response(error_body(429), status=429)
        if plan.name == "429":
            response.headers["retry-after"] = plan.retry_after
        return response
    if plan.name in ("500", "503"):
        status = int(plan.name)
        return web.json_response(error_body(status, error_type="server_error"), status=status)
    if plan.name == "context-length":
        body = error_body(
            400, _CONTEXT_LENGTH_MESSAGE, "invalid_request_error", "context_length_exceeded"
        )
        body["error"]["param"] = "messages"
        return web.json_response(body, status=400)
    if plan.name == "content-policy":
        body = error_body(
            400,
            "Your request was rejected as a result of our safety system.",
            "invalid_request_error",
            "content_policy_violation",
        )
        return web.json_response(body, status=400)
    return None


def _through_content(events: list[SseEvent], count: int) -> list[SseEvent]:
    """The events up to and including the ``count``-th content event.

    With ``count == 0``, the events before the first content event; with fewer
    content events than ``count``, the events up to the last content event.
    """
    end = 0
    seen = 0
    for i, event in enumerate(events):
        if seen >= count:
            break
        if event.content:
            seen += 1
            end = i + 1
    if count == 0:
        end = next((i for i, e in enumerate(events) if e.content), len(events))
    return events[:end]


def shape_stream(
    plan: FaultPlan | None, events: list[SseEvent]
) -> tuple[list[SseEvent], StreamEnding]:
    """Rewrite a complete stream (ending with ``[DONE]``) for a stream fault."""
    if plan is None or plan.name not in STREAM_FAULTS:
        return events, "eof"
    if plan.name == "stream-cut-after":
        return _through_content(events, plan.chunks), "eof"
    if plan.name == "stream-stall":
        return _through_content(events, plan.chunks), "stall"
    if plan.name == "missing-done":
        return [e for e in events if e.data != SSE_DONE], "eof"
    head = _through_content(events, 1)
    if plan.name == "malformed-sse":
        return [*head, SseEvent(MALFORMED_EVENT, False), *events[len(head) :]], "eof"
    # in-band-error
    return [*head, SseEvent(sse(IN_BAND_ERROR), False)], "eof"
