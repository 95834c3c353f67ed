from __future__ import annotations

from pathlib import Path

from pllm.config import Problem, load_settings
from pllm.providers.anthropic.codec import AnthropicCodec
from pllm.providers.codec import Endpoint, HttpTarget
from pllm.providers.deployments import Unconfigured
from pllm.providers.registry import build_deployments


def target(tmp_path: Path, params: str, env: dict[str, str]) -> HttpTarget:
    p = tmp_path / "c.yaml"
    p.write_text(f"model_list:\n  - model_name: c\n    litellm_params:\n{params}")
    [dep] = build_deployments(load_settings(p, env), env)
    assert dep.provider_name == "anthropic"
    assert isinstance(dep.codec, AnthropicCodec)
    assert dep.endpoints == {Endpoint.CHAT, Endpoint.MESSAGES, Endpoint.COUNT_TOKENS}
    assert isinstance(dep.target, HttpTarget)
    return dep.target


def test_defaults_key_from_env_and_headers(tmp_path: Path) -> None:
    t = target(tmp_path, "      model: anthropic/claude-sonnet-4-5\n", {"ANTHROPIC_API_KEY": "k1"})
    assert t.urls[Endpoint.CHAT] == "https://api.anthropic.com/v1/messages"
    assert t.urls[Endpoint.COUNT_TOKENS] == "https://api.anthropic.com/v1/messages/count_tokens"
    assert ("x-api-key", "k1") in t.headers
    assert ("anthropic-version", "2023-06-01") in t.headers
    assert not any(k == "authorization" for k, _ in t.headers)


def test_api_base_with_v1_and_extra_headers(tmp_path: Path) -> None:
    params = (
        "      model: anthropic/claude-x\n      api_key: k2\n      api_base: http://proxy:9/v1/\n"
        "      extra_headers: {anthropic-beta: b1, anthropic-version: '2099-01-01'}\n"
    )
    t = target(tmp_path, params, {})
    assert t.urls[Endpoint.MESSAGES] == "http://proxy:9/v1/messages"
    assert ("anthropic-beta", "b1") in t.headers
    assert [v for k, v in t.headers if k == "anthropic-version"] == ["2099-01-01"]


def test_missing_key_is_a_warning_naming_the_variable(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("model_list:\n  - model_name: c\n    litellm_params:\n      model: anthropic/x\n")
    warnings: list[Problem] = []
    (dep,) = build_deployments(load_settings(p, {}), {}, warnings)
    assert isinstance(dep.target, Unconfigured)  # the config serves; this model answers 503
    assert "ANTHROPIC_API_KEY" in str(warnings[0])
