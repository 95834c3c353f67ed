"""OpenTelemetry traces of model calls, exported over OTLP/HTTP.

Imported only when ``general_settings.otel`` turns tracing on (``AppState.build``), so a
gateway without it never loads the SDK; the request path then pays one ``is None`` check per
hook (``GatewayApp.tracing``, ``AppState.tracing``).

Per request (the API routes; health probes and the like are not traced):

* ``POST /v1/chat/completions`` (SERVER): from the route's start to the last byte of the
  answer or stream, a child of the client's W3C ``traceparent`` when it sent one;
* ``pllm.auth`` and ``pllm.gate`` (INTERNAL): the credential check, and the key/user/group
  limits and budgets;
* ``chat gpt-4o`` (CLIENT), one per upstream attempt (each retry and fallback its own): from
  encoding the upstream request until its reply was decoded, or, for a stream, until its
  head arrived. Its ``traceparent`` goes to the upstream with the request.

Attributes follow the GenAI and HTTP semantic conventions (:mod:`.genai` maps the names).
Prompt and completion text are recorded only with ``capture_content: true``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import Token
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from pllm.config.schema import OtelSettings
from pllm.errors import GatewayError
from pllm.observability import genai
from pllm.providers.codec import Deployment, Endpoint, HttpTarget

if TYPE_CHECKING:
    from pllm.call import Call
    from pllm.http import Request
    from pllm.principal import Principal
    from pllm.usage import Usage

log = logging.getLogger("pllm.tracing")

T = TypeVar("T")
_SHUTDOWN_WAIT = 5.0  # seconds the last export may take at shutdown


def tracing_enabled(settings: OtelSettings | None, env: Mapping[str, str] = os.environ) -> bool:
    """On when configured, unless the standard ``OTEL_SDK_DISABLED`` says otherwise."""
    return settings is not None and env.get("OTEL_SDK_DISABLED", "").strip().lower() != "true"


class _HeaderGetter(Getter[Mapping[bytes, bytes]]):
    """Reads the ASGI headers (lower-case bytes) for the W3C propagator."""

    def get(self, carrier: Mapping[bytes, bytes], key: str) -> list[str] | None:
        value = carrier.get(key.encode())
        return None if value is None else [value.decode("latin-1")]

    def keys(self, carrier: Mapping[bytes, bytes]) -> list[str]:
        return [k.decode("latin-1") for k in carrier]


_GETTER = _HeaderGetter()
_PROPAGATOR = TraceContextTextMapPropagator()


def _exporter_endpoint(endpoint: str) -> str:
    # Like OTEL_EXPORTER_OTLP_ENDPOINT: the collector's base URL, traces under /v1/traces.
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces"


def _resource(settings: OtelSettings, env: Mapping[str, str]) -> Resource:
    # Resource.create merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME; ours win over
    # them only when the config names a service, and "pllm" replaces the SDK's
    # "unknown_service" when nothing does.
    attributes: dict[str, str] = {}
    if settings.service_name:
        attributes["service.name"] = settings.service_name
    elif not env.get("OTEL_SERVICE_NAME") and "service.name=" not in env.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    ):
        attributes["service.name"] = "pllm"
    return Resource.create(attributes)


def _exporting_processor(settings: OtelSettings) -> SpanProcessor:
    # The exporter (requests, protobuf) only here: tests hand in their own processor.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    endpoint = _exporter_endpoint(settings.endpoint) if settings.endpoint else None
    # Batched, exported from the SDK's thread: a request only appends to a queue. The batch
    # sizes and delay come from OTEL_BSP_*, the endpoint, headers and timeout from
    # OTEL_EXPORTER_OTLP_* unless the config sets the endpoint.
    return BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint))


class Tracing:
    """The tracer of one worker, and the hooks the request path calls when it is on."""

    def __init__(
        self,
        settings: OtelSettings,
        *,
        processor: SpanProcessor | None = None,
        env: Mapping[str, str] = os.environ,
    ) -> None:
        self.capture_content = settings.capture_content
        # A ratio samples new traces; a client's sampled flag is followed either way. Without
        # one, OTEL_TRACES_SAMPLER (default: parent-based, always on) decides.
        sampler = (
            ParentBased(TraceIdRatioBased(settings.sample_ratio))
            if settings.sample_ratio is not None
            else None
        )
        self.provider = TracerProvider(sampler=sampler, resource=_resource(settings, env))
        self.provider.add_span_processor(processor or _exporting_processor(settings))
        self.tracer = self.provider.get_tracer("pllm")
        # Deployment id -> its upstream's server.address / server.port, parsed once.
        self._servers: dict[tuple[str, Endpoint], dict[str, str | int]] = {}

    @classmethod
    def start_exporting(cls, settings: OtelSettings) -> Tracing:
        tracing = cls(settings)
        log.info(
            "tracing on: spans exported over OTLP/HTTP",
            extra={"fields": {"endpoint": settings.endpoint or "from OTEL_EXPORTER_OTLP_*"}},
        )
        return tracing

    async def shutdown(self) -> None:
        """Exports what is still queued (a bounded wait: a collector that is down must not
        hold the shutdown) and stops the exporter's thread."""
        try:
            await asyncio.wait_for(asyncio.to_thread(self.provider.shutdown), _SHUTDOWN_WAIT)
        except TimeoutError:
            log.warning("tracing: the last spans were not exported before shutdown")

    # --- the request span -------------------------------------------------------------------

    def start(self, req: Request, method: str) -> RequestSpan:
        """The request's SERVER span, made current (auth, gate and attempts are its children)
        until :meth:`finish`; a child of the client's ``traceparent`` when there is one."""
        parent = (
            _PROPAGATOR.extract(req.headers, getter=_GETTER)
            if b"traceparent" in req.headers
            else None
        )
        path = _route(req.path)
        # Given at the start, the attributes are checked once (each set_attribute later takes
        # the span's lock and checks again): a span costs tens of µs in the SDK as it is.
        attributes: dict[str, str] = {
            "http.request.method": method,
            "http.route": path,
            "url.path": req.path,
            "url.scheme": req.scope.get("scheme", "http"),
            "pllm.request_id": req.request_id,
        }
        agent = req.headers.get(b"user-agent")
        if agent is not None:
            attributes["user_agent.original"] = agent.decode("latin-1")
        client = req.scope.get("client")
        if client:
            attributes["client.address"] = str(client[0])
        operation = genai.OPERATIONS_BY_PATH.get(path)
        if operation is not None:
            attributes["gen_ai.operation.name"] = operation
        span = self.tracer.start_span(
            f"{method} {path}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
            start_time=int(req.arrived_at * 1e9),
        )
        return RequestSpan(span, otel_context.attach(trace.set_span_in_context(span)))

    # --- auth and gate ----------------------------------------------------------------------

    async def auth(
        self,
        authenticate: Callable[[dict[bytes, bytes]], Awaitable[Principal]],
        headers: dict[bytes, bytes],
    ) -> Principal:
        with self._internal("pllm.auth") as span:
            principal = await authenticate(headers)
            if span.is_recording():
                span.set_attribute("pllm.auth.kind", principal.kind)
            return principal

    def gate(self, admit: Callable[..., T], *args: Any) -> T:
        with self._internal("pllm.gate"):
            return admit(*args)

    @contextmanager
    def _internal(self, name: str) -> Iterator[Span]:
        span = self.tracer.start_span(name, kind=SpanKind.INTERNAL)
        try:
            yield span
        except GatewayError as e:
            _failed(span, e.code or e.type, e.message)
            raise
        finally:
            span.end()

    # --- upstream attempts ------------------------------------------------------------------

    @contextmanager
    def attempt(
        self, call: Call, dep: Deployment, endpoint: Endpoint, payload: dict[str, Any]
    ) -> Iterator[Attempt]:
        """One upstream attempt's CLIENT span (a child of the request span)."""
        operation = genai.OPERATIONS.get(endpoint, endpoint.value)
        provider = genai.provider_name(dep.provider_name)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": provider,
            # The older name, which many backends still key on.
            "gen_ai.system": provider,
            "gen_ai.request.model": dep.upstream_model,
            "pllm.model_group": call.served_by or call.model or dep.model_name,
            "pllm.deployment": dep.id,
            "pllm.attempt": call.attempts,
            "pllm.stream": call.stream,
        }
        for key, attribute in _REQUEST_PARAMETERS:
            value = payload.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                attributes[attribute] = value
        if isinstance(dep.target, HttpTarget):
            attributes["http.request.method"] = "POST"
            attributes.update(self._server(dep, endpoint))
        if self.capture_content:
            prompt = genai.input_messages(payload)
            if prompt is not None:
                attributes["gen_ai.input.messages"] = prompt
        span = self.tracer.start_span(
            f"{operation} {dep.upstream_model}", kind=SpanKind.CLIENT, attributes=attributes
        )
        attempt = Attempt(self, span, dep)
        try:
            yield attempt
        except GatewayError as e:
            if call.upstream_head_at is not None and span.is_recording():
                span.set_attribute("http.response.status_code", e.status)
            _failed(span, e.code or e.type, e.message)
            raise
        except asyncio.CancelledError:
            _failed(span, "cancelled", "the request ended before the upstream answered")
            raise
        finally:
            span.end()

    def _server(self, dep: Deployment, endpoint: Endpoint) -> dict[str, str | int]:
        key = (dep.id, endpoint)
        server = self._servers.get(key)
        if server is None:
            assert isinstance(dep.target, HttpTarget)
            # Host and port only: the full URL may carry a key in its query (Gemini's).
            url = urlsplit(dep.target.urls.get(endpoint, ""))
            server = {"server.address": url.hostname or ""}
            port = url.port or (443 if url.scheme == "https" else 80)
            server["server.port"] = port
            self._servers[key] = server
        return server


# Request parameters recorded on attempt spans (numbers only: never text).
_REQUEST_PARAMETERS = (
    ("max_tokens", "gen_ai.request.max_tokens"),
    ("max_completion_tokens", "gen_ai.request.max_tokens"),
    ("temperature", "gen_ai.request.temperature"),
    ("top_p", "gen_ai.request.top_p"),
    ("seed", "gen_ai.request.seed"),
)


class RequestSpan:
    """A request's span, current until :meth:`finish`."""

    __slots__ = ("span", "token")

    def __init__(self, span: Span, token: Token[Context]) -> None:
        self.span = span
        self.token = token

    def finish(self, req: Request, call: Call) -> None:
        """Once the exchange is over: status, model, tokens, cost; the span ends."""
        try:
            if self.span.is_recording():
                _finish_attributes(self.span, req, call)
        finally:
            otel_context.detach(self.token)
            self.span.end()


class Attempt:
    """An attempt's span, and the headers that carry its context to the upstream."""

    __slots__ = ("_dep", "_tracing", "span")

    def __init__(self, tracing: Tracing, span: Span, dep: Deployment) -> None:
        self._tracing = tracing
        self._dep = dep
        self.span = span

    def headers(self) -> list[tuple[str, str]]:
        """``traceparent`` (and the client's ``tracestate``) naming this attempt's span."""
        ctx = self.span.get_span_context()
        headers = [
            ("traceparent", f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}")
        ]
        state = ctx.trace_state.to_header()
        if state:
            headers.append(("tracestate", state))
        return headers

    def replied(self, body: bytes, usage: Usage | None) -> None:
        """A whole reply (in the client's format): model, id, finish reasons, tokens, on this
        span and the request's."""
        if not self.span.is_recording():
            return
        head = genai.reply_head(body)
        attributes: dict[str, Any] = {}
        if head is not None:
            if head.model:
                attributes["gen_ai.response.model"] = head.model
            if head.id:
                attributes["gen_ai.response.id"] = head.id
            reasons = head.finish_reasons()
            if reasons:
                attributes["gen_ai.response.finish_reasons"] = reasons
        if usage is not None:
            attributes["gen_ai.usage.input_tokens"] = usage.prompt_tokens
            attributes["gen_ai.usage.output_tokens"] = usage.completion_tokens
        self._answered(200, attributes)
        if self._tracing.capture_content:
            completion = genai.output_messages(body)
            if completion is not None:
                self.span.set_attribute("gen_ai.output.messages", completion)

    def streaming(self, status: int) -> None:
        """A stream whose head arrived: the reply's model is the deployment's (its tokens are
        on the request span once the stream ended)."""
        if self.span.is_recording():
            self._answered(status, {"gen_ai.response.model": self._dep.upstream_model})

    def _answered(self, status: int, attributes: dict[str, Any]) -> None:
        if isinstance(self._dep.target, HttpTarget):
            self.span.set_attribute("http.response.status_code", status)
        self.span.set_attributes(attributes)
        # The request span (current: attempts are not made current) gets the served answer.
        provider = genai.provider_name(self._dep.provider_name)
        request = trace.get_current_span()
        if request.is_recording():
            request.set_attributes(
                {**attributes, "gen_ai.provider.name": provider, "gen_ai.system": provider}
            )


def _route(path: str) -> str:
    """``http.route`` of a traced path: the /v1 form of a bare one (the SDKs' base URLs may
    lack it), a model's name as a template (one route, not one per model)."""
    if path.startswith(("/v1/models/", "/models/")):
        return "/v1/models/{model}"
    if path.startswith(("/v1/", "/health/")):
        return path
    return f"/v1{path}"


def _failed(span: Span, error_type: str, message: str) -> None:
    if span.is_recording():
        span.set_attribute("error.type", error_type)
        span.set_status(Status(StatusCode.ERROR, message))


def _finish_attributes(span: Span, req: Request, call: Call) -> None:
    attributes: dict[str, Any] = {"http.response.status_code": req.status}
    if call.model is not None:
        attributes["gen_ai.request.model"] = call.model
        attributes["pllm.stream"] = call.stream
    if call.deployment is not None:
        attributes["pllm.deployment"] = call.deployment
        attributes["pllm.attempts"] = call.attempts
    if call.served_by is not None and call.served_by != call.model:
        attributes["pllm.served_by"] = call.served_by
    usage = call.usage
    if usage is not None:
        attributes["gen_ai.usage.input_tokens"] = usage.prompt_tokens
        attributes["gen_ai.usage.output_tokens"] = usage.completion_tokens
    if call.cost is not None:
        attributes["pllm.cost_usd"] = call.cost
    principal = call.principal
    if principal.key_id is not None:
        attributes["pllm.key_id"] = principal.key_id
    if principal.user_id is not None:
        attributes["pllm.user_id"] = principal.user_id
    if req.error is not None:
        attributes["error.type"] = req.error
    span.set_attributes(attributes)
    # A server span is an error for a 5xx (a 4xx is the client's), and for a stream that
    # started but failed; a client that left is not the server's failure.
    if req.status >= 500 or (
        req.error is not None and req.status < 400 and req.error != "client_disconnected"
    ):
        span.set_status(Status(StatusCode.ERROR, req.error or str(req.status)))
