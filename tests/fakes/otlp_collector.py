"""A fake OpenTelemetry collector: OTLP/HTTP traces, decoded and kept for tests to read.

``FakeCollector`` answers ``POST /v1/traces`` (protobuf ``ExportTraceServiceRequest``, gzip
or not, as the SDK's OTLP/HTTP exporter sends it) on ``127.0.0.1`` (random port) from a
thread, and keeps every span flattened into a :class:`CollectedSpan`::

    with FakeCollector() as collector:
        ... OTEL_EXPORTER_OTLP_ENDPOINT=collector.url ...
        span = collector.wait_for(lambda s: s.kind == "SERVER")
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from tests.service import Service

_KINDS = {
    Span.SPAN_KIND_INTERNAL: "INTERNAL",
    Span.SPAN_KIND_SERVER: "SERVER",
    Span.SPAN_KIND_CLIENT: "CLIENT",
    Span.SPAN_KIND_PRODUCER: "PRODUCER",
    Span.SPAN_KIND_CONSUMER: "CONSUMER",
}
_STATUS = {
    Status.STATUS_CODE_UNSET: "UNSET",
    Status.STATUS_CODE_OK: "OK",
    Status.STATUS_CODE_ERROR: "ERROR",
}


@dataclass(frozen=True)
class CollectedSpan:
    """One exported span; ids in hex as in a ``traceparent``, attribute values as Python."""

    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str
    status: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str


def _value(v: AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which == "array_value":
        return tuple(_value(x) for x in v.array_value.values)
    if which == "kvlist_value":
        return _attributes(v.kvlist_value.values)
    return None if which is None else getattr(v, which)


def _attributes(items: Any) -> dict[str, Any]:
    kvs: list[KeyValue] = list(items)
    return {kv.key: _value(kv.value) for kv in kvs}


def decode(body: bytes) -> list[CollectedSpan]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans: list[CollectedSpan] = []
    for rs in request.resource_spans:
        resource = _attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                spans.append(
                    CollectedSpan(
                        name=s.name,
                        kind=_KINDS.get(s.kind, "UNSPECIFIED"),
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_span_id=s.parent_span_id.hex(),
                        status=_STATUS.get(s.status.code, "UNSET"),
                        attributes=_attributes(s.attributes),
                        resource=resource,
                        scope=ss.scope.name,
                    )
                )
    return spans


class FakeCollector(Service):
    def __init__(self) -> None:
        self.spans: list[CollectedSpan] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                with collector._lock:
                    collector.paths.append(self.path)
                    if self.path == "/v1/traces":
                        collector.spans.extend(decode(body))
                status = 200 if self.path == "/v1/traces" else 404
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(status)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the tests read the spans

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The collector's base URL, as ``OTEL_EXPORTER_OTLP_ENDPOINT`` takes it."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def clear(self) -> None:
        with self._lock:
            self.spans.clear()

    def collected(self) -> list[CollectedSpan]:
        with self._lock:
            return list(self.spans)

    def wait_for(
        self, match: Callable[[CollectedSpan], bool], timeout: float = 10.0
    ) -> CollectedSpan:
        """The first span ``match`` accepts, once exported."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for span in self.collected():
                if match(span):
                    return span
            time.sleep(0.02)
        raise AssertionError(f"no such span; collected: {[s.name for s in self.collected()]}")
