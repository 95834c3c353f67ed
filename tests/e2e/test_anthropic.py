"""Anthropic both ways through a real ``pllm serve``: the openai SDK against a Claude
deployment (a fake Anthropic upstream speaking the Messages wire format), and the anthropic
SDK against /v1/messages served by that deployment (passed through), by OpenAI-format
deployments (translated) and by the mock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.e2e.gateway import GatewayProcess, deployment
from tests.fakes.anthropic_upstream import REPLY, TOOL_INPUT, FakeAnthropic
from tests.fakes.openai_upstream import DEFAULT_REPLY, FakeOpenAI

MASTER = "sk-master-SECRET-anthropic"
CLAUDE_KEY = "sk-ant-SECRET-4411"
UPSTREAM_KEY = "sk-upstream-SECRET-91bc"
PROMPT = "PROMPT-TEXT-that-must-never-be-logged"

WEATHER = {
    "name": "get_weather",
    "description": "Get the weather",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["location"],
    },
}
OPENAI_WEATHER = {
    "type": "function",
    "function": {
        "name": WEATHER["name"],
        "description": WEATHER["description"],
        "parameters": WEATHER["input_schema"],
    },
}


def config(claude: FakeAnthropic, up: FakeOpenAI, port: int) -> str:
    def claude_entry(name: str, model: str) -> dict[str, Any]:
        return deployment(
            name,
            f"anthropic/{model}",
            api_base=claude.root_url,
            api_key=CLAUDE_KEY,
            extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"},
        )

    models = [
        claude_entry("claude", "claude-sonnet-4-5"),
        claude_entry("claude-cached", "cached"),
        claude_entry("claude-overloaded", "error-529"),
        claude_entry("claude-limited", "error-429"),
        claude_entry("claude-stream-error", "stream-error"),
        claude_entry("claude-cut", "stream-cut"),
        deployment("gpt", "openai/upstream-gpt", api_base=up.base_url, api_key=UPSTREAM_KEY),
        # An OpenAI-format deployment whose upstream is this gateway's own Claude deployment:
        # /v1/messages -> chat completions -> Messages API, tools and all.
        deployment(
            "gpt-loop", "openai/claude", api_base=f"http://127.0.0.1:{port}/v1", api_key=MASTER
        ),
        deployment("mock", "mock/m", mock_reply_tokens=5),
    ]
    cfg = {"model_list": models, "general_settings": {"master_key": MASTER}}
    return json.dumps(cfg)


@pytest.fixture(scope="module")
def claude_up() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as up:
        yield up


@pytest.fixture(scope="module")
def gateway(
    claude_up: FakeAnthropic, upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    gw = GatewayProcess("", tmp_path_factory.mktemp("gw"))
    gw.config.write_text(config(claude_up, upstream, gw.port))
    with gw:
        yield gw


@pytest.fixture()
def oai(gateway: GatewayProcess, claude_up: FakeAnthropic) -> Iterator[openai.OpenAI]:
    claude_up.clear()
    with openai.OpenAI(base_url=gateway.base_url, api_key=MASTER, max_retries=0, timeout=10) as sdk:
        yield sdk


@pytest.fixture()
def ant(
    gateway: GatewayProcess, claude_up: FakeAnthropic, upstream: FakeOpenAI
) -> Iterator[anthropic.Anthropic]:
    claude_up.clear()
    upstream.clear()
    with anthropic.Anthropic(
        base_url=gateway.url, api_key=MASTER, max_retries=0, timeout=10
    ) as sdk:
        yield sdk


def tokens(line: dict[str, Any]) -> tuple[Any, Any]:
    return line["prompt_tokens"], line["completion_tokens"]


def user(text: str = PROMPT) -> list[Any]:
    return [{"role": "user", "content": text}]


def brief(
    ant: anthropic.Anthropic, model: str, max_tokens: int, reply: str, **options: Any
) -> tuple[str, anthropic.types.Message]:
    """``user()`` to ``model`` on /v1/messages with the system prompt "Be brief."; checks that
    the answer's first block is the text ``reply``. Returns the request id and the message."""
    raw = ant.messages.with_raw_response.create(
        model=model, max_tokens=max_tokens, system="Be brief.", messages=user(), **options
    )
    msg = raw.parse()
    assert msg.content[0].type == "text" and msg.content[0].text == reply
    return raw.headers["x-request-id"], msg


# --- the openai SDK against a Claude deployment ------------------------------------------------


def test_openai_sdk_plain(
    oai: openai.OpenAI, claude_up: FakeAnthropic, gateway: GatewayProcess
) -> None:
    resp = oai.chat.completions.with_raw_response.create(
        model="claude", messages=[{"role": "system", "content": "Be brief."}, *user()]
    )
    c = resp.parse()
    assert c.choices[0].message.content == REPLY
    assert c.choices[0].finish_reason == "stop"
    assert c.usage is not None and c.usage.completion_tokens == len(REPLY.split())
    sent = claude_up.last_request
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == CLAUDE_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert "authorization" not in sent.headers
    assert sent.json == {
        "model": "claude-sonnet-4-5",
        "system": "Be brief.",
        "messages": user(),
        "max_tokens": 64000,
    }
    logs = gateway.logs()
    assert PROMPT not in logs and CLAUDE_KEY not in logs and MASTER not in logs


def test_openai_sdk_stream_with_usage_and_same_usage_as_plain(
    oai: openai.OpenAI, gateway: GatewayProcess
) -> None:
    plain = oai.chat.completions.with_raw_response.create(model="claude-cached", messages=user())
    stream = oai.chat.completions.with_raw_response.create(
        model="claude-cached", messages=user(), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == REPLY
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    u = plain.parse().usage
    assert u is not None and chunks[-1].usage == u
    assert u.prompt_tokens_details is not None and u.prompt_tokens_details.cached_tokens == 7
    a = gateway.access_line(plain.headers["x-request-id"])
    b = gateway.access_line(stream.headers["x-request-id"])
    assert tokens(a) == tokens(b) == (u.prompt_tokens, u.completion_tokens)
    assert b["stream"] is True


def test_openai_sdk_stream_without_usage_request_still_records_usage(
    oai: openai.OpenAI, gateway: GatewayProcess
) -> None:
    resp = oai.chat.completions.with_raw_response.create(
        model="claude", messages=user(), stream=True
    )
    chunks = list(resp.parse())
    assert all(c.usage is None for c in chunks)
    line = gateway.access_line(resp.headers["x-request-id"])
    assert line["completion_tokens"] == len(REPLY.split())


@pytest.mark.parametrize("stream", [False, True])
def test_openai_sdk_tool_calls_round_trip(
    oai: openai.OpenAI, claude_up: FakeAnthropic, stream: bool
) -> None:
    msgs: list[Any] = user("Weather in Paris?")
    if stream:
        chunks = list(
            oai.chat.completions.create(
                model="claude", messages=msgs, tools=[OPENAI_WEATHER], stream=True
            )
        )
        calls: dict[int, dict[str, str]] = {}
        for ch in chunks:
            for tc in (ch.choices[0].delta.tool_calls or []) if ch.choices else []:
                entry = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] += tc.id or ""
                entry["name"] += (tc.function.name or "") if tc.function else ""
                entry["arguments"] += (tc.function.arguments or "") if tc.function else ""
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
        [call] = calls.values()
        call_id, name, args = call["id"], call["name"], call["arguments"]
    else:
        c = oai.chat.completions.create(
            model="claude", messages=msgs, tools=[OPENAI_WEATHER], tool_choice="auto"
        )
        finish = c.choices[0].finish_reason
        [tc] = c.choices[0].message.tool_calls or []
        assert tc.type == "function"
        call_id, name, args = tc.id, tc.function.name, tc.function.arguments
    assert finish == "tool_calls"
    assert name == "get_weather" and json.loads(args) == TOOL_INPUT
    assert claude_up.last_request.json["tools"] == [WEATHER]
    msgs.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
            ],
        }
    )
    msgs.append({"role": "tool", "tool_call_id": call_id, "content": "18C and sunny"})
    final = oai.chat.completions.create(model="claude", messages=msgs, tools=[OPENAI_WEATHER])
    assert final.choices[0].message.content == "The tool said: 18C and sunny"
    sent = claude_up.last_request.json["messages"]
    assert sent[-1] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "18C and sunny"}],
    }


def test_openai_sdk_max_tokens_is_length(oai: openai.OpenAI) -> None:
    c = oai.chat.completions.create(model="claude", messages=user(), max_tokens=2)
    assert c.choices[0].finish_reason == "length"
    assert c.choices[0].message.content == " ".join(REPLY.split()[:2])


def test_openai_sdk_errors(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as over:
        oai.chat.completions.create(model="claude-overloaded", messages=user())
    assert over.value.status_code == 503
    assert isinstance(over.value.body, dict) and over.value.body["code"] == "overloaded_error"
    with pytest.raises(openai.RateLimitError) as limited:
        oai.chat.completions.create(model="claude-limited", messages=user())
    # The upstream's 429 (retry-after: 3), or within those 3 s the router's own answer while
    # the deployment cools down: either way the client is told when to come back.
    assert 1 <= int(limited.value.response.headers["retry-after"]) <= 3
    with pytest.raises(openai.BadRequestError):
        oai.embeddings.create(model="claude", input="x")


def test_openai_sdk_stream_error_event_and_cut_stream(
    oai: openai.OpenAI, gateway: GatewayProcess
) -> None:
    with pytest.raises(openai.APIError) as e:
        list(oai.chat.completions.create(model="claude-stream-error", messages=user(), stream=True))
    assert "Overloaded" in str(e.value)
    with pytest.raises(openai.APIError) as cut:
        list(oai.chat.completions.create(model="claude-cut", messages=user(), stream=True))
    assert "claude-cut" in str(cut.value)


# --- the anthropic SDK against /v1/messages ------------------------------------------------------


def test_messages_passthrough_plain(
    ant: anthropic.Anthropic, claude_up: FakeAnthropic, gateway: GatewayProcess
) -> None:
    request_id, msg = brief(
        ant, "claude", 100, REPLY, metadata={"user_id": "u1"}, extra_body={"top_k": 5}
    )
    assert msg.stop_reason == "end_turn"
    sent = claude_up.last_request
    assert sent.json == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "system": "Be brief.",
        "messages": user(),
        "metadata": {"user_id": "u1"},
        "top_k": 5,
    }
    assert sent.headers["x-api-key"] == CLAUDE_KEY
    line = gateway.access_line(request_id)
    assert tokens(line) == (msg.usage.input_tokens, msg.usage.output_tokens)


def test_messages_passthrough_stream_same_usage(
    ant: anthropic.Anthropic, gateway: GatewayProcess
) -> None:
    plain = ant.messages.with_raw_response.create(
        model="claude-cached", max_tokens=100, messages=user()
    )
    with ant.messages.with_streaming_response.create(
        model="claude-cached", max_tokens=100, messages=user(), stream=True
    ) as resp:
        rid = resp.headers["x-request-id"]
        body = resp.read()
    assert b"event: message_start" in body and b"event: ping" in body
    with ant.messages.stream(model="claude-cached", max_tokens=100, messages=user()) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == REPLY
    assert final.usage.cache_read_input_tokens == 7
    assert tokens(gateway.access_line(plain.headers["x-request-id"])) == tokens(
        gateway.access_line(rid)
    )
    assert gateway.access_line(rid)["prompt_tokens"] == final.usage.input_tokens + 7 + 3


@pytest.mark.parametrize("model", ["claude", "gpt-loop"])
@pytest.mark.parametrize("stream", [False, True])
def test_messages_tool_use_round_trip(
    ant: anthropic.Anthropic, claude_up: FakeAnthropic, model: str, stream: bool
) -> None:
    msgs: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    if stream:
        with ant.messages.stream(model=model, max_tokens=200, messages=msgs, tools=[WEATHER]) as s:
            first = s.get_final_message()
    else:
        first = ant.messages.create(model=model, max_tokens=200, messages=msgs, tools=[WEATHER])
    assert first.stop_reason == "tool_use"
    [use] = [b for b in first.content if b.type == "tool_use"]
    assert use.name == "get_weather" and use.input == TOOL_INPUT
    msgs.append(
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]}
    )
    msgs.append(
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18C"}],
        }
    )
    final = ant.messages.create(model=model, max_tokens=200, messages=msgs, tools=[WEATHER])
    assert final.content[0].type == "text" and final.content[0].text == "The tool said: 18C"
    assert final.stop_reason == "end_turn"
    # The tool result reached the Anthropic upstream tied to its call (checked there too).
    assert claude_up.last_request.json["messages"][-1]["content"][0]["tool_use_id"] == use.id


def test_messages_translated_to_openai_deployment(
    ant: anthropic.Anthropic, upstream: FakeOpenAI, gateway: GatewayProcess
) -> None:
    request_id, msg = brief(
        ant, "gpt", 50, DEFAULT_REPLY, stop_sequences=["END"], extra_body={"temperature": 0.5}
    )
    assert msg.model == "gpt" and msg.stop_reason == "end_turn"
    assert upstream.last_request.path == "/v1/chat/completions"
    assert upstream.last_request.json == {
        "model": "upstream-gpt",
        "messages": [{"role": "system", "content": "Be brief."}, *user()],
        "max_tokens": 50,
        "temperature": 0.5,
        "stop": ["END"],
    }
    with ant.messages.stream(model="gpt", max_tokens=50, system="Be brief.", messages=user()) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == DEFAULT_REPLY
    assert upstream.last_request.json["stream_options"] == {"include_usage": True}
    assert (final.usage.input_tokens, final.usage.output_tokens) == (
        msg.usage.input_tokens,
        msg.usage.output_tokens,
    )
    line = gateway.access_line(request_id)
    assert tokens(line) == (msg.usage.input_tokens, msg.usage.output_tokens)


def test_messages_on_the_mock(ant: anthropic.Anthropic) -> None:
    msg = ant.messages.create(model="mock", max_tokens=50, messages=user())
    assert msg.content[0].type == "text" and len(msg.content[0].text.split()) == 5
    with ant.messages.stream(model="mock", max_tokens=50, messages=user()) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == msg.content[0].text
    assert final.usage.output_tokens == msg.usage.output_tokens == 5


def test_count_tokens(ant: anthropic.Anthropic, claude_up: FakeAnthropic) -> None:
    count = ant.messages.count_tokens(model="claude", messages=user("one two three"))
    assert count.input_tokens == 3
    assert claude_up.last_request.path == "/v1/messages/count_tokens"
    assert claude_up.last_request.json["model"] == "claude-sonnet-4-5"
    with pytest.raises(anthropic.BadRequestError) as e:
        ant.messages.count_tokens(model="gpt", messages=user())
    assert isinstance(e.value.body, dict) and e.value.body["type"] == "error"


def test_messages_errors_are_anthropic_shaped(
    ant: anthropic.Anthropic, gateway: GatewayProcess
) -> None:
    with (
        anthropic.Anthropic(base_url=gateway.url, api_key="wrong", max_retries=0) as bad_key,
        pytest.raises(anthropic.AuthenticationError) as auth,
    ):
        bad_key.messages.create(model="claude", max_tokens=5, messages=user())
    assert auth.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "Incorrect API key provided."},
    }
    with pytest.raises(anthropic.NotFoundError) as missing:
        ant.messages.create(model="nope", max_tokens=5, messages=user())
    assert (
        isinstance(missing.value.body, dict)
        and missing.value.body["error"]["type"] == "not_found_error"
    )
    with pytest.raises(anthropic.APIStatusError) as over:
        ant.messages.create(model="claude-overloaded", max_tokens=5, messages=user())
    assert over.value.status_code == 529
    assert (
        isinstance(over.value.body, dict) and over.value.body["error"]["type"] == "overloaded_error"
    )
    with pytest.raises(anthropic.RateLimitError) as limited:
        ant.messages.create(model="claude-limited", max_tokens=5, messages=user())
    # The upstream's 429 (retry-after: 3), or within those 3 s the router's own answer while
    # the deployment cools down: either way the client is told when to come back.
    assert 1 <= int(limited.value.response.headers["retry-after"]) <= 3
    with pytest.raises(anthropic.BadRequestError) as invalid:
        ant.messages.create(model="claude", max_tokens=0, messages=user())
    assert (
        isinstance(invalid.value.body, dict)
        and invalid.value.body["error"]["type"] == "invalid_request_error"
    )


def test_messages_stream_error_event_passes_through(ant: anthropic.Anthropic) -> None:
    stream = ant.messages.stream(model="claude-stream-error", max_tokens=50, messages=user())
    with pytest.raises(anthropic.APIStatusError) as e, stream as s:
        "".join(s.text_stream)
    assert "Overloaded" in str(e.value)
