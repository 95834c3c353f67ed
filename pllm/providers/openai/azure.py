"""Azure OpenAI: deployment URLs, the ``api-version`` query and the ``api-key`` header."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from pllm.config import DeploymentConfig
from pllm.config.problems import Problems
from pllm.providers.codec import RESPONSES_ENDPOINTS, Endpoint, HttpTarget
from pllm.providers.openai.codec import OpenAIFormat

DEFAULT_API_VERSION = "2024-10-21"
# The Responses API is not per deployment (the body's model names it) and needs a version
# from 2025-03-01 on: an older one configured for chat is replaced by this one for it.
RESPONSES_API_VERSION = "2025-04-01-preview"
_FIRST_RESPONSES_VERSION = "2025-03-01"


class AzureCodec(OpenAIFormat):
    name = "azure"
    endpoints = RESPONSES_ENDPOINTS

    def configure(
        self, cfg: DeploymentConfig, env: Mapping[str, str], problems: Problems
    ) -> HttpTarget | None:
        path = f"{cfg.path}.litellm_params"
        base = cfg.api_base or env.get("AZURE_API_BASE")
        key = cfg.api_key or env.get("AZURE_API_KEY")
        version = cfg.api_version or env.get("AZURE_API_VERSION") or DEFAULT_API_VERSION
        if not base:
            problems.add(
                f"{path}.api_base",
                "is required for azure/ models (https://RESOURCE.openai.azure.com) "
                "or set AZURE_API_BASE",
            )
        if not key:
            problems.add(f"{path}.api_key", "no API key: set api_key or AZURE_API_KEY")
        if not base or not key:
            return None
        root = f"{base.rstrip('/')}/openai/deployments/{quote(cfg.upstream_model, safe='')}"
        query = f"?api-version={quote(version, safe='')}"
        urls = {e: f"{root}/{e.value}{query}" for e in self.endpoints}
        if version < _FIRST_RESPONSES_VERSION:
            version = RESPONSES_API_VERSION
        urls[Endpoint.RESPONSES] = (
            f"{base.rstrip('/')}/openai/responses?api-version={quote(version, safe='')}"
        )
        headers = [("content-type", "application/json"), ("api-key", key), *cfg.extra_headers]
        return HttpTarget(urls=urls, headers=headers)
