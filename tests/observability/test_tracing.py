"""OpenTelemetry traces: span structure, parenting and attributes, with the SDK's in-memory
exporter, through the ASGI app in process (the fake OpenAI upstream behind the native client,
or the in-process mock)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from pllm.app import GatewayApp
from pllm.config import load_settings
from pllm.config.problems import Problems
from pllm.config.schema import OtelSettings
from pllm.observability.genai import provider_name, reply_head
from pllm.observability.tracing import Tracing, tracing_enabled
from pllm.providers.registry import build_deployments
from pllm.state import AppState
from tests.fakes.openai_upstream import FakeOpenAI

KEY = "sk-tracing-test"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"
SECRET_PROMPT = "the secret prompt"


def _config(tmp: Path, up: FakeOpenAI, **general: Any) -> Path:
    upstream = {"api_base": up.base_url, "api_key": "sk-up"}
    config = {
        "model_list": [
            {"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o-mini", **upstream}},
            {"model_name": "bad", "litellm_params": {"model": "openai/error-500", **upstream}},
            {"model_name": "local", "litellm_params": {"model": "mock/m"}},
        ],
        "router_settings": {"num_retries": 0, "fallbacks": [{"bad": ["gpt"]}]},
        "general_settings": {
            "master_key": KEY,
            "data_dir": str(tmp),
            "access_log": False,
            "otel": True,
            **general,
        },
    }
    path = tmp / "config.yaml"
    path.write_text(json.dumps(config))
    return path


class Gateway:
    """The app in process, its spans kept in memory."""

    def __init__(self, config: Path, capture_content: bool = False) -> None:
        settings = load_settings(str(config))
        self.state = AppState.build(settings, build_deployments(settings))
        self.exporter = InMemorySpanExporter()
        otel = OtelSettings(capture_content=capture_content)
        self.state.tracing = Tracing(otel, processor=SimpleSpanProcessor(self.exporter))
        self.app = GatewayApp(self.state)

    async def request(
        self, body: dict[str, Any], headers: dict[str, str] | None = None, key: str = KEY
    ) -> tuple[int, bytes]:
        raw = json.dumps(body).encode()
        head = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        head |= {"content-length": str(len(raw)), **(headers or {})}
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/v1/chat/completions",
            "scheme": "http",
            "client": ("127.0.0.1", 5555),
            "headers": [(k.encode(), v.encode()) for k, v in head.items()],
        }
        pending = [{"type": "http.request", "body": raw, "more_body": False}]
        never = asyncio.Event()
        status, out = 0, b""

        async def receive() -> dict[str, Any]:
            if not pending:
                await never.wait()
            return pending.pop()

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, out
            if message["type"] == "http.response.start":
                status = message["status"]
            else:
                out += message.get("body", b"")

        await self.app(scope, receive, send)
        return status, out

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())


def run(config: Path, body: dict[str, Any], **kw: Any) -> tuple[Gateway, int, bytes]:
    capture = kw.pop("capture_content", False)
    gw = Gateway(config, capture_content=capture)

    async def main() -> tuple[int, bytes]:
        await gw.state.start()
        # Keys are checked against the store, and the spend writer flushes into it at stop.
        while not gw.state.started():
            await asyncio.sleep(0.01)
        try:
            return await gw.request(body, **kw)
        finally:
            await gw.state.stop()

    status, out = asyncio.run(main())
    return gw, status, out


@pytest.fixture()
def config(tmp_path: Path, upstream: FakeOpenAI) -> Iterator[Path]:
    upstream.clear()
    yield _config(tmp_path, upstream)


def chat(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": SECRET_PROMPT}], **extra}


def by_name(spans: list[ReadableSpan]) -> dict[str, ReadableSpan]:
    return {s.name: s for s in spans}


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def test_reply_spans_continue_the_client_trace_and_reach_the_upstream(
    config: Path, upstream: FakeOpenAI
) -> None:
    gw, status, _ = run(config, chat("gpt", max_tokens=50), headers={"traceparent": TRACEPARENT})
    assert status == 200
    spans = by_name(gw.spans())
    assert set(spans) == {"POST /v1/chat/completions", "pllm.auth", "pllm.gate", "chat gpt-4o-mini"}
    server = spans["POST /v1/chat/completions"]
    assert server.kind is SpanKind.SERVER
    assert server.context is not None and server.parent is not None
    assert f"{server.context.trace_id:032x}" == TRACE_ID
    assert f"{server.parent.span_id:016x}" == CLIENT_SPAN and server.parent.is_remote
    for name in ("pllm.auth", "pllm.gate", "chat gpt-4o-mini"):
        span = spans[name]
        assert span.parent is not None and span.parent.span_id == server.context.span_id
    attempt = spans["chat gpt-4o-mini"]
    assert attempt.kind is SpanKind.CLIENT
    assert spans["pllm.auth"].kind is SpanKind.INTERNAL
    a = attrs(attempt)
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == a["gen_ai.system"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o-mini"
    assert a["gen_ai.request.max_tokens"] == 50
    assert a["gen_ai.response.model"] == "gpt-4o-mini"
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
    assert a["http.request.method"] == "POST" and a["http.response.status_code"] == 200
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == upstream.port
    assert a["pllm.deployment"] and a["pllm.attempt"] == 1
    s = attrs(server)
    assert s["http.request.method"] == "POST" and s["http.route"] == "/v1/chat/completions"
    assert s["http.response.status_code"] == 200
    assert s["gen_ai.operation.name"] == "chat" and s["gen_ai.request.model"] == "gpt"
    assert s["gen_ai.response.model"] == "gpt-4o-mini"
    assert s["gen_ai.usage.output_tokens"] == a["gen_ai.usage.output_tokens"]
    assert s["client.address"] == "127.0.0.1"
    assert server.status.status_code is StatusCode.UNSET
    # The upstream's traceparent names the attempt's span, in the client's trace.
    sent = upstream.requests[0].headers["traceparent"]
    assert attempt.context is not None
    assert sent == f"00-{TRACE_ID}-{attempt.context.span_id:016x}-01"


def test_without_a_traceparent_the_request_starts_a_trace(
    config: Path, upstream: FakeOpenAI
) -> None:
    gw, status, _ = run(config, chat("gpt"))
    assert status == 200
    server = by_name(gw.spans())["POST /v1/chat/completions"]
    assert server.parent is None and server.context is not None
    sent = upstream.requests[0].headers["traceparent"]
    assert sent.split("-")[1] == f"{server.context.trace_id:032x}"


def test_each_attempt_has_its_own_span_and_a_failed_one_is_an_error(
    config: Path, upstream: FakeOpenAI
) -> None:
    gw, status, _ = run(config, chat("bad"), headers={"traceparent": TRACEPARENT})
    assert status == 200
    attempts = [s for s in gw.spans() if s.kind is SpanKind.CLIENT]
    assert [s.name for s in attempts] == ["chat error-500", "chat gpt-4o-mini"]
    failed, served = attempts
    assert failed.status.status_code is StatusCode.ERROR
    assert attrs(failed)["error.type"] and attrs(failed)["http.response.status_code"] == 500
    assert served.status.status_code is StatusCode.UNSET
    assert attrs(served)["pllm.attempt"] == 2 and attrs(served)["pllm.model_group"] == "gpt"
    # Each attempt propagated its own span.
    sent = [r.headers["traceparent"] for r in upstream.requests]
    assert [s.split("-")[2] for s in sent] == [
        f"{s.context.span_id:016x}" for s in attempts if s.context is not None
    ]
    server = attrs(by_name(gw.spans())["POST /v1/chat/completions"])
    assert server["pllm.attempts"] == 2 and server["pllm.served_by"] == "gpt"


def test_a_stream_has_its_usage_on_the_request_span(config: Path) -> None:
    body = chat("gpt", stream=True, stream_options={"include_usage": True})
    gw, status, out = run(config, body)
    assert status == 200 and b"[DONE]" in out
    spans = by_name(gw.spans())
    attempt = attrs(spans["chat gpt-4o-mini"])
    assert attempt["pllm.stream"] is True and attempt["http.response.status_code"] == 200
    server = attrs(spans["POST /v1/chat/completions"])
    assert server["gen_ai.usage.output_tokens"] > 0
    assert server["pllm.stream"] is True


def test_the_in_process_mock_is_traced_without_http_attributes(config: Path) -> None:
    gw, status, _ = run(config, chat("local"))
    assert status == 200
    attempt = attrs(by_name(gw.spans())["chat m"])
    assert attempt["gen_ai.provider.name"] == "mock"
    assert "server.address" not in attempt and "http.response.status_code" not in attempt


def test_no_prompt_or_completion_text_unless_capture_content(config: Path) -> None:
    gw, _, out = run(config, chat("gpt"))
    reply = json.loads(out)["choices"][0]["message"]["content"]
    values = [str(v) for s in gw.spans() for v in attrs(s).values()]
    assert not any(SECRET_PROMPT in v or reply in v for v in values)

    gw, _, _ = run(config, chat("gpt"), capture_content=True)
    attempt = attrs(by_name(gw.spans())["chat gpt-4o-mini"])
    assert json.loads(attempt["gen_ai.input.messages"]) == chat("gpt")["messages"]
    assert reply in attempt["gen_ai.output.messages"]


def test_refusals_mark_auth_and_gate(config: Path) -> None:
    gw, status, _ = run(config, chat("gpt"), key="sk-wrong")
    assert status == 401
    spans = by_name(gw.spans())
    assert spans["pllm.auth"].status.status_code is StatusCode.ERROR
    server = spans["POST /v1/chat/completions"]
    # A 4xx is the client's: the server span records it without being an error.
    assert attrs(server)["http.response.status_code"] == 401
    assert attrs(server)["error.type"]
    assert server.status.status_code is StatusCode.UNSET

    gw, status, _ = run(config, chat("nope"))
    assert status == 404
    assert "pllm.gate" not in by_name(gw.spans())


def test_an_upstream_failure_is_an_error_on_the_request_span(
    tmp_path: Path, upstream: FakeOpenAI
) -> None:
    upstream.clear()
    config = _config(tmp_path, upstream)
    raw = json.loads(config.read_text())
    raw["router_settings"] = {"num_retries": 0}
    config.write_text(json.dumps(raw))
    gw, status, _ = run(config, chat("bad"))
    assert status == 500
    server = by_name(gw.spans())["POST /v1/chat/completions"]
    assert server.status.status_code is StatusCode.ERROR


def test_an_unsampled_trace_records_nothing_but_still_propagates(
    config: Path, upstream: FakeOpenAI
) -> None:
    gw, status, _ = run(
        config, chat("gpt"), headers={"traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-00"}
    )
    assert status == 200 and gw.spans() == []
    sent = upstream.requests[0].headers["traceparent"]
    assert sent.startswith(f"00-{TRACE_ID}-") and sent.endswith("-00")


def test_otel_settings_parse(tmp_path: Path, upstream: FakeOpenAI) -> None:
    settings = load_settings(str(_config(tmp_path, upstream)))
    assert settings.general.otel == OtelSettings()
    mapping = {
        "endpoint": "http://collector:4318",
        "service_name": "gw",
        "sample_ratio": 0.25,
        "capture_content": True,
    }
    settings = load_settings(str(_config(tmp_path, upstream, otel=mapping)))
    assert settings.general.otel == OtelSettings("http://collector:4318", "gw", 0.25, True)
    assert load_settings(str(_config(tmp_path, upstream, otel=False))).general.otel is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("yes", "general_settings.otel"),
        ({"sample_ratio": 2}, "general_settings.otel.sample_ratio"),
        ({"endpoint": "collector:4318"}, "general_settings.otel.endpoint"),
        ({"capture_contents": True}, "general_settings.otel.capture_contents"),
    ],
)
def test_bad_otel_settings_are_refused(value: Any, problem: str) -> None:
    from pllm.config.general import parse_general

    problems = Problems("config.yaml")
    parse_general({"otel": value}, problems, Path("."))
    assert problem in str(problems.items)


def test_otel_sdk_disabled_turns_it_off() -> None:
    assert tracing_enabled(OtelSettings(), {})
    assert not tracing_enabled(OtelSettings(), {"OTEL_SDK_DISABLED": "true"})
    assert not tracing_enabled(None, {})


def test_names() -> None:
    assert provider_name("bedrock") == "aws.bedrock"
    assert provider_name("my-provider") == "my-provider"
    head = reply_head(b'{"model":"claude","stop_reason":"end_turn","content":[]}')
    assert head is not None and head.finish_reasons() == ["end_turn"]
    assert reply_head(b"not json") is None


def test_off_the_sdk_is_never_imported(tmp_path: Path, upstream: FakeOpenAI) -> None:
    config = _config(tmp_path, upstream, otel=False)
    code = (
        "import asyncio, sys\n"
        "from pllm.app import build_app\n"
        "from pllm.config import load_settings\n"
        f"app = build_app(load_settings({str(config)!r}))\n"
        "assert app.tracing is None\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_without_the_sdk_tracing_on_says_what_to_install(
    tmp_path: Path, upstream: FakeOpenAI
) -> None:
    config = _config(tmp_path, upstream)
    code = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None  # as if the otel extra were not installed\n"
        "from pllm.app import build_app\n"
        "from pllm.config import load_settings\n"
        f"build_app(load_settings({str(config)!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "general_settings.otel needs OpenTelemetry" in out.stderr
    assert "pip install 'pllm[otel]'" in out.stderr


def test_a_resolved_target_gets_the_traceparent_too(tmp_path: Path) -> None:
    # Gemini builds its native target per request (the resolve hook): the traceparent rides
    # with the send itself, so it reaches such upstreams as well.
    from tests.fakes.gemini_upstream import FakeGemini

    with FakeGemini(api_key="gk") as up:
        config = tmp_path / "gemini.yaml"
        params = {"model": "gemini/gemini-2.5-flash", "api_base": up.base_url, "api_key": "gk"}
        general = {"master_key": KEY, "data_dir": str(tmp_path), "otel": True}
        config.write_text(
            json.dumps(
                {
                    "model_list": [{"model_name": "g", "litellm_params": params}],
                    "general_settings": general,
                }
            )
        )
        gw, status, _ = run(config, chat("g"), headers={"traceparent": TRACEPARENT})
        assert status == 200
        sent = up.requests[0].headers["traceparent"]
    attempt = by_name(gw.spans())["chat gemini-2.5-flash"]
    assert attempt.context is not None
    assert sent == f"00-{TRACE_ID}-{attempt.context.span_id:016x}-01"
