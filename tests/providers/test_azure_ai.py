"""``azure_ai/`` (Azure AI Foundry model inference): URLs and auth as LiteLLM builds them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pllm.config import ConfigError, Problem, load_settings
from pllm.providers.codec import Endpoint, HttpTarget
from pllm.providers.deployments import Unconfigured
from pllm.providers.openai.azure_ai import azure_ai_url
from pllm.providers.registry import build_deployments


@pytest.mark.parametrize(
    ("base", "version", "chat"),
    [
        (
            "https://res.services.ai.azure.com",
            None,
            "https://res.services.ai.azure.com/models/chat/completions"
            "?api-version=2024-05-01-preview",
        ),
        (
            "https://res.services.ai.azure.com/models",
            "2025-01-01",
            "https://res.services.ai.azure.com/models/chat/completions?api-version=2025-01-01",
        ),
        (
            "https://res.services.ai.azure.com/models/chat/completions?api-version=2024-10-01",
            "2025-01-01",
            "https://res.services.ai.azure.com/models/chat/completions?api-version=2024-10-01",
        ),
        (
            "https://Mistral-large-x-serverless.eastus2.inference.ai.azure.com/",
            None,
            "https://Mistral-large-x-serverless.eastus2.inference.ai.azure.com/chat/completions",
        ),
        (
            "https://m.eastus2.models.ai.azure.com/v1",
            "2024-05-01-preview",
            "https://m.eastus2.models.ai.azure.com/v1/chat/completions"
            "?api-version=2024-05-01-preview",
        ),
    ],
)
def test_urls(base: str, version: str | None, chat: str) -> None:
    assert azure_ai_url(base, Endpoint.CHAT, version) == chat


def deployments(tmp_path: Path, entries: str, env: dict[str, str]) -> list[HttpTarget]:
    p = tmp_path / "c.yaml"
    p.write_text("model_list:\n" + entries)
    out = []
    for d in build_deployments(load_settings(p, env), env):
        assert isinstance(d.target, HttpTarget)
        out.append(d.target)
    return out


def test_the_key_goes_in_api_key_on_foundry_hosts_and_as_a_bearer_elsewhere(
    tmp_path: Path,
) -> None:
    foundry, serverless = deployments(
        tmp_path,
        "  - {model_name: a, litellm_params: {model: azure_ai/mistral-large, api_key: k1,"
        " api_base: 'https://res.services.ai.azure.com'}}\n"
        "  - {model_name: b, litellm_params: {model: azure_ai/command-r-plus}}\n",
        {"AZURE_AI_API_KEY": "k2", "AZURE_AI_API_BASE": "https://x.eastus2.models.ai.azure.com"},
    )
    assert ("api-key", "k1") in foundry.headers
    assert ("authorization", "Bearer k2") in serverless.headers
    assert serverless.urls == {
        Endpoint.CHAT: "https://x.eastus2.models.ai.azure.com/chat/completions",
        Endpoint.EMBEDDINGS: "https://x.eastus2.models.ai.azure.com/embeddings",
    }


def test_a_missing_base_is_an_error_a_missing_key_a_warning(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("model_list:\n  - {model_name: a, litellm_params: {model: azure_ai/m}}\n")
    with pytest.raises(ConfigError) as e:
        build_deployments(load_settings(p, {}), {})
    assert "api_base: is required for azure_ai/ models" in str(e.value)
    warnings: list[Problem] = []
    env = {"AZURE_AI_API_BASE": "https://x.models.ai.azure.com"}
    (dep,) = build_deployments(load_settings(p, env), env, warnings)
    assert isinstance(dep.target, Unconfigured)
    assert "no API key: set api_key or AZURE_AI_API_KEY" in str(warnings[0])


def test_claude_on_foundry_is_skipped_with_a_warning(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(
        "model_list:\n"
        "  - {model_name: m, litellm_params: {model: mock/m}}\n"
        "  - {model_name: c, litellm_params: {model: azure_ai/claude-opus-4-1, api_key: k,"
        " api_base: 'https://res.services.ai.azure.com/anthropic'}}\n"
    )
    warnings: list[Problem] = []
    deps = build_deployments(load_settings(p, {}), {}, warnings)
    assert [d.model_name for d in deps] == ["m"]
    assert "Claude on Azure AI Foundry" in str(warnings[0])
