"""The provider table and the deployments of a config, built once at startup.

A ``model: provider/name`` entry names its codec by the prefix; the table below is the one
place that lists them. Adding a provider family is a folder beside this module (its codec) and
one row here: nothing in the request path, the API or the router changes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

import pllm_accel
from pllm.config import ConfigError, DeploymentConfig, Settings, auto_router
from pllm.config.problems import Problem, Problems, suggestion
from pllm.errors import GatewayError
from pllm.providers.anthropic.codec import AnthropicCodec
from pllm.providers.bedrock.codec import BedrockCodec
from pllm.providers.codec import Codec, Deployment, Endpoint, Target
from pllm.providers.deployments import (
    LITELLM_PROVIDERS,
    Unconfigured,
    is_credential_problem,
    mode_endpoints,
)
from pllm.providers.gemini.codec import GeminiCodec
from pllm.providers.mock import MockCodec
from pllm.providers.openai.azure import AzureCodec
from pllm.providers.openai.azure_ai import AzureAICodec
from pllm.providers.openai.codec import COMPAT_ROWS, OpenAICompatCodec
from pllm.providers.vertex.codec import VertexGeminiCodec


@runtime_checkable
class CodecFamily(Protocol):
    """A provider whose models speak different wire formats (Vertex AI: Gemini's and
    Anthropic's): the deployment's model name picks the codec."""

    def for_model(self, model: str) -> Codec: ...


def codecs() -> dict[str, Codec]:
    table: dict[str, Codec] = {name: OpenAICompatCodec(row) for name, row in COMPAT_ROWS.items()}
    table["azure"] = AzureCodec()
    table["azure_ai"] = AzureAICodec()
    table["anthropic"] = AnthropicCodec()
    table["gemini"] = GeminiCodec()
    table["vertex_ai"] = VertexGeminiCodec()
    table["bedrock"] = BedrockCodec()
    table["mock"] = MockCodec()
    return table


def known_provider_names() -> list[str]:
    return sorted(codecs())


def served_endpoints(codec: Codec) -> frozenset[Endpoint]:
    """A codec's endpoints, plus Anthropic's Messages wherever it serves chat: the Messages
    surface translates through chat completions."""
    if Endpoint.CHAT in codec.endpoints:
        return codec.endpoints | {Endpoint.MESSAGES}
    return codec.endpoints


def _check_auto_router(cfg: DeploymentConfig, groups: set[str], problems: Problems) -> None:
    where = f"{cfg.path}.litellm_params.{auto_router.CONFIG_KEY}"
    raw = cfg.provider_params.get(auto_router.CONFIG_KEY)
    spec = auto_router.parse_spec(cfg.model_name, raw, where, problems)
    if spec is None:
        return
    for name in spec.available:
        if name not in groups:
            problems.add(
                f"{where}.available_models", f"{name!r} is not a model_name of this config"
            )


def build_deployments(
    settings: Settings,
    env: Mapping[str, str] | None = None,
    warnings: list[Problem] | None = None,
) -> list[Deployment]:
    """Raises :class:`ConfigError` listing every deployment that cannot be built. What
    builds with a warning (an unconfigured deployment, a skipped entry) is added to
    ``warnings``."""
    env = os.environ if env is None else env
    problems = Problems(settings.file)
    table = codecs()
    out: list[Deployment] = []
    groups = {c.model_name for c in settings.deployments if c.provider != auto_router.PROVIDER}
    for cfg in settings.deployments:
        if cfg.provider == auto_router.PROVIDER:
            # Not a deployment: a name that picks among groups (pllm.routing.auto).
            _check_auto_router(cfg, groups, problems)
            continue
        codec = table.get(cfg.provider)
        if codec is None:
            where = f"{cfg.path}.litellm_params.model"
            if cfg.provider in LITELLM_PROVIDERS:
                problems.warn(
                    where,
                    f"provider {cfg.provider!r} (LiteLLM's) is not one pllm has yet: "
                    f"{cfg.model_name} is skipped",
                )
                continue
            hint = suggestion(cfg.provider, list(table))
            reason = f"unknown provider {cfg.provider!r}"
            reason += (
                f" (did you mean {hint!r}?)"
                if hint
                else f"; known: {', '.join(known_provider_names())}"
            )
            problems.add(where, reason)
            continue
        dep = build_deployment(cfg, codec, env, problems)
        if dep is not None:
            out.append(dep)
    if problems:
        raise ConfigError(problems.items, problems.warnings)
    if warnings is not None:
        warnings.extend(problems.warnings)
    return out


def build_deployment(
    cfg: DeploymentConfig, family: Codec, env: Mapping[str, str], problems: Problems
) -> Deployment | None:
    """One entry's deployment (unconfigured when only its credentials are missing), or None
    after adding why not to ``problems``."""
    codec = family.for_model(cfg.upstream_model) if isinstance(family, CodecFamily) else family
    endpoints = served_endpoints(codec) & mode_endpoints(cfg.mode)
    if not endpoints:
        problems.warn(
            f"{cfg.path}.model_info.mode",
            f"pllm serves no endpoint for mode {cfg.mode!r} on {codec.name}/: "
            f"{cfg.model_name} is skipped",
        )
        return None
    wildcard = "*" in cfg.upstream_model
    target: Target | None
    if cfg.unset_env:
        target = Unconfigured(f"{', '.join(cfg.unset_env)} not set")
    else:
        # A wildcard's template is checked with a name in place of the '*': each name it
        # serves gets its own deployment (PatternDeployment.for_model).
        checked = replace(cfg, upstream_model=cfg.upstream_model.replace("*", "model"))
        found = Problems(problems.file)
        try:
            target = codec.configure(checked if wildcard else cfg, env, found)
        except pllm_accel.InvalidUpstreamRequest as e:
            # Checked here, once, by the native client: URL scheme and syntax, header syntax.
            problems.add(f"{cfg.path}.litellm_params", str(e))
            return None
        problems.warnings += found.warnings
        if target is None and found.items and all(map(is_credential_problem, found.items)):
            for p in found.items:
                problems.warn(
                    p.path,
                    f"{p.reason}: {cfg.model_name} is not configured (its requests get 503 "
                    "deployment_unconfigured; the other models serve)",
                )
            target = Unconfigured(found.items[0].reason)
        elif target is None:
            problems.items += found.items
            return None
    args = (
        f"{cfg.model_name}/{cfg.index}",
        cfg.model_name,
        cfg.upstream_model,
        codec.name,
        endpoints,
        cfg,
        codec,
        target,
    )
    if wildcard and not isinstance(target, Unconfigured):
        return PatternDeployment(*args, family=family, env=env)
    return Deployment(*args)


@dataclass(frozen=True, slots=True)
class PatternDeployment(Deployment):
    """A wildcard entry's deployment (``model: openai/*``): a template. The router picks it
    like any other; each model name it serves gets a deployment of its own, the name in
    place of the ``*`` (built once per name, see :class:`pllm.routing.groups.ModelRegistry`)."""

    family: Codec = field(repr=False)
    env: Mapping[str, str] = field(repr=False)

    def for_model(self, upstream_model: str) -> Deployment:
        """The deployment that sends ``upstream_model``; a 404 when it cannot be built (a
        name the provider's URLs cannot carry)."""
        cfg = replace(self.config, upstream_model=upstream_model)
        problems = Problems("")
        dep = build_deployment(cfg, self.family, self.env, problems)
        if dep is None or problems or isinstance(dep.target, Unconfigured):
            raise GatewayError(
                404,
                f"The model `{upstream_model}` cannot be served by {self.id}.",
                param="model",
                code="model_not_found",
            )
        return dep
