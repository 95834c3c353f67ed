"""Builds the deployments of a config: provider by ``provider/`` prefix, targets computed once."""

from __future__ import annotations

import os
from collections.abc import Mapping

import pllm_accel
from pllm.config import ConfigError, Settings
from pllm.config.problems import Problems, suggestion
from pllm.providers.anthropic import AnthropicProvider
from pllm.providers.azure import AzureProvider
from pllm.providers.base import ALL_ENDPOINTS, Deployment, HttpProvider
from pllm.providers.mock import MockBackend
from pllm.providers.openai_compat import COMPAT_ROWS, OpenAICompatProvider

MOCK = "mock"


def http_providers() -> dict[str, HttpProvider]:
    providers: dict[str, HttpProvider] = {
        name: OpenAICompatProvider(row) for name, row in COMPAT_ROWS.items()
    }
    providers["azure"] = AzureProvider()
    providers["anthropic"] = AnthropicProvider()
    return providers


def known_provider_names() -> list[str]:
    return sorted([*http_providers(), MOCK])


def build_deployments(settings: Settings, env: Mapping[str, str] | None = None) -> list[Deployment]:
    """Raises :class:`ConfigError` listing every deployment that cannot be built."""
    env = os.environ if env is None else env
    problems = Problems(settings.file)
    providers = http_providers()
    out: list[Deployment] = []
    for cfg in settings.deployments:
        dep_id = f"{cfg.model_name}/{cfg.index}"
        if cfg.provider == MOCK:
            out.append(
                Deployment(
                    id=dep_id,
                    model_name=cfg.model_name,
                    upstream_model=cfg.upstream_model,
                    provider_name=MOCK,
                    endpoints=ALL_ENDPOINTS,
                    config=cfg,
                    target=MockBackend(cfg.mock, cfg.upstream_model),
                )
            )
            continue
        provider = providers.get(cfg.provider)
        if provider is None:
            hint = suggestion(cfg.provider, [*providers, MOCK])
            reason = f"unknown provider {cfg.provider!r}"
            reason += (
                f" (did you mean {hint!r}?)"
                if hint
                else f"; known: {', '.join(known_provider_names())}"
            )
            problems.add(f"{cfg.path}.litellm_params.model", reason)
            continue
        try:
            target = provider.configure(cfg, env, problems)
        except pllm_accel.InvalidUpstreamRequest as e:
            # Checked here, once, by the native client: URL scheme and syntax, header syntax.
            problems.add(f"{cfg.path}.litellm_params", str(e))
            continue
        if target is None:
            continue
        out.append(
            Deployment(
                id=dep_id,
                model_name=cfg.model_name,
                upstream_model=cfg.upstream_model,
                provider_name=provider.name,
                endpoints=provider.endpoints,
                config=cfg,
                target=target,
                provider=provider,
            )
        )
    if problems:
        raise ConfigError(problems.items)
    return out
