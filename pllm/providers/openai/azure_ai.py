"""Azure AI Foundry model inference (``azure_ai/``): OpenAI's format at Azure's URLs.

As LiteLLM builds them (``AzureAIStudioConfig``): ``api_base`` (or ``AZURE_AI_API_BASE``) is
the endpoint; on a Foundry resource (``*.services.ai.azure.com``) requests go to
``{api_base}/models/chat/completions``, on a serverless endpoint
(``*.models.ai.azure.com``, ``*.inference.ai.azure.com``) to ``{api_base}/chat/completions``;
a path the base already ends with is not repeated, and ``api-version`` (``api_version``, or
one in the base's query) is added. The key (``api_key`` or ``AZURE_AI_API_KEY``) goes in the
``api-key`` header on ``*.services.ai.azure.com`` and ``*.openai.azure.com`` hosts, as a
bearer token elsewhere. The model name travels in the body, as with OpenAI. Claude models
(``azure_ai/claude-*``, Anthropic's own API on Foundry) are not served yet: such an entry is
skipped with a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pllm.config import DeploymentConfig
from pllm.config.problems import Problems
from pllm.providers.codec import Endpoint, HttpTarget
from pllm.providers.openai.codec import OpenAIFormat

# A Foundry resource's model inference API needs an api-version; serverless endpoints do not.
FOUNDRY_API_VERSION = "2024-05-01-preview"
_FOUNDRY = ".services.ai.azure.com"
_API_KEY_HOSTS = (_FOUNDRY, ".openai.azure.com")


def _with_path(path: str, ending: str) -> str:
    """``path`` + ``ending``, the segments they share counted once (``/models`` +
    ``/models/chat/completions`` is ``/models/chat/completions``)."""
    base = [s for s in path.split("/") if s]
    end = [s for s in ending.split("/") if s]
    for i in range(len(base)):
        if base[i:] == end[: len(base) - i]:
            return "/" + "/".join(base[:i] + end)
    return "/" + "/".join(base + end)


def azure_ai_url(api_base: str, endpoint: Endpoint, api_version: str | None) -> str:
    parts = urlsplit(api_base)
    host = parts.hostname or ""
    foundry = host.endswith(_FOUNDRY)
    ending = f"/models/{endpoint.value}" if foundry else f"/{endpoint.value}"
    query = dict(parse_qsl(parts.query))
    version = api_version or (FOUNDRY_API_VERSION if foundry else None)
    if version and "api-version" not in query:
        query["api-version"] = version
    path = _with_path(parts.path, ending)
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), ""))


class AzureAICodec(OpenAIFormat):
    name = "azure_ai"
    endpoints = frozenset({Endpoint.CHAT, Endpoint.EMBEDDINGS})

    def configure(
        self, cfg: DeploymentConfig, env: Mapping[str, str], problems: Problems
    ) -> HttpTarget | None:
        path = f"{cfg.path}.litellm_params"
        if cfg.upstream_model.startswith("claude"):
            # LiteLLM sends these to Anthropic's Messages API under {api_base}/anthropic.
            problems.warn(
                f"{path}.model",
                "Claude on Azure AI Foundry (Anthropic's API) is not served by pllm's "
                f"azure_ai/ yet: {cfg.model_name} is skipped",
            )
            return None
        base = cfg.api_base or env.get("AZURE_AI_API_BASE")
        key = cfg.api_key or env.get("AZURE_AI_API_KEY")
        if not base:
            problems.add(
                f"{path}.api_base",
                "is required for azure_ai/ models (https://RESOURCE.services.ai.azure.com "
                "or a serverless endpoint's URL) or set AZURE_AI_API_BASE",
            )
        if not key:
            problems.add(f"{path}.api_key", "no API key: set api_key or AZURE_AI_API_KEY")
        if not base or not key:
            return None
        host = urlsplit(base).hostname or ""
        auth = ("api-key", key)
        if not host.endswith(_API_KEY_HOSTS):
            auth = ("authorization", f"Bearer {key}")
        urls = {e: azure_ai_url(base, e, cfg.api_version) for e in self.endpoints}
        headers = [("content-type", "application/json"), auth, *cfg.extra_headers]
        return HttpTarget(urls=urls, headers=headers)
