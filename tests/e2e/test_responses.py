"""OpenAI's Responses API (/v1/responses) through a real ``pllm serve`` with the openai SDK:
passed through to OpenAI and Azure deployments (the fake OpenAI upstream answering in
OpenAI's format), translated through chat completions for Claude (the fake Anthropic
upstream) and the mock; plain, streamed and with tools."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.e2e.gateway import GatewayProcess, deployment
from tests.fakes.anthropic_upstream import REPLY, TOOL_INPUT, FakeAnthropic
from tests.fakes.openai_upstream import DEFAULT_REPLY, FakeOpenAI

MASTER = "sk-master-SECRET-responses"
UPSTREAM_KEY = "sk-upstream-SECRET-77aa"
WEATHER: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the weather",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["location"],
    },
}


def config(claude: FakeAnthropic, up: FakeOpenAI) -> str:
    models = [
        deployment("gpt", "openai/upstream-gpt", api_base=up.base_url, api_key=UPSTREAM_KEY),
        deployment("azure-gpt", "azure/my-dep", api_base=up.root_url, api_key=UPSTREAM_KEY),
        deployment(
            "claude", "anthropic/claude-sonnet-4-5", api_base=claude.root_url, api_key="sk-ant-x"
        ),
        deployment("mock", "mock/m", mock_reply_tokens=5),
        deployment(
            "claude-stream-error",
            "anthropic/stream-error",
            api_base=claude.root_url,
            api_key="sk-ant-x",
        ),
        deployment(
            "claude-cut", "anthropic/stream-cut", api_base=claude.root_url, api_key="sk-ant-x"
        ),
        deployment("gpt-cut", "openai/stream-cut", api_base=up.base_url, api_key=UPSTREAM_KEY),
    ]
    return json.dumps({"model_list": models, "general_settings": {"master_key": MASTER}})


@pytest.fixture(scope="module")
def claude_up() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as up:
        yield up


@pytest.fixture(scope="module")
def gateway(
    claude_up: FakeAnthropic, upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    with GatewayProcess(config(claude_up, upstream), tmp_path_factory.mktemp("gw")) as gw:
        yield gw


@pytest.fixture()
def client(
    gateway: GatewayProcess, claude_up: FakeAnthropic, upstream: FakeOpenAI
) -> Iterator[openai.OpenAI]:
    claude_up.clear()
    upstream.clear()
    with openai.OpenAI(base_url=gateway.base_url, api_key=MASTER, max_retries=0, timeout=10) as sdk:
        yield sdk


def tokens(gateway: GatewayProcess, request_id: str) -> tuple[Any, Any]:
    line = gateway.access_line(request_id)
    return line["prompt_tokens"], line["completion_tokens"]


# --- passed through to OpenAI and Azure ------------------------------------------------------


@pytest.mark.parametrize("model", ["gpt", "azure-gpt"])
def test_passthrough_keeps_the_request_and_the_bytes(
    client: openai.OpenAI, gateway: GatewayProcess, upstream: FakeOpenAI, model: str
) -> None:
    raw = client.responses.with_raw_response.create(
        model=model, input="Say hi", instructions="Be brief.", store=False
    )
    resp = raw.parse()
    assert resp.output_text == DEFAULT_REPLY
    # OpenAI pretty-prints; a gateway that re-encoded the reply would not.
    assert raw.http_response.content.startswith(b'{\n  "id": "resp-fake-')
    sent = upstream.last_request
    expected_path = "/v1/responses" if model == "gpt" else "/openai/responses"
    assert sent.path == expected_path
    if model == "azure-gpt":  # the default api-version for chat predates Responses
        assert sent.query == {"api-version": "2025-04-01-preview"}
        assert sent.headers["api-key"] == UPSTREAM_KEY
    else:
        assert sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    upstream_model = "upstream-gpt" if model == "gpt" else "my-dep"
    assert sent.json == {
        "model": upstream_model,
        "input": "Say hi",
        "instructions": "Be brief.",
        "store": False,
    }
    assert resp.usage is not None
    usage = (resp.usage.input_tokens, resp.usage.output_tokens)
    assert tokens(gateway, raw.headers["x-request-id"]) == usage


def test_passthrough_stream(
    client: openai.OpenAI, gateway: GatewayProcess, upstream: FakeOpenAI
) -> None:
    with client.responses.with_streaming_response.create(
        model="gpt", input="Say hi", stream=True
    ) as raw:
        request_id = raw.headers["x-request-id"]
        events = list(raw.parse())
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == DEFAULT_REPLY
    final = events[-1].response  # type: ignore[union-attr]
    assert final.usage is not None
    assert tokens(gateway, request_id) == (final.usage.input_tokens, final.usage.output_tokens)
    assert upstream.last_request.json["stream"] is True


def test_passthrough_tools_and_openai_only_parameters(
    client: openai.OpenAI, upstream: FakeOpenAI
) -> None:
    resp = client.responses.create(
        model="gpt", input="Weather?", tools=[WEATHER], previous_response_id="resp_earlier"
    )
    call = resp.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    assert upstream.last_request.json["previous_response_id"] == "resp_earlier"


# --- translated through chat completions -----------------------------------------------------


@pytest.mark.parametrize(("model", "reply"), [("claude", REPLY), ("mock", None)])
def test_translated_plain_and_stream_agree(
    client: openai.OpenAI, gateway: GatewayProcess, model: str, reply: str | None
) -> None:
    raw = client.responses.with_raw_response.create(
        model=model, input="Say hi", instructions="Be brief.", max_output_tokens=100
    )
    resp = raw.parse()
    assert resp.object == "response" and resp.status == "completed"
    assert resp.model == model
    if reply is not None:
        assert resp.output_text == reply
    assert resp.output_text
    assert resp.usage is not None and resp.usage.total_tokens > 0
    usage = (resp.usage.input_tokens, resp.usage.output_tokens)
    assert tokens(gateway, raw.headers["x-request-id"]) == usage

    with client.responses.with_streaming_response.create(
        model=model, input="Say hi", instructions="Be brief.", max_output_tokens=100, stream=True
    ) as sraw:
        request_id = sraw.headers["x-request-id"]
        events = list(sraw.parse())
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == resp.output_text
    final = events[-1].response  # type: ignore[union-attr]
    assert final.output_text == resp.output_text
    assert final.usage is not None
    assert tokens(gateway, request_id) == (final.usage.input_tokens, final.usage.output_tokens)


def test_translated_tools_round_trip(client: openai.OpenAI, claude_up: FakeAnthropic) -> None:
    first = client.responses.create(model="claude", input="Weather in Paris?", tools=[WEATHER])
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments) == TOOL_INPUT
    sent = claude_up.last_request.json
    assert sent["tools"][0]["name"] == "get_weather"
    second = client.responses.create(
        model="claude",
        tools=[WEATHER],
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "type": "function_call",
                "call_id": calls[0].call_id,
                "name": "get_weather",
                "arguments": calls[0].arguments,
            },
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"},
        ],
    )
    assert second.output_text == "The tool said: sunny"
    # OpenAI's documented way: the previous reply's output items appended as they are.
    third = client.responses.create(
        model="claude",
        tools=[WEATHER],
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            *first.output,  # type: ignore[list-item]
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": "rain"},
        ],
    )
    assert third.output_text == "The tool said: rain"
    assistant = claude_up.last_request.json["messages"][1]
    assert assistant["role"] == "assistant"
    assert [b["type"] for b in assistant["content"]] == ["text", "tool_use"]


def test_translated_tool_stream(client: openai.OpenAI) -> None:
    events = list(
        client.responses.create(model="claude", input="Weather?", tools=[WEATHER], stream=True)
    )
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert len(done) == 1 and json.loads(done[0].arguments) == TOOL_INPUT
    final = events[-1]
    assert final.type == "response.completed"
    assert [item.type for item in final.response.output] == ["message", "function_call"]


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"previous_response_id": "resp_1"}, "previous_response_id"),
        ({"store": True}, "store"),
        ({"background": True}, "background"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
    ],
)
def test_translated_unsupported_is_a_400(
    client: openai.OpenAI, options: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="claude", input="x", **options)
    assert e.value.code == "unsupported_parameter"
    assert e.value.param == param


def test_bad_requests_and_unknown_models(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="claude", input=3)  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="no-such-model", input="x")


@pytest.mark.parametrize("model", ["claude-stream-error", "claude-cut"])
def test_translated_stream_failure_ends_with_an_error_event(
    client: openai.OpenAI, model: str
) -> None:
    events = list(client.responses.create(model=model, input="x", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert "response.output_text.delta" in kinds
    assert kinds[-1] == "error" and "response.completed" not in kinds


def test_passthrough_stream_cut_ends_with_an_error_event(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="gpt-cut", input="x", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "error" and "response.completed" not in kinds
    assert events[-1].code == "upstream_connection_error"  # type: ignore[union-attr]
