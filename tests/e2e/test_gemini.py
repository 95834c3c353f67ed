"""Gemini (Google AI Studio) through a real ``pllm serve``: the openai SDK against ``gemini/``
deployments whose upstream is a fake speaking Gemini's wire format (and checking what it gets),
and the anthropic SDK against /v1/messages served by them through the Messages surface."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.e2e.gateway import GatewayProcess, deployment
from tests.fakes.gemini_upstream import REPLY, TOOL_ARGS, FakeGemini
from tests.fakes.openai_wire import fake_embedding

MASTER = "sk-master-SECRET-gemini"
GEMINI_KEY = "AIza-SECRET-gemini-key"
PROMPT = "PROMPT-TEXT-that-must-never-be-logged"
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg=="

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["location"],
            "additionalProperties": False,
        },
    },
}


def config(up: FakeGemini) -> str:
    def entry(name: str, model: str, key: str = GEMINI_KEY) -> dict[str, Any]:
        return deployment(name, f"gemini/{model}", api_base=up.base_url, api_key=key)

    models = [
        entry("gemini", "gemini-2.5-flash"),
        entry("gemini-3", "gemini-3-pro-preview"),
        entry("gemini-cached", "cached"),
        entry("gemini-blocked", "blocked"),
        entry("gemini-safety", "safety"),
        entry("gemini-limited", "error-429"),
        entry("gemini-invalid", "error-400"),
        entry("gemini-bad-key", "gemini-2.5-flash", key="AIza-wrong"),
        entry("gemini-stream-error", "stream-error"),
        entry("gemini-cut", "stream-cut"),
        entry("gemini-embed", "gemini-embedding-001"),
    ]
    return json.dumps({"model_list": models, "general_settings": {"master_key": MASTER}})


@pytest.fixture(scope="module")
def google() -> Iterator[FakeGemini]:
    with FakeGemini(api_key=GEMINI_KEY) as up:
        yield up


@pytest.fixture(scope="module")
def gateway(
    google: FakeGemini, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    with GatewayProcess(config(google), tmp_path_factory.mktemp("gw")) as gw:
        yield gw


@pytest.fixture()
def oai(gateway: GatewayProcess, google: FakeGemini) -> Iterator[openai.OpenAI]:
    google.clear()
    with openai.OpenAI(base_url=gateway.base_url, api_key=MASTER, max_retries=0, timeout=10) as sdk:
        yield sdk


@pytest.fixture()
def ant(gateway: GatewayProcess, google: FakeGemini) -> Iterator[anthropic.Anthropic]:
    google.clear()
    with anthropic.Anthropic(
        base_url=gateway.url, api_key=MASTER, max_retries=0, timeout=10
    ) as sdk:
        yield sdk


def user(text: str = PROMPT) -> list[Any]:
    return [{"role": "user", "content": text}]


def test_plain(oai: openai.OpenAI, google: FakeGemini, gateway: GatewayProcess) -> None:
    resp = oai.chat.completions.with_raw_response.create(
        model="gemini",
        messages=[{"role": "system", "content": "Be brief."}, *user()],
        temperature=0.5,
        max_tokens=100,
        user="someone",
    )
    c = resp.parse()
    assert c.choices[0].message.content == REPLY and c.choices[0].finish_reason == "stop"
    assert c.model == "gemini-fake-001" and c.id.startswith("chatcmpl-")
    assert c.usage is not None and c.usage.completion_tokens == len(REPLY.split())
    assert c.usage.prompt_tokens == 1 + 2  # the prompt's words and the system's
    sent = google.last_request
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent" and sent.query == {}
    assert sent.headers["x-goog-api-key"] == GEMINI_KEY
    assert "authorization" not in sent.headers
    assert sent.json == {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
        "generationConfig": {"temperature": 0.5, "maxOutputTokens": 100},
    }
    line = gateway.access_line(resp.headers["x-request-id"])
    assert (line["prompt_tokens"], line["completion_tokens"]) == (3, len(REPLY.split()))
    logs = gateway.logs()
    assert PROMPT not in logs and GEMINI_KEY not in logs and MASTER not in logs


def test_stream_with_usage_same_as_plain(
    oai: openai.OpenAI, google: FakeGemini, gateway: GatewayProcess
) -> None:
    plain = oai.chat.completions.create(model="gemini-cached", messages=user())
    resp = oai.chat.completions.with_raw_response.create(
        model="gemini-cached", messages=user(), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(resp.parse())
    sent = google.last_request
    assert sent.path == "/v1beta/models/cached:streamGenerateContent"
    assert sent.query == {"alt": "sse"}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage == plain.usage
    assert plain.usage is not None and plain.usage.prompt_tokens_details is not None
    assert plain.usage.prompt_tokens_details.cached_tokens == 5
    line = gateway.access_line(resp.headers["x-request-id"])
    assert line["stream"] is True and line["completion_tokens"] == plain.usage.completion_tokens


def test_stream_without_usage_request_still_records_usage(
    oai: openai.OpenAI, gateway: GatewayProcess
) -> None:
    resp = oai.chat.completions.with_raw_response.create(
        model="gemini", messages=user(), stream=True
    )
    chunks = list(resp.parse())
    assert all(c.usage is None for c in chunks)
    assert gateway.access_line(resp.headers["x-request-id"])["completion_tokens"] == len(
        REPLY.split()
    )


@pytest.mark.parametrize("model", ["gemini", "gemini-3"])
@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls_round_trip(
    oai: openai.OpenAI, google: FakeGemini, model: str, stream: bool
) -> None:
    msgs: list[Any] = user("Weather in Paris?")
    if stream:
        chunks = list(
            oai.chat.completions.create(model=model, messages=msgs, tools=[WEATHER], stream=True)
        )
        calls = [tc for ch in chunks if ch.choices for tc in ch.choices[0].delta.tool_calls or []]
        [tc] = calls
        assert tc.function is not None
        call_id, name, args = tc.id or "", tc.function.name or "", tc.function.arguments or ""
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
    else:
        c = oai.chat.completions.create(
            model=model, messages=msgs, tools=[WEATHER], tool_choice="auto"
        )
        [call] = c.choices[0].message.tool_calls or []
        assert call.type == "function"
        call_id, name, args = call.id, call.function.name, call.function.arguments
        finish = c.choices[0].finish_reason
    assert finish == "tool_calls" and name == "get_weather" and json.loads(args) == TOOL_ARGS
    sent = google.last_request.json
    assert sent["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Get the weather",
                    "parametersJsonSchema": WEATHER["function"]["parameters"],
                }
            ]
        }
    ]
    msgs.append(
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
            ],
        }
    )
    msgs.append({"role": "tool", "tool_call_id": call_id, "content": "18C and sunny"})
    final = oai.chat.completions.create(model=model, messages=msgs, tools=[WEATHER])
    assert final.choices[0].message.content == 'The tool said: {"content": "18C and sunny"}'
    contents = google.last_request.json["contents"]
    call_part: dict[str, Any] = {"functionCall": {"name": "get_weather", "args": TOOL_ARGS}}
    if model == "gemini-3":
        # Gemini 3's thought signature went out in the call's id and came back on the call.
        call_part["thoughtSignature"] = "c2lnbmF0dXJl"
    assert contents[1:] == [
        {"role": "model", "parts": [{"text": "Let me check."}, call_part]},
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "name": "get_weather",
                        "response": {"content": "18C and sunny"},
                    }
                }
            ],
        },
    ]


def test_images(oai: openai.OpenAI, google: FakeGemini) -> None:
    c = oai.chat.completions.create(
        model="gemini",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
                    {"type": "image_url", "image_url": {"url": "https://img.example/cat.jpg"}},
                ],
            }
        ],
    )
    assert c.choices[0].message.content == f"{REPLY} I see 2 images."
    assert google.last_request.json["contents"][0]["parts"][1:] == [
        {"inlineData": {"mimeType": "image/png", "data": PIXEL}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://img.example/cat.jpg"}},
    ]


def test_json_mode_reasoning_and_limits(oai: openai.OpenAI, google: FakeGemini) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
    }
    c = oai.chat.completions.create(
        model="gemini",
        messages=user(),
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
        reasoning_effort="low",
        seed=3,
    )
    assert json.loads(c.choices[0].message.content or "") == {"answer": REPLY}
    message_extra = c.choices[0].message.model_extra or {}
    assert message_extra["reasoning_content"] == "Thinking about it."
    assert c.usage is not None and c.usage.completion_tokens_details is not None
    assert c.usage.completion_tokens_details.reasoning_tokens == 3
    assert google.last_request.json["generationConfig"] == {
        "seed": 3,
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
        "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True},
    }
    short = oai.chat.completions.create(model="gemini", messages=user(), max_tokens=2)
    assert short.choices[0].finish_reason == "length"
    assert short.choices[0].message.content == " ".join(REPLY.split()[:2])
    two = oai.chat.completions.create(model="gemini", messages=user(), n=2, stop=["END"])
    assert [ch.message.content for ch in two.choices] == [REPLY, REPLY]
    chunks = list(oai.chat.completions.create(model="gemini", messages=user(), n=2, stream=True))
    for i in (0, 1):
        text = "".join(
            ch.choices[0].delta.content or ""
            for ch in chunks
            if ch.choices and ch.choices[0].index == i
        )
        assert text == REPLY


def test_safety_is_content_filter(oai: openai.OpenAI) -> None:
    blocked = oai.chat.completions.create(model="gemini-blocked", messages=user())
    assert blocked.choices[0].finish_reason == "content_filter"
    assert blocked.choices[0].message.content is None
    stopped = oai.chat.completions.create(model="gemini-safety", messages=user())
    assert stopped.choices[0].finish_reason == "content_filter"
    chunks = list(oai.chat.completions.create(model="gemini-blocked", messages=user(), stream=True))
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "content_filter"


def test_errors(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as limited:
        oai.chat.completions.create(model="gemini-limited", messages=user())
    assert 1 <= int(limited.value.response.headers["retry-after"]) <= 3
    with pytest.raises(openai.BadRequestError) as invalid:
        oai.chat.completions.create(model="gemini-invalid", messages=user())
    assert isinstance(invalid.value.body, dict) and invalid.value.body["code"] == "INVALID_ARGUMENT"
    with pytest.raises(openai.AuthenticationError) as bad_key:
        oai.chat.completions.create(model="gemini-bad-key", messages=user())
    assert "API key not valid" in str(bad_key.value) and "AIza-wrong" not in str(bad_key.value)
    with pytest.raises(openai.BadRequestError):
        # A tool result answering no call: the gateway refuses it before any upstream.
        oai.chat.completions.create(
            model="gemini",
            messages=[*user(), {"role": "tool", "tool_call_id": "x", "content": "1"}],
        )


def test_stream_error_event_and_cut_stream(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.APIError) as e:
        list(oai.chat.completions.create(model="gemini-stream-error", messages=user(), stream=True))
    assert "overloaded" in str(e.value)
    with pytest.raises(openai.APIError) as cut:
        list(oai.chat.completions.create(model="gemini-cut", messages=user(), stream=True))
    assert "gemini-cut" in str(cut.value)


def test_embeddings(oai: openai.OpenAI, google: FakeGemini, gateway: GatewayProcess) -> None:
    # The SDK asks for base64 unless told otherwise, and decodes it.
    resp = oai.embeddings.with_raw_response.create(
        model="gemini-embed", input=["hello world", "x"], dimensions=4
    )
    raw = json.loads(resp.http_response.content)
    packed = base64.b64decode(raw["data"][0]["embedding"])
    assert list(struct.unpack("<4f", packed)) == fake_embedding("hello world", 4)
    e = resp.parse()
    assert [d.embedding for d in e.data] == [
        fake_embedding("hello world", 4),
        fake_embedding("x", 4),
    ]
    sent = google.last_request
    assert sent.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert sent.json["requests"][0] == {
        "model": "models/gemini-embedding-001",
        "content": {"parts": [{"text": "hello world"}]},
        "outputDimensionality": 4,
    }
    floats = oai.embeddings.create(
        model="gemini-embed", input="hello world", encoding_format="float"
    )
    assert floats.data[0].embedding == fake_embedding("hello world", 8)
    assert (
        gateway.access_line(resp.headers["x-request-id"])["prompt_tokens"]
        == e.usage.prompt_tokens
        > 0
    )


def test_messages_surface(ant: anthropic.Anthropic, google: FakeGemini) -> None:
    msg = ant.messages.create(model="gemini", max_tokens=50, system="Be brief.", messages=user())
    assert msg.content[0].type == "text" and msg.content[0].text == REPLY
    assert msg.stop_reason == "end_turn"
    assert google.last_request.json["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    with ant.messages.stream(model="gemini", max_tokens=50, messages=user()) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == REPLY
    assert final.usage.output_tokens == msg.usage.output_tokens
    weather = {
        "name": "get_weather",
        "description": "Get the weather",
        "input_schema": WEATHER["function"]["parameters"],
    }
    first = ant.messages.create(
        model="gemini", max_tokens=50, messages=user("Weather?"), tools=[weather]
    )
    assert first.stop_reason == "tool_use"
    [use] = [b for b in first.content if b.type == "tool_use"]
    assert use.input == TOOL_ARGS
