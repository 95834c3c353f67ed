"""The provider table and the deployments of a config, built once at startup.

A ``model: provider/name`` entry names its codec by the prefix; the table below is the one
place that lists them. Adding a provider family is a folder beside this module (its codec) and
one row here: nothing in the request path, the API or the router changes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import pllm_accel
from pllm.config import ConfigError, Settings
from pllm.config.problems import Problems, suggestion
from pllm.providers.anthropic.codec import AnthropicCodec
from pllm.providers.bedrock.codec import BedrockCodec
from pllm.providers.codec import Codec, Deployment, Endpoint
from pllm.providers.gemini.codec import GeminiCodec
from pllm.providers.mock import MockCodec
from pllm.providers.openai.azure import AzureCodec
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


def build_deployments(settings: Settings, env: Mapping[str, str] | None = None) -> list[Deployment]:
    """Raises :class:`ConfigError` listing every deployment that cannot be built."""
    env = os.environ if env is None else env
    problems = Problems(settings.file)
    table = codecs()
    out: list[Deployment] = []
    for cfg in settings.deployments:
        codec = table.get(cfg.provider)
        if codec is None:
            hint = suggestion(cfg.provider, list(table))
            reason = f"unknown provider {cfg.provider!r}"
            reason += (
                f" (did you mean {hint!r}?)"
                if hint
                else f"; known: {', '.join(known_provider_names())}"
            )
            problems.add(f"{cfg.path}.litellm_params.model", reason)
            continue
        if isinstance(codec, CodecFamily):
            codec = codec.for_model(cfg.upstream_model)
        try:
            target = codec.configure(cfg, env, problems)
        except pllm_accel.InvalidUpstreamRequest as e:
            # Checked here, once, by the native client: URL scheme and syntax, header syntax.
            problems.add(f"{cfg.path}.litellm_params", str(e))
            continue
        if target is None:
            continue
        out.append(
            Deployment(
                id=f"{cfg.model_name}/{cfg.index}",
                model_name=cfg.model_name,
                upstream_model=cfg.upstream_model,
                provider_name=codec.name,
                endpoints=served_endpoints(codec),
                config=cfg,
                codec=codec,
                target=target,
            )
        )
    if problems:
        raise ConfigError(problems.items)
    return out
