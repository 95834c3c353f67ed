"""Real LiteLLM proxy configs (``litellm_examples/``, each file names its origin in LiteLLM's
repository) pass ``pllm check-config`` unchanged, with every variable they reference set to
a dummy value and no provider variable set otherwise.

"Pass" is exit status 0: no errors. What pllm does not serve is a warning, and this test
states which, per file, so that a change in what loads shows here:

- a provider LiteLLM has and pllm not yet (``cohere/``, ``sagemaker/``): the entry is skipped;
- a ``model_info.mode`` pllm has no endpoint for (``image_generation``, ``batch``): skipped;
- Claude on Azure AI Foundry (``azure_ai/claude-*``, Anthropic's API there): skipped;
- a deployment whose credentials are not there (a provider key variable the file does not
  reference and so is unset here, a Vertex AI deployment without credentials): unconfigured.

Everything else of LiteLLM's that pllm does not use (callbacks, caching, guardrails, MCP
servers, ...) is listed in one startup note as ignored.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pllm.cli import main

EXAMPLES = Path(__file__).parent / "litellm_examples"
_REFERENCE = re.compile(r"os\.environ/([A-Za-z_][A-Za-z0-9_]*)|\$\{([A-Za-z_][A-Za-z0-9_]*)")
_PROVIDER_VARIABLE = re.compile(
    r"_API_KEY$|_API_BASE$|^AWS_|^AZURE_|^GOOGLE_|^VERTEX|^GEMINI|^CLOUDSDK_|^LITELLM_|^PLLM_"
)

# The warnings each file loads with: every warning matches one of its file's patterns, and
# every pattern matches a warning. A file not named loads with none.
_NO_OPENAI_KEY = (
    r"model_list\[\d+\]\.litellm_params\.api_key: no API key: set api_key or set "
    r"OPENAI_API_KEY: .* is not configured"
)
WARNINGS: dict[str, list[str]] = {
    "macos_optimized_config.yaml": [
        r"litellm_settings\.cache_params\.type: 'disk' is not supported by pllm: the cache is off",
    ],
    "otel_test_config.yaml": [
        r"model_list\[2\]\.litellm_params\.model: provider 'cohere' \(LiteLLM's\) is not one "
        r"pllm has yet: rerank-english-v3.0 is skipped",
    ],
    "oai_misc_config.yaml": [
        r"model_list\[4\]\.model_info\.mode: pllm serves no endpoint for mode 'batch'",
    ],
    # Bare OpenAI model names with no api_key, in files that never name OPENAI_API_KEY.
    "simple_config.yaml": [_NO_OPENAI_KEY],
    "new_secret_config.yaml": [_NO_OPENAI_KEY],
    "test_config_no_auth.yaml": [
        r"model_list\[1[456]\]\.model_info\.mode: pllm serves no endpoint for mode "
        r"'image_generation'",
        _NO_OPENAI_KEY,
        r"model_list\[19\]\.litellm_params\.aws_access_key_id: .* amazon-embeddings is not "
        r"configured",
    ],
    "azure_ai_docs.yaml": [
        r"model_list\[1\]\.litellm_params\.model: Claude on Azure AI Foundry \(Anthropic's "
        r"API\) is not served by pllm's azure_ai/ yet: claude-4-azure is skipped",
    ],
}


def dummy(name: str) -> str:
    if "DATABASE_URL" in name:
        return "postgresql://user:password@localhost:5432/db"
    if name.endswith(("_BASE", "_URL", "_ENDPOINT")) or "API_BASE" in name:
        return f"https://{name.lower().replace('_', '-')}.example.com"
    if name.endswith("_PORT"):
        return "6379"
    return f"dummy-{name.lower()}"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if _PROVIDER_VARIABLE.search(name):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))  # no gcloud default credentials either
    return monkeypatch


def test_there_are_at_least_a_dozen_examples() -> None:
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert len(files) >= 12
    for f in files:
        assert f.read_text().startswith("# Origin: https://github.com/BerriAI/litellm/blob/")


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_a_litellm_example_passes_check_config(
    name: str, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = EXAMPLES / name
    for m in _REFERENCE.finditer(path.read_text()):
        variable = m.group(1) or m.group(2)
        clean_env.setenv(variable, dummy(variable))
    code = main(["check-config", str(path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""
    warnings = [line for line in out.splitlines() if line.startswith("warning: ")]
    patterns = [re.compile(p) for p in WARNINGS.get(name, [])]
    for line in warnings:
        assert any(p.search(line) for p in patterns), line
    for p in patterns:
        assert any(p.search(line) for line in warnings), p.pattern
    assert f"{path}: OK" in out
    assert "dummy-" not in out  # no value of a variable is printed
