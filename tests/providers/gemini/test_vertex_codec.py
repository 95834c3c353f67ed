"""The ``vertex_ai/`` codecs from config to request: Vertex URLs (region, ``global``,
``api_base`` up to the model), the project and credentials as LiteLLM finds them, the bearer
token on each request's target, and Claude on Vertex (``rawPredict``, the body without
``model`` and with ``anthropic_version``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

import pllm_accel
from pllm.config import ConfigError, load_settings
from pllm.config.problems import Problem, Problems
from pllm.providers.codec import Deployment, Endpoint, HttpTarget
from pllm.providers.deployments import Unconfigured
from pllm.providers.registry import build_deployments
from pllm.providers.vertex.codec import VertexClaudeCodec, VertexGeminiCodec
from pllm.providers.vertex.settings import vertex_deployment
from tests.fakes.google_auth import service_account

TOKEN_URI = "http://127.0.0.1:9/token"


@pytest.fixture()
def sa_file(tmp_path: Path) -> str:
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(service_account(TOKEN_URI)))
    return str(path)


def deploy(tmp_path: Path, model: str, env: dict[str, str], extra: str = "") -> Deployment:
    p = tmp_path / "c.yaml"
    p.write_text(
        f"model_list:\n  - model_name: v\n    litellm_params:\n      model: vertex_ai/{model}\n{extra}"
    )
    [dep] = build_deployments(load_settings(p, env), env)
    assert dep.provider_name == "vertex_ai"
    assert isinstance(dep.target, HttpTarget) and dep.target.resolve is not None
    return dep


def test_gemini_urls_from_the_credentials_project(tmp_path: Path, sa_file: str) -> None:
    dep = deploy(tmp_path, "gemini-2.5-flash", {"GOOGLE_APPLICATION_CREDENTIALS": sa_file})
    assert isinstance(dep.codec, VertexGeminiCodec)
    assert dep.endpoints == {Endpoint.CHAT, Endpoint.EMBEDDINGS, Endpoint.MESSAGES}
    assert isinstance(dep.target, HttpTarget)
    assert dep.target.urls[Endpoint.CHAT] == (
        "https://us-central1-aiplatform.googleapis.com/v1/projects/pllm-test-project/"
        "locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent"
    )
    assert dep.target.urls[Endpoint.EMBEDDINGS].endswith("/models/gemini-2.5-flash:predict")
    assert not any(k == "authorization" for k, _ in dep.target.headers)


def test_global_location_has_no_region_prefix(tmp_path: Path, sa_file: str) -> None:
    env = {
        "GOOGLE_APPLICATION_CREDENTIALS": sa_file,
        "VERTEXAI_PROJECT": "proj-2",
        "VERTEXAI_LOCATION": "global",
    }
    dep = deploy(tmp_path, "gemini-2.5-pro", env)
    assert isinstance(dep.target, HttpTarget)
    assert dep.target.urls[Endpoint.CHAT] == (
        "https://aiplatform.googleapis.com/v1/projects/proj-2/locations/global/"
        "publishers/google/models/gemini-2.5-pro:generateContent"
    )


def test_api_base_is_the_url_up_to_the_model(tmp_path: Path, sa_file: str) -> None:
    base = "https://proxy.example/v1/projects/p/locations/l/publishers/google/models/gemini-x"
    dep = deploy(
        tmp_path,
        "gemini-x",
        {"GOOGLE_APPLICATION_CREDENTIALS": sa_file},
        f"      api_base: {base}\n",
    )
    assert isinstance(dep.target, HttpTarget)
    assert dep.target.urls[Endpoint.CHAT] == f"{base}:generateContent"


def test_claude_models_get_the_anthropic_codec(tmp_path: Path, sa_file: str) -> None:
    env = {"GOOGLE_APPLICATION_CREDENTIALS": sa_file, "VERTEX_LOCATION": "us-east5"}
    dep = deploy(tmp_path, "claude-sonnet-4-5@20250929", env)
    assert isinstance(dep.codec, VertexClaudeCodec)
    assert dep.endpoints == {Endpoint.CHAT, Endpoint.MESSAGES}
    assert isinstance(dep.target, HttpTarget)
    assert dep.target.urls[Endpoint.CHAT] == (
        "https://us-east5-aiplatform.googleapis.com/v1/projects/pllm-test-project/locations/"
        "us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"
    )
    chat = {"model": "v", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    out = dep.codec.encode(dep, Endpoint.CHAT, chat, stream=True, usage_chunk=False)
    assert out.relay == "events"
    body = json.loads(out.body)
    assert "model" not in body and body["anthropic_version"] == "vertex-2023-10-16"
    assert body["stream"] is True and body["max_tokens"] == 64000
    messages = {"model": "v", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    out = dep.codec.encode(dep, Endpoint.MESSAGES, messages, stream=False, usage_chunk=False)
    assert json.loads(out.body) == {
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
        "anthropic_version": "vertex-2023-10-16",
    }
    out = dep.codec.encode(
        dep, Endpoint.MESSAGES, {**messages, "stream": True}, stream=True, usage_chunk=False
    )
    assert out.relay == "tap" and "message_stop" in out.tap


def test_without_a_project_or_with_bad_credentials_the_config_is_refused(tmp_path: Path) -> None:
    sa = service_account(TOKEN_URI, project=None)
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(sa))
    p = tmp_path / "c.yaml"
    p.write_text(
        "model_list:\n  - model_name: v\n    litellm_params:\n      model: vertex_ai/gemini-x\n"
    )
    with pytest.raises(ConfigError) as e:
        build_deployments(load_settings(p, {}), {"GOOGLE_APPLICATION_CREDENTIALS": str(path)})
    assert "vertex_project" in str(e.value)
    # Credentials that cannot be read leave the deployment unconfigured, with a warning.
    warnings: list[Problem] = []
    env = {"GOOGLE_APPLICATION_CREDENTIALS": "/nope.json"}
    (dep,) = build_deployments(load_settings(p, {}), env, warnings)
    assert isinstance(dep.target, Unconfigured) and "cannot read" in str(warnings[0])


def test_litellm_params_win_over_the_environment(tmp_path: Path, sa_file: str) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(
        "model_list:\n  - model_name: v\n    litellm_params:\n"
        "      model: vertex_ai/gemini-x\n      vertex_project: from-params\n"
        "      vertex_location: europe-west4\n      vertex_credentials: ${SA_JSON}\n"
    )
    sa_json = json.dumps(service_account(TOKEN_URI))
    cfg = load_settings(str(p), {"SA_JSON": sa_json}).deployments[0]
    assert cfg.provider_params["vertex_project"] == "from-params"
    env = {"VERTEXAI_PROJECT": "from-env", "GOOGLE_APPLICATION_CREDENTIALS": "/nope.json"}
    problems = Problems("c.yaml")
    dep = vertex_deployment(cfg, env, problems, "google", {})
    assert not problems and dep is not None
    assert dep.model_url == (
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/from-params/locations/"
        "europe-west4/publishers/google/models/gemini-x"
    )


def test_deployments_with_one_credential_share_its_tokens(tmp_path: Path, sa_file: str) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(
        "model_list:\n"
        "  - model_name: a\n    litellm_params:\n      model: vertex_ai/gemini-x\n"
        "  - model_name: b\n    litellm_params:\n      model: vertex_ai/claude-x\n"
    )
    env = {"GOOGLE_APPLICATION_CREDENTIALS": sa_file}
    a, b = build_deployments(load_settings(p, env), env)
    calls: list[str] = []

    async def fetch(request: Any) -> tuple[int, bytes]:
        calls.append(request.url)
        return 200, b'{"access_token": "tok-1", "expires_in": 3600}'

    codec = a.codec
    assert isinstance(codec, VertexGeminiCodec)
    # One token cache for both (a Gemini and a Claude deployment); its endpoint replaced.
    [shared] = codec._tokens.values()
    shared._fetch = fetch

    async def run() -> tuple[pllm_accel.Target, pllm_accel.Target]:
        assert isinstance(a.target, HttpTarget) and isinstance(b.target, HttpTarget)
        assert a.target.resolve is not None and b.target.resolve is not None
        out_a = a.codec.encode(
            a,
            Endpoint.CHAT,
            {"model": "a", "messages": [{"role": "user", "content": "x"}]},
            stream=False,
            usage_chunk=False,
        )
        out_b = b.codec.encode(
            b,
            Endpoint.CHAT,
            {"model": "b", "messages": [{"role": "user", "content": "x"}]},
            stream=True,
            usage_chunk=False,
        )
        return await a.target.resolve(out_a), await b.target.resolve(out_b)

    asyncio.run(run())
    assert calls == [TOKEN_URI]
