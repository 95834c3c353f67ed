"""The provider interface: a codec for one wire format, and the deployments built with it.

A codec knows one upstream wire format and nothing about routing, limits or HTTP serving:

- ``configure`` turns a deployment's config into its target once, at startup (URLs and auth
  headers for an HTTP upstream, or an in-process target like the mock);
- ``encode`` builds the upstream request of one attempt (body, and how the native client is to
  pump a streamed reply);
- ``decode`` turns a 2xx reply into the client's format and reads its usage;
- ``translator`` returns the per-stream state that turns the events the pump parks into the
  client's frames, reads the usage and judges how the stream ended;
- ``error`` maps an upstream error reply to a :class:`GatewayError` (retryable or not).

OpenAI's format is the gateway's own: ``decode`` and the translators produce OpenAI replies and
chunks, except for endpoints a codec serves natively in another client format (Anthropic's
Messages). What a codec cannot do is absent from its ``endpoints``, never stubbed. One forward
function and one relay loop (:mod:`pllm.pipeline`) serve every codec.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Literal, Protocol

import pllm_accel
from pllm.config import DeploymentConfig, Timeouts
from pllm.config.problems import Problems
from pllm.errors import GatewayError
from pllm.usage import Usage


class Endpoint(enum.Enum):
    CHAT = "chat/completions"
    COMPLETIONS = "completions"
    EMBEDDINGS = "embeddings"
    # Anthropic's Messages API: served natively by ``anthropic/`` deployments, and by every
    # chat deployment through the Messages surface's translation.
    MESSAGES = "messages"
    COUNT_TOKENS = "messages/count_tokens"
    # OpenAI's Responses API, as a wire endpoint: what ``openai`` and ``azure`` deployments
    # serve natively. /v1/responses is routed as CHAT (every chat deployment serves it, the
    # others through the Responses surface's translation).
    RESPONSES = "responses"


# The OpenAI endpoints: what OpenAI-format providers and the mock serve.
OPENAI_ENDPOINTS = frozenset({Endpoint.CHAT, Endpoint.COMPLETIONS, Endpoint.EMBEDDINGS})

# The OpenAI endpoints plus the Responses API: what OpenAI itself and Azure OpenAI serve.
RESPONSES_ENDPOINTS = OPENAI_ENDPOINTS | {Endpoint.RESPONSES}

# A request or reply body as the gateway reads it: a JSON object, decoded once.
Json = dict[str, Any]

# How the native client pumps a streamed body (see ``pllm_accel.HttpClient.send``).
Relay = Literal["none", "openai", "openai-strip-usage", "events", "tap", "eventstream"]


@dataclass(slots=True)
class Outgoing:
    """One attempt's upstream request, as its codec built it, and what reading the answer
    needs to know about it."""

    endpoint: Endpoint
    # The request as a dict (what ``body`` encodes): in-process targets read this.
    payload: dict[str, Any]
    body: bytes
    _: KW_ONLY
    # The model name the client asked for (replies translated back carry it).
    model: str
    stream: bool
    relay: Relay = "none"
    tap: tuple[str, ...] = ()
    # Whether the stream's consumer wants the usage chunk (the client asked for it).
    usage_chunk: bool = False


class SseEventLike(Protocol):
    @property
    def event(self) -> str | None: ...
    @property
    def data(self) -> bytes: ...


class Batch(Protocol):
    """What a stream source parked since the last poll: frames to send as they are, and
    events for the translator."""

    @property
    def out(self) -> bytes: ...
    @property
    def events(self) -> Sequence[SseEventLike]: ...
    def __bool__(self) -> bool: ...


class StreamSource(Protocol):
    """A streamed 2xx body being pumped: ``pllm_accel.UpstreamResponse`` or an in-process one."""

    def poll(self) -> Batch | None: ...
    def wait(self) -> Awaitable[None]: ...
    def close(self) -> None: ...
    @property
    def saw_done(self) -> bool: ...
    @property
    def truncated(self) -> bool: ...
    @property
    def fault(self) -> Literal["malformed", "in_band_error"] | None: ...
    @property
    def usage(self) -> pllm_accel.StreamUsage | Usage | None:
        """What an OpenAI relay read from the stream (in-process sources know it)."""
        ...


class Answer(StreamSource, Protocol):
    """An upstream's answer once its head is in: status, headers, and the whole body
    (non-streaming or an error) or the stream being pumped."""

    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def body(self) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class Ending:
    """How a stream ended, as its translator judges it: a ``failure`` to report to the client
    with one terminal error event, or the code of an upstream error event already relayed."""

    failure: GatewayError | None = None
    relayed_error: str | None = None


COMPLETE = Ending()


def judged(failure: GatewayError | None, done: bool) -> Ending | None:
    """How a translator that reads the events itself saw the stream end: the upstream's error
    event (already relayed in the client's format), or its proper end; None for neither."""
    if failure is not None:
        return Ending(relayed_error=failure.code)
    return COMPLETE if done else None


class StreamTranslator(Protocol):
    """The state of one stream's relay."""

    def feed(self, batch: Batch) -> bytes:
        """The client frames for one parked batch (may raise msgspec errors on bad JSON)."""
        ...

    @property
    def stopped(self) -> bool:
        """Nothing more is to be relayed (the stream ended inside: an error or the stop)."""
        ...

    def usage(self, source: StreamSource) -> Usage | None:
        """What the stream used so far (read even when the client left mid-stream)."""
        ...

    def finish(self, source: StreamSource) -> Ending:
        """Once the source has ended without a transport failure: complete, or why not."""
        ...


class LocalTarget(Protocol):
    """An upstream answered in process (the mock)."""

    def answer(self, out: Outgoing, request_id: str) -> Awaitable[Answer]: ...


# The native target of one request, for upstreams where it is not fixed at startup: a stream
# with a URL of its own (Gemini's ``:streamGenerateContent``), a bearer token refreshed before
# it expires (Vertex AI). Awaited by the forward step only where a target has one; it raises
# the attempt's GatewayError when no target can be had (a token endpoint that fails).
Resolve = Callable[[Outgoing], Awaitable[pllm_accel.Target]]


@dataclass(frozen=True, slots=True)
class HttpTarget:
    """Where a deployment's requests go. The native targets (URL and headers parsed and
    validated once) are built from ``urls`` and ``headers`` at construction; ``resolve``,
    where set, gives each request's target instead (built from the same, checked, parts)."""

    urls: Mapping[Endpoint, str]
    headers: list[tuple[str, str]] = field(repr=False)
    resolve: Resolve | None = field(default=None, repr=False, compare=False)
    native: Mapping[Endpoint, pllm_accel.Target] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        native = {e: pllm_accel.Target("POST", url, self.headers) for e, url in self.urls.items()}
        object.__setattr__(self, "native", native)


Target = HttpTarget | LocalTarget


class Codec(Protocol):
    name: str
    endpoints: frozenset[Endpoint]

    def configure(
        self, cfg: DeploymentConfig, env: Mapping[str, str], problems: Problems
    ) -> Target | None:
        """The deployment's target, or None after adding what is wrong to ``problems``."""
        ...

    def encode(
        self, dep: Deployment, endpoint: Endpoint, payload: Json, *, stream: bool, usage_chunk: bool
    ) -> Outgoing:
        """The upstream request for ``payload`` (never modified: attempts share it)."""
        ...

    def decode(self, dep: Deployment, out: Outgoing, body: bytes) -> tuple[bytes, Usage | None]:
        """A 2xx reply in the client's format, and its usage; raises :func:`invalid_reply`."""
        ...

    def translator(self, dep: Deployment, out: Outgoing) -> StreamTranslator: ...

    def error(self, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError: ...


@dataclass(frozen=True, slots=True)
class Deployment:
    """One upstream a model name can be served by, ready for per-request use."""

    id: str
    model_name: str
    upstream_model: str
    provider_name: str
    # What the deployment serves: its codec's endpoints, plus Messages wherever chat is.
    endpoints: frozenset[Endpoint]
    config: DeploymentConfig = field(repr=False)
    codec: Codec = field(repr=False)
    target: Target = field(repr=False)

    @property
    def timeouts(self) -> Timeouts:
        return self.config.timeouts


def invalid_reply(deployment: str) -> GatewayError:
    return GatewayError(
        502, f"Upstream {deployment} sent a reply that is not valid.", code="upstream_invalid"
    )


def truncated(deployment: str, how: str) -> GatewayError:
    return GatewayError(
        502, f"Upstream {deployment} ended the stream {how}.", code="upstream_truncated"
    )


def usage_requested(payload: dict[str, Any]) -> bool:
    """Whether the client asked for the usage chunk of a stream."""
    options = payload.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


class EventTranslator(Protocol):
    """Turns one parked upstream event (its name, its payload) into OpenAI chunk frames."""

    done: bool
    failure: GatewayError | None

    @property
    def usage(self) -> Usage | None: ...

    def feed(self, event: str | None, data: bytes) -> bytes: ...


class ParkedEventsAsOpenAI:
    """A stream the pump parks event by event, relayed as OpenAI chunks by ``translator``;
    ``cut`` says where a stream ended early: (inside an event, between events)."""

    __slots__ = ("_cut", "_deployment", "_translator")

    def __init__(self, deployment: str, translator: EventTranslator, cut: tuple[str, str]) -> None:
        self._deployment = deployment
        self._translator = translator
        self._cut = cut

    def feed(self, batch: Batch) -> bytes:
        feed = self._translator.feed
        return b"".join([feed(ev.event, ev.data) for ev in batch.events])

    @property
    def stopped(self) -> bool:
        return self._translator.failure is not None

    def usage(self, source: StreamSource) -> Usage | None:
        return self._translator.usage

    def finish(self, source: StreamSource) -> Ending:
        t = self._translator
        how = self._cut[0] if source.truncated else self._cut[1]
        return judged(t.failure, t.done) or Ending(truncated(self._deployment, how))
