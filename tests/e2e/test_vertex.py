"""Vertex AI through a real ``pllm serve``: Gemini and Claude models on a fake Vertex endpoint
that accepts only bearer tokens a fake Google token endpoint issued, for a JWT-bearer assertion
signed with a service-account key generated for the test (checked against its public key)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.e2e.gateway import GatewayProcess, deployment
from tests.fakes.gemini_upstream import CLAUDE_REPLY, REPLY, TOOL_ARGS, FakeGemini
from tests.fakes.google_auth import FakeGoogleToken, service_account
from tests.fakes.openai_wire import fake_embedding

MASTER = "sk-master-SECRET-vertex"
PROJECT = "pllm-test-project"
GEMINI_PATH = f"/v1/projects/{PROJECT}/locations/us-central1/publishers/google/models"
CLAUDE_PATH = f"/v1/projects/{PROJECT}/locations/us-east5/publishers/anthropic/models"
CLAUDE = "claude-sonnet-4-5@20250929"
PIXEL = "iVBORw0KGgo="
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}


@pytest.fixture(scope="module")
def token_server() -> Iterator[FakeGoogleToken]:
    with FakeGoogleToken() as server:
        yield server


@pytest.fixture(scope="module")
def vertex(token_server: FakeGoogleToken) -> Iterator[FakeGemini]:
    with FakeGemini(token_ok=token_server.valid) as up:
        yield up


@pytest.fixture(scope="module")
def gateway(
    vertex: FakeGemini, token_server: FakeGoogleToken, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    workdir: Path = tmp_path_factory.mktemp("gw")
    key_file = workdir / "service-account.json"
    key_file.write_text(json.dumps(service_account(token_server.token_uri)))

    def entry(name: str, model: str, path: str) -> dict[str, Any]:
        # api_base: the URL up to the model, as LiteLLM means it for Vertex AI.
        return deployment(name, f"vertex_ai/{model}", api_base=f"{vertex.root_url}{path}/{model}")

    models = [
        entry("vx-gemini", "gemini-2.5-flash", GEMINI_PATH),
        entry("vx-embed", "text-embedding-005", GEMINI_PATH),
        entry("vx-claude", CLAUDE, CLAUDE_PATH),
    ]
    cfg = json.dumps({"model_list": models, "general_settings": {"master_key": MASTER}})
    env = {"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)}
    with GatewayProcess(cfg, workdir, env) as gw:
        yield gw


@pytest.fixture()
def oai(gateway: GatewayProcess, vertex: FakeGemini) -> Iterator[openai.OpenAI]:
    vertex.clear()
    with openai.OpenAI(base_url=gateway.base_url, api_key=MASTER, max_retries=0, timeout=10) as sdk:
        yield sdk


def user(text: str = "Hello?") -> list[Any]:
    return [{"role": "user", "content": text}]


def test_one_token_serves_many_concurrent_requests(
    oai: openai.OpenAI, vertex: FakeGemini, token_server: FakeGoogleToken, gateway: GatewayProcess
) -> None:
    def ask(_: int) -> str | None:
        return (
            oai.chat.completions.create(model="vx-gemini", messages=user())
            .choices[0]
            .message.content
        )

    with ThreadPoolExecutor(16) as pool:
        assert list(pool.map(ask, range(32))) == [REPLY] * 32
    # However the requests raced, one token was fetched (one refresh in flight), and reused.
    assert len(token_server.requests) == 1
    [token] = token_server.issued
    sent = vertex.last_request
    assert sent.headers["authorization"] == f"Bearer {token}"
    assert sent.path == f"{GEMINI_PATH}/gemini-2.5-flash:generateContent"
    assert sent.json == {"contents": [{"role": "user", "parts": [{"text": "Hello?"}]}]}
    logs = gateway.logs()
    assert token not in logs and "PRIVATE KEY" not in logs


def test_gemini_stream(
    oai: openai.OpenAI, vertex: FakeGemini, token_server: FakeGoogleToken
) -> None:
    chunks = list(
        oai.chat.completions.create(
            model="vx-gemini", messages=user(), stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == len(REPLY.split())
    sent = vertex.last_request
    assert sent.path == f"{GEMINI_PATH}/gemini-2.5-flash:streamGenerateContent"
    assert sent.query == {"alt": "sse"}
    assert token_server.valid(sent.headers["authorization"].removeprefix("Bearer "))


def test_gemini_tools_and_images(oai: openai.OpenAI, vertex: FakeGemini) -> None:
    c = oai.chat.completions.create(model="vx-gemini", messages=user("Weather?"), tools=[WEATHER])
    [call] = c.choices[0].message.tool_calls or []
    assert call.type == "function"
    assert json.loads(call.function.arguments) == TOOL_ARGS
    image = [
        {"type": "text", "text": "What is it?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
        {"type": "image_url", "image_url": {"url": "gs://bucket/cat.png"}},
    ]
    c = oai.chat.completions.create(
        model="vx-gemini", messages=[{"role": "user", "content": image}]
    )
    assert c.choices[0].message.content == f"{REPLY} I see 2 images."
    assert vertex.last_request.json["contents"][0]["parts"][1:] == [
        {"inlineData": {"mimeType": "image/png", "data": PIXEL}},
        {"fileData": {"mimeType": "image/png", "fileUri": "gs://bucket/cat.png"}},
    ]


def test_embeddings_by_predict(oai: openai.OpenAI, vertex: FakeGemini) -> None:
    e = oai.embeddings.create(model="vx-embed", input=["hello world"], dimensions=4)
    assert e.data[0].embedding == fake_embedding("hello world", 4)
    assert e.usage.prompt_tokens == 2
    sent = vertex.last_request
    assert sent.path == f"{GEMINI_PATH}/text-embedding-005:predict"
    assert sent.json == {
        "instances": [{"content": "hello world"}],
        "parameters": {"outputDimensionality": 4},
    }


@pytest.mark.parametrize("stream", [False, True])
def test_claude_on_vertex(oai: openai.OpenAI, vertex: FakeGemini, stream: bool) -> None:
    if stream:
        chunks = list(
            oai.chat.completions.create(
                model="vx-claude",
                messages=user(),
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert chunks[-1].usage is not None
    else:
        c = oai.chat.completions.create(model="vx-claude", messages=user(), max_tokens=64)
        text = c.choices[0].message.content or ""
        assert c.choices[0].finish_reason == "stop"
    assert text == CLAUDE_REPLY
    sent = vertex.last_request
    method = "streamRawPredict" if stream else "rawPredict"
    assert sent.path == f"{CLAUDE_PATH}/{CLAUDE}:{method}"
    assert sent.json["anthropic_version"] == "vertex-2023-10-16" and "model" not in sent.json
    assert sent.headers["authorization"].startswith("Bearer ya29.fake-")


def test_messages_pass_through_to_claude_on_vertex(
    gateway: GatewayProcess, vertex: FakeGemini
) -> None:
    vertex.clear()
    with anthropic.Anthropic(
        base_url=gateway.url, api_key=MASTER, max_retries=0, timeout=10
    ) as ant:
        msg = ant.messages.create(model="vx-claude", max_tokens=50, messages=user())
        assert msg.content[0].type == "text" and msg.content[0].text == CLAUDE_REPLY
        assert vertex.last_request.json == {
            "max_tokens": 50,
            "messages": user(),
            "anthropic_version": "vertex-2023-10-16",
        }
        with ant.messages.stream(model="vx-claude", max_tokens=50, messages=user()) as s:
            assert "".join(s.text_stream) == CLAUDE_REPLY
        assert vertex.last_request.path.endswith(":streamRawPredict")
        # And a Gemini deployment serves /v1/messages through the chat translation.
        msg = ant.messages.create(model="vx-gemini", max_tokens=50, messages=user())
        assert msg.content[0].type == "text" and msg.content[0].text == REPLY
