from __future__ import annotations

from pathlib import Path

import pytest

from pllm.config import ConfigError, load_settings
from pllm.providers.codec import Deployment, Endpoint, HttpTarget
from pllm.providers.openai.codec import COMPAT_ROWS, map_openai_error
from pllm.providers.registry import build_deployments


def build(tmp_path: Path, entries: str, env: dict[str, str]) -> list[Deployment]:
    """The deployments of a config whose ``model_list`` is ``entries`` (YAML lines)."""
    p = tmp_path / "c.yaml"
    p.write_text("model_list:\n" + entries)
    return build_deployments(load_settings(p, env), env)


def deployments(
    tmp_path: Path, entries: str, env: dict[str, str] | None = None
) -> list[HttpTarget]:
    out = []
    for d in build(tmp_path, entries, env or {}):
        assert isinstance(d.target, HttpTarget)
        out.append(d.target)
    return out


def problems(tmp_path: Path, entries: str) -> str:
    """The text of the ``ConfigError`` that building these deployments raises."""
    with pytest.raises(ConfigError) as e:
        build(tmp_path, entries, {})
    return str(e.value)


def test_every_required_compat_service_is_a_row() -> None:
    required = {"openai", "vllm", "hosted_vllm", "ollama", "groq", "together_ai", "mistral"}
    required |= {"deepseek", "openrouter", "xai", "fireworks_ai"}
    assert required <= set(COMPAT_ROWS)


def test_openai_key_from_the_environment_and_default_base(tmp_path: Path) -> None:
    (t,) = deployments(
        tmp_path,
        "  - {model_name: g, litellm_params: {model: groq/llama, organization: org-1}}\n",
        {"GROQ_API_KEY": "gk"},
    )
    assert t.urls[Endpoint.CHAT] == "https://api.groq.com/openai/v1/chat/completions"
    assert ("authorization", "Bearer gk") in t.headers
    assert ("openai-organization", "org-1") in t.headers


def test_ollama_base_gets_v1_and_needs_no_key(tmp_path: Path) -> None:
    (t,) = deployments(
        tmp_path,
        "  - {model_name: o, litellm_params: {model: ollama/llama3, api_base: 'http://gpu:11434'}}\n",
    )
    assert t.urls[Endpoint.EMBEDDINGS] == "http://gpu:11434/v1/embeddings"
    assert all(k != "authorization" for k, _ in t.headers)


def test_azure_url_header_and_version(tmp_path: Path) -> None:
    (t,) = deployments(
        tmp_path,
        "  - {model_name: a, litellm_params: {model: azure/dep 1, api_base: 'https://r.openai.azure.com/',"
        " api_key: ak, api_version: 2024-06-01}}\n",
    )
    assert t.urls[Endpoint.CHAT] == (
        "https://r.openai.azure.com/openai/deployments/dep%201/chat/completions?api-version=2024-06-01"
    )
    assert ("api-key", "ak") in t.headers


def test_provider_problems_are_all_reported(tmp_path: Path) -> None:
    text = problems(
        tmp_path,
        "  - {model_name: a, litellm_params: {model: opneai/x}}\n"
        "  - {model_name: b, litellm_params: {model: openai/x}}\n"
        "  - {model_name: c, litellm_params: {model: vllm/x}}\n"
        "  - {model_name: d, litellm_params: {model: azure/x}}\n",
    )
    assert (
        "model_list[0].litellm_params.model: unknown provider 'opneai' (did you mean 'openai'?)"
        in text
    )
    # A missing key alone leaves the deployment unconfigured (a warning: tests/config).
    assert "model_list[1]" not in text
    assert "model_list[2].litellm_params.api_base: is required for vllm/ models" in text
    assert (
        "model_list[3].litellm_params.api_base" in text
        and "model_list[3].litellm_params.api_key" in text
    )


def test_openai_error_bodies_pass_through_untouched() -> None:
    body = b'{"error": {"message": "Rate limit", "type": "requests", "param": null, "code": "rl"}}'
    err = map_openai_error(
        429, {"retry-after": "2", "x-ratelimit-reset": "1s", "server": "x"}, body
    )
    assert (err.status, err.body(), err.message) == (429, body, "Rate limit")
    assert err.headers == (("retry-after", "2"), ("x-ratelimit-reset", "1s"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error": "model not loaded"}', "model not loaded"),
        (b'{"message": "bad"}', "bad"),
        (b"<html>502</html>", "upstream returned HTTP 503: <html>502</html>"),
        (b"", "upstream returned HTTP 503"),
    ],
)
def test_other_error_bodies_are_wrapped(body: bytes, message: str) -> None:
    err = map_openai_error(503, {}, body)
    assert err.status == 503 and err.message == message and err.raw_body is None
    assert b'"type":"api_error"' in err.body()


def test_bad_urls_and_header_values_are_config_problems(tmp_path: Path) -> None:
    text = problems(
        tmp_path,
        "  - {model_name: a, litellm_params: {model: openai/x, api_key: k, api_base: 'localhost:8000/v1'}}\n"
        '  - {model_name: b, litellm_params: {model: openai/x, api_key: "sk-secret\\nvalue"}}\n',
    )
    assert "model_list[0].litellm_params: invalid upstream request:" in text
    assert (
        "model_list[1].litellm_params: invalid upstream request: bad value for header authorization"
        in text
    )
    assert "sk-secret" not in text
