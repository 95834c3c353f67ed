"""Amazon Bedrock through a real ``pllm serve``: the openai SDK against ``bedrock/``
deployments whose upstream is a fake Bedrock runtime that speaks Converse, ConverseStream's
binary event stream and InvokeModel, and verifies each request's SigV4 signature with the
test's secret key; the anthropic SDK against /v1/messages served through the Messages
surface."""

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
from tests.fakes.bedrock_upstream import REPLY, TOOL_ARGS, FakeBedrock
from tests.fakes.openai_wire import fake_embedding

MASTER = "sk-master-SECRET-bedrock"
KEY_ID = "AKIDPLLMTEST00000001"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY"
ENV_KEY_ID = "ASIAPLLMTEST00000002"
ENV_SECRET = "env-SECRET-access-key-0123456789"
SESSION = "FwoGZXIvYXdzEBYaDSECRET-session-token"
REGION = "us-east-1"
CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
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
        },
    },
}
SECRETS = (MASTER, SECRET, ENV_SECRET, SESSION, PROMPT)


def config(up: FakeBedrock) -> str:
    def entry(name: str, model: str, **params: Any) -> dict[str, Any]:
        creds = {
            "aws_access_key_id": KEY_ID,
            "aws_secret_access_key": SECRET,
            "aws_region_name": REGION,
        }
        return deployment(
            name, f"bedrock/{model}", aws_bedrock_runtime_endpoint=up.root_url, **creds | params
        )

    models = [
        entry("claude", CLAUDE),
        entry("nova", "converse/us.amazon.nova-pro-v1:0"),
        entry("cached", "anthropic.claude-cached-v1:0"),
        entry("reasoning", "anthropic.claude-reasoning-v1:0"),
        entry("guarded", "meta.llama3-guardrail-v1:0"),
        entry("too-long", "mistral.too-long-v1:0"),
        entry("stream-exception", "anthropic.claude-stream-exception-v1:0"),
        entry("stream-corrupt", "anthropic.claude-stream-corrupt-v1:0"),
        entry("titan", "amazon.titan-embed-text-v2:0"),
        entry("cohere", "cohere.embed-english-v3"),
        # The same group: a throttled deployment, then one that answers.
        entry("busy", "anthropic.claude-throttled-v1:0"),
        entry("busy", CLAUDE),
        # Throttled alone: falls back to another group.
        entry("limited", "anthropic.claude-throttled-v1:0"),
        # Credentials from the environment, with a session token.
        deployment(
            "from-env",
            f"bedrock/{CLAUDE}",
            aws_bedrock_runtime_endpoint=up.root_url,
            aws_region_name=REGION,
        ),
        entry("wrong-secret", CLAUDE, aws_secret_access_key="not-the-secret"),
    ]
    return json.dumps(
        {
            "model_list": models,
            "router_settings": {
                "num_retries": 1,
                "retry_after": 0.01,
                "backoff_max": 0.05,
                "fallbacks": [{"limited": ["nova"]}],
            },
            "general_settings": {"master_key": MASTER},
        }
    )


@pytest.fixture(scope="module")
def bedrock() -> Iterator[FakeBedrock]:
    creds = {KEY_ID: (SECRET, None), ENV_KEY_ID: (ENV_SECRET, SESSION)}
    with FakeBedrock(credentials=creds, region=REGION) as up:
        yield up


@pytest.fixture(scope="module")
def gateway(
    bedrock: FakeBedrock, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    env = {
        "AWS_ACCESS_KEY_ID": ENV_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": ENV_SECRET,
        "AWS_SESSION_TOKEN": SESSION,
    }
    with GatewayProcess(config(bedrock), tmp_path_factory.mktemp("gw"), env) as gw:
        yield gw


@pytest.fixture()
def oai(gateway: GatewayProcess, bedrock: FakeBedrock) -> Iterator[openai.OpenAI]:
    bedrock.clear()
    with openai.OpenAI(base_url=gateway.base_url, api_key=MASTER, max_retries=0, timeout=10) as sdk:
        yield sdk


def user(text: str = PROMPT) -> list[Any]:
    return [{"role": "user", "content": text}]


def no_secrets_in(gateway: GatewayProcess) -> None:
    logs = gateway.logs()
    for secret in SECRETS:
        assert secret not in logs


def test_plain(oai: openai.OpenAI, bedrock: FakeBedrock, gateway: GatewayProcess) -> None:
    resp = oai.chat.completions.with_raw_response.create(
        model="claude",
        messages=[{"role": "system", "content": "Be brief."}, *user()],
        temperature=0.5,
        max_tokens=100,
        stop="END",
        user="someone",
    )
    c = resp.parse()
    assert c.choices[0].message.content == REPLY and c.choices[0].finish_reason == "stop"
    assert c.model == CLAUDE and c.id.startswith("chatcmpl-")
    assert c.usage is not None and c.usage.completion_tokens == len(REPLY.split())
    assert c.usage.prompt_tokens == 1 + 2
    sent = bedrock.last_request
    assert sent.path == f"/model/{CLAUDE}/converse"
    assert sent.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={KEY_ID}/")
    assert "x-amz-security-token" not in sent.headers
    assert sent.json == {
        "messages": [{"role": "user", "content": [{"text": PROMPT}]}],
        "system": [{"text": "Be brief."}],
        "inferenceConfig": {"maxTokens": 100, "temperature": 0.5, "stopSequences": ["END"]},
    }
    line = gateway.access_line(resp.headers["x-request-id"])
    assert (line["prompt_tokens"], line["completion_tokens"]) == (3, len(REPLY.split()))
    no_secrets_in(gateway)


def test_credentials_from_the_environment_sign_with_the_session_token(
    oai: openai.OpenAI, bedrock: FakeBedrock
) -> None:
    c = oai.chat.completions.create(model="from-env", messages=user())
    assert c.choices[0].message.content == REPLY
    sent = bedrock.last_request.headers
    assert sent["x-amz-security-token"] == SESSION
    assert f"Credential={ENV_KEY_ID}/" in sent["authorization"]
    assert "x-amz-security-token" in sent["authorization"]


def test_a_wrong_secret_is_refused_by_the_signature_check(
    oai: openai.OpenAI, gateway: GatewayProcess
) -> None:
    with pytest.raises(openai.AuthenticationError) as e:
        oai.chat.completions.create(model="wrong-secret", messages=user())
    assert "signature" in str(e.value) and "not-the-secret" not in str(e.value)
    assert "not-the-secret" not in gateway.logs()


def test_stream_with_usage_same_as_plain(
    oai: openai.OpenAI, bedrock: FakeBedrock, gateway: GatewayProcess
) -> None:
    plain = oai.chat.completions.create(model="cached", messages=user())
    resp = oai.chat.completions.with_raw_response.create(
        model="cached", messages=user(), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(resp.parse())
    sent = bedrock.last_request
    assert sent.path == "/model/anthropic.claude-cached-v1:0/converse-stream"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage == plain.usage
    assert plain.usage is not None and plain.usage.prompt_tokens_details is not None
    assert plain.usage.prompt_tokens_details.cached_tokens == 5
    assert plain.usage.prompt_tokens == 1 + 5 + 2
    extra = plain.usage.model_extra or {}
    assert extra["cache_creation_input_tokens"] == 2
    line = gateway.access_line(resp.headers["x-request-id"])
    assert line["stream"] is True and line["completion_tokens"] == plain.usage.completion_tokens


@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls_round_trip(oai: openai.OpenAI, bedrock: FakeBedrock, stream: bool) -> None:
    msgs: list[Any] = user("Weather in Paris?")
    if stream:
        chunks = list(
            oai.chat.completions.create(
                model="claude", messages=msgs, tools=[WEATHER], tool_choice="required", stream=True
            )
        )
        calls = [tc for ch in chunks if ch.choices for tc in ch.choices[0].delta.tool_calls or []]
        call_id = next(tc.id for tc in calls if tc.id)
        name = next(tc.function.name for tc in calls if tc.function and tc.function.name)
        args = "".join(tc.function.arguments or "" for tc in calls if tc.function)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
    else:
        c = oai.chat.completions.create(
            model="claude",
            messages=msgs,
            tools=[WEATHER],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
        )
        [call] = c.choices[0].message.tool_calls or []
        call_id, name, args = call.id, call.function.name, call.function.arguments
        finish = c.choices[0].finish_reason
    assert finish == "tool_calls" and name == "get_weather" and json.loads(args) == TOOL_ARGS
    config = bedrock.last_request.json["toolConfig"]
    assert config["tools"] == [
        {
            "toolSpec": {
                "name": "get_weather",
                "description": "Get the weather",
                "inputSchema": {"json": WEATHER["function"]["parameters"]},
            }
        }
    ]
    assert config["toolChoice"] == ({"any": {}} if stream else {"tool": {"name": "get_weather"}})
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
    final = oai.chat.completions.create(model="claude", messages=msgs, tools=[WEATHER])
    assert final.choices[0].message.content == "The tool said: 18C and sunny"
    assert bedrock.last_request.json["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"text": "Let me check."},
                {"toolUse": {"toolUseId": call_id, "name": "get_weather", "input": TOOL_ARGS}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": call_id, "content": [{"text": "18C and sunny"}]}}
            ],
        },
    ]
    # The same history without tools: the functions it calls are declared for Converse.
    again = oai.chat.completions.create(model="nova", messages=msgs)
    assert again.choices[0].message.content == "The tool said: 18C and sunny"


def test_images(oai: openai.OpenAI, bedrock: FakeBedrock) -> None:
    c = oai.chat.completions.create(
        model="nova",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
                    {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{PIXEL}"}},
                ],
            }
        ],
    )
    assert c.choices[0].message.content == f"{REPLY} I see 2 images."
    sent = bedrock.last_request
    assert sent.path == "/model/us.amazon.nova-pro-v1:0/converse"
    assert sent.json["messages"][0]["content"][1:] == [
        {"image": {"format": "png", "source": {"bytes": PIXEL}}},
        {"image": {"format": "jpeg", "source": {"bytes": PIXEL}}},
    ]
    with pytest.raises(openai.BadRequestError) as e:
        oai.chat.completions.create(
            model="nova",
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "https://x/cat.png"}}],
                }
            ],
        )
    assert "data URL" in str(e.value)


def test_reasoning_limits_and_guardrails(oai: openai.OpenAI) -> None:
    r = oai.chat.completions.create(model="reasoning", messages=user(), reasoning_effort="low")
    extra = r.choices[0].message.model_extra or {}
    assert extra["reasoning_content"] == "Thinking it over."
    assert extra["thinking_blocks"] == [
        {"type": "thinking", "thinking": "Thinking it over.", "signature": "c2lnbmF0dXJl"}
    ]
    chunks = list(oai.chat.completions.create(model="reasoning", messages=user(), stream=True))
    deltas = [c.choices[0].delta.model_extra or {} for c in chunks if c.choices]
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == "Thinking it over."
    short = oai.chat.completions.create(model="claude", messages=user(), max_tokens=2)
    assert short.choices[0].finish_reason == "length"
    assert short.choices[0].message.content == " ".join(REPLY.split()[:2])
    guarded = oai.chat.completions.create(model="guarded", messages=user())
    assert guarded.choices[0].finish_reason == "content_filter"


def test_errors(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as too_long:
        oai.chat.completions.create(model="too-long", messages=user())
    body = too_long.value.body
    assert isinstance(body, dict) and body["code"] == "context_length_exceeded"
    assert "too long" in str(too_long.value)


def test_throttling_moves_to_another_deployment_and_falls_back(
    oai: openai.OpenAI, bedrock: FakeBedrock
) -> None:
    resp = oai.chat.completions.with_raw_response.create(model="busy", messages=user())
    assert resp.parse().choices[0].message.content == REPLY
    assert resp.headers["x-pllm-attempts"] == "2"
    paths = [r.path for r in bedrock.requests]
    assert paths == [
        "/model/anthropic.claude-throttled-v1:0/converse",
        f"/model/{CLAUDE}/converse",
    ]
    fell_back = oai.chat.completions.create(model="limited", messages=user())
    assert fell_back.choices[0].message.content == REPLY
    assert bedrock.last_request.path == "/model/us.amazon.nova-pro-v1:0/converse"


def test_stream_exception_and_corrupt_frame_end_with_one_error_event(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.APIError) as e:
        list(oai.chat.completions.create(model="stream-exception", messages=user(), stream=True))
    assert "Too many tokens" in str(e.value)
    assert isinstance(e.value.body, dict) and e.value.body.get("code") == "ThrottlingException"
    with pytest.raises(openai.APIError) as corrupt:
        list(oai.chat.completions.create(model="stream-corrupt", messages=user(), stream=True))
    assert "checksum" in str(corrupt.value)


def test_embeddings(oai: openai.OpenAI, bedrock: FakeBedrock, gateway: GatewayProcess) -> None:
    resp = oai.embeddings.with_raw_response.create(model="titan", input="hello world", dimensions=4)
    raw = json.loads(resp.http_response.content)
    packed = base64.b64decode(raw["data"][0]["embedding"])
    assert list(struct.unpack("<4f", packed)) == fake_embedding("hello world", 4)
    e = resp.parse()
    assert e.usage.prompt_tokens == 2
    sent = bedrock.last_request
    assert sent.path == "/model/amazon.titan-embed-text-v2:0/invoke"
    assert sent.json == {"inputText": "hello world", "dimensions": 4}
    assert gateway.access_line(resp.headers["x-request-id"])["prompt_tokens"] == 2
    cohere = oai.embeddings.create(model="cohere", input=["a b", "c"], encoding_format="float")
    assert [d.embedding for d in cohere.data] == [fake_embedding("a b", 8), fake_embedding("c", 8)]
    assert bedrock.last_request.json == {"texts": ["a b", "c"], "input_type": "search_document"}
    with pytest.raises(openai.BadRequestError):
        oai.embeddings.create(model="titan", input=["a", "b"])
    with pytest.raises(openai.APIStatusError) as chat:
        # An embedding model serves no chat.
        oai.chat.completions.create(model="titan", messages=user())
    assert chat.value.status_code in (400, 404)


def test_messages_surface(gateway: GatewayProcess, bedrock: FakeBedrock) -> None:
    bedrock.clear()
    with anthropic.Anthropic(
        base_url=gateway.url, api_key=MASTER, max_retries=0, timeout=10
    ) as ant:
        msg = ant.messages.create(
            model="claude", max_tokens=50, system="Be brief.", messages=user()
        )
        assert msg.content[0].type == "text" and msg.content[0].text == REPLY
        assert msg.stop_reason == "end_turn"
        assert bedrock.last_request.json["system"] == [{"text": "Be brief."}]
        with ant.messages.stream(model="claude", max_tokens=50, messages=user()) as s:
            text = "".join(s.text_stream)
            final = s.get_final_message()
        assert text == REPLY and final.usage.output_tokens == msg.usage.output_tokens
        weather = {
            "name": "get_weather",
            "description": "Get the weather",
            "input_schema": WEATHER["function"]["parameters"],
        }
        first = ant.messages.create(
            model="claude", max_tokens=50, messages=user("Weather?"), tools=[weather]
        )
        assert first.stop_reason == "tool_use"
        [use] = [b for b in first.content if b.type == "tool_use"]
        assert use.input == TOOL_ARGS
