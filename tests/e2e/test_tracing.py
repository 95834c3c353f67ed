"""OpenTelemetry through a real ``pllm serve``: a fake OTLP/HTTP collector receives the spans
of requests made with the openai SDK, in the client's trace (its ``traceparent``), and the
fake upstream receives a ``traceparent`` naming the attempt's span in the same trace."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from tests.e2e.gateway import GatewayProcess, deployment
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.otlp_collector import FakeCollector

KEY = "sk-master-tracing-e2e"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
PROMPT = "tell nobody: tracing-e2e-prompt"


@pytest.fixture(scope="module")
def collector() -> Iterator[FakeCollector]:
    with FakeCollector() as c:
        yield c


@pytest.fixture(scope="module")
def gateway(
    upstream: FakeOpenAI, collector: FakeCollector, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    config = {
        "model_list": [
            deployment("gpt", "openai/gpt-4o-mini", api_base=upstream.base_url, api_key="sk-up")
        ],
        # The service name from the config; the endpoint from the standard variable.
        "general_settings": {"master_key": KEY, "otel": {"service_name": "pllm-e2e"}},
    }
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "50"}
    workdir = tmp_path_factory.mktemp("tracing")
    with GatewayProcess(json.dumps(config), workdir, env=env) as gw:
        yield gw


@pytest.fixture()
def client(gateway: GatewayProcess, upstream: FakeOpenAI) -> Iterator[openai.OpenAI]:
    upstream.clear()
    with openai.OpenAI(base_url=gateway.base_url, api_key=KEY, max_retries=0, timeout=10) as sdk:
        yield sdk


def test_spans_reach_the_collector_in_the_clients_trace(
    client: openai.OpenAI, upstream: FakeOpenAI, collector: FakeCollector
) -> None:
    reply = client.chat.completions.create(
        model="gpt",
        messages=[{"role": "user", "content": PROMPT}],
        extra_headers={"traceparent": f"00-{TRACE_ID}-{PARENT}-01"},
    )
    server = collector.wait_for(lambda s: s.trace_id == TRACE_ID and s.kind == "SERVER")
    attempt = collector.wait_for(lambda s: s.trace_id == TRACE_ID and s.kind == "CLIENT")
    assert server.name == "POST /v1/chat/completions"
    assert server.parent_span_id == PARENT
    assert server.resource["service.name"] == "pllm-e2e"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["gen_ai.request.model"] == "gpt"
    assert server.attributes["gen_ai.response.model"] == "gpt-4o-mini"
    assert attempt.name == "chat gpt-4o-mini"
    assert attempt.parent_span_id == server.span_id
    assert attempt.attributes["gen_ai.provider.name"] == "openai"
    assert attempt.attributes["gen_ai.operation.name"] == "chat"
    assert attempt.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert reply.usage is not None
    assert attempt.attributes["gen_ai.usage.input_tokens"] == reply.usage.prompt_tokens
    assert attempt.attributes["gen_ai.usage.output_tokens"] == reply.usage.completion_tokens
    for name in ("pllm.auth", "pllm.gate"):
        span = collector.wait_for(lambda s, n=name: s.trace_id == TRACE_ID and s.name == n)
        assert span.parent_span_id == server.span_id
    # The upstream was called in the same trace, as a child of the attempt's span.
    assert upstream.requests[0].headers["traceparent"] == f"00-{TRACE_ID}-{attempt.span_id}-01"
    # Neither the prompt nor the completion is on any span (capture_content is off).
    content = reply.choices[0].message.content
    assert content
    for span in collector.collected():
        text = json.dumps(span.attributes, default=str)
        assert PROMPT not in text and content not in text


def test_a_stream_is_traced_and_a_new_trace_starts_without_a_traceparent(
    client: openai.OpenAI, upstream: FakeOpenAI, collector: FakeCollector
) -> None:
    with client.chat.completions.create(
        model="gpt", messages=[{"role": "user", "content": "x"}], stream=True
    ) as stream:
        chunks = list(stream)
    assert chunks
    sent = upstream.requests[0].headers["traceparent"]
    _, trace_id, span_id, flags = sent.split("-")
    assert trace_id != TRACE_ID and int(flags, 16) & 1  # sampled
    attempt = collector.wait_for(lambda s: s.span_id == span_id)
    assert attempt.kind == "CLIENT" and attempt.attributes["pllm.stream"] is True
    server = collector.wait_for(lambda s: s.span_id == attempt.parent_span_id)
    assert server.kind == "SERVER" and server.parent_span_id == ""
    assert server.attributes["http.response.status_code"] == 200
