"""The ``gemini/`` codec from config to request: URLs (``api_base`` as LiteLLM means it),
auth, the stream's own URL through the per-request ``resolve`` hook, and the steps."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from pllm.config import Problem, load_settings
from pllm.providers.codec import Deployment, Endpoint, HttpTarget
from pllm.providers.deployments import Unconfigured
from pllm.providers.gemini.codec import GeminiCodec
from pllm.providers.registry import build_deployments


def deploy(tmp_path: Path, params: str, env: dict[str, str]) -> Deployment:
    p = tmp_path / "c.yaml"
    p.write_text(f"model_list:\n  - model_name: g\n    litellm_params:\n{params}")
    [dep] = build_deployments(load_settings(p, env), env)
    assert dep.provider_name == "gemini" and isinstance(dep.codec, GeminiCodec)
    assert dep.endpoints == {Endpoint.CHAT, Endpoint.EMBEDDINGS, Endpoint.MESSAGES}
    assert isinstance(dep.target, HttpTarget)
    return dep


def test_defaults_and_key_from_env(tmp_path: Path) -> None:
    dep = deploy(tmp_path, "      model: gemini/gemini-2.5-flash\n", {"GEMINI_API_KEY": "k1"})
    t = dep.target
    assert isinstance(t, HttpTarget) and t.resolve is not None
    base = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"
    assert t.urls[Endpoint.CHAT] == f"{base}:generateContent"
    assert t.urls[Endpoint.EMBEDDINGS] == f"{base}:batchEmbedContents"
    assert ("x-goog-api-key", "k1") in t.headers
    assert not any(k == "authorization" for k, _ in t.headers)


def test_api_base_is_the_url_up_to_the_version(tmp_path: Path) -> None:
    params = (
        "      model: gemini/models/gemini-2.0-flash\n      api_key: k2\n"
        "      api_base: https://gw.example/google/v1beta/\n"
        "      extra_headers: {x-team: a}\n"
    )
    t = deploy(tmp_path, params, {}).target
    assert isinstance(t, HttpTarget)
    assert (
        t.urls[Endpoint.CHAT]
        == "https://gw.example/google/v1beta/models/gemini-2.0-flash:generateContent"
    )
    assert ("x-goog-api-key", "k2") in t.headers and ("x-team", "a") in t.headers


def test_google_api_key_is_also_read(tmp_path: Path) -> None:
    t = deploy(tmp_path, "      model: gemini/g\n", {"GOOGLE_API_KEY": "k3"}).target
    assert isinstance(t, HttpTarget) and ("x-goog-api-key", "k3") in t.headers


def test_missing_key_is_a_warning_naming_the_variable(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("model_list:\n  - model_name: g\n    litellm_params:\n      model: gemini/x\n")
    warnings: list[Problem] = []
    (dep,) = build_deployments(load_settings(p, {}), {}, warnings)
    assert isinstance(dep.target, Unconfigured)  # the config serves; this model answers 503
    assert "GEMINI_API_KEY" in str(warnings[0])


def test_encode_chooses_relay_and_the_stream_target(tmp_path: Path) -> None:
    dep = deploy(tmp_path, "      model: gemini/gemini-2.5-flash\n      api_key: k\n", {})
    payload = {"model": "g", "messages": [{"role": "user", "content": "hi"}], "n": 2}
    plain = dep.codec.encode(dep, Endpoint.CHAT, payload, stream=False, usage_chunk=False)
    assert plain.relay == "none" and json.loads(plain.body) == plain.payload
    assert "model" not in plain.payload
    streamed = dep.codec.encode(dep, Endpoint.CHAT, payload, stream=True, usage_chunk=True)
    assert streamed.relay == "events" and streamed.usage_chunk
    t = dep.target
    assert isinstance(t, HttpTarget) and t.resolve is not None
    a = asyncio.run(t.resolve(plain))
    b = asyncio.run(t.resolve(streamed))
    assert a is not b  # the stream's own URL (checked against the fake end to end)


def test_decode_of_a_bad_body_is_upstream_invalid(tmp_path: Path) -> None:
    from pllm.errors import GatewayError

    dep = deploy(tmp_path, "      model: gemini/g\n      api_key: k\n", {})
    out = dep.codec.encode(
        dep,
        Endpoint.CHAT,
        {"model": "g", "messages": [{"role": "user", "content": "x"}]},
        stream=False,
        usage_chunk=False,
    )
    with pytest.raises(GatewayError) as e:
        dep.codec.decode(dep, out, b"not json")
    assert e.value.code == "upstream_invalid"
    body = json.dumps(
        {"candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}]}
    )
    reply, usage = dep.codec.decode(dep, out, body.encode())
    assert json.loads(reply)["choices"][0]["message"]["content"] == "ok"
    emb = dep.codec.encode(
        dep, Endpoint.EMBEDDINGS, {"model": "g", "input": "abcd"}, stream=False, usage_chunk=False
    )
    reply, usage = dep.codec.decode(dep, emb, b'{"embeddings": [{"values": [1.0]}]}')
    assert json.loads(reply)["data"][0]["embedding"] == [1.0] and usage is not None
