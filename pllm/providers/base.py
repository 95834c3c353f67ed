"""The provider interface and the per-deployment values request handling needs.

A provider turns a deployment's config into an :class:`HttpTarget` once, at startup (URLs,
auth headers), and maps an upstream error reply to a :class:`GatewayError`. What a provider
cannot do is absent from its ``endpoints``, never stubbed. The ``mock`` provider answers in
process and has a backend instead of a target.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

import pllm_accel
from pllm.config import DeploymentConfig, Timeouts
from pllm.config.problems import Problems
from pllm.errors import GatewayError

if TYPE_CHECKING:
    from pllm.providers.mock import MockBackend


class Endpoint(enum.Enum):
    CHAT = "chat/completions"
    COMPLETIONS = "completions"
    EMBEDDINGS = "embeddings"
    # Anthropic's Messages API (served natively by ``anthropic/`` deployments only; the
    # /v1/messages handler reaches OpenAI-format deployments through CHAT, translated).
    MESSAGES = "messages"
    COUNT_TOKENS = "messages/count_tokens"


# The OpenAI endpoints: what OpenAI-format providers and the mock serve.
ALL_ENDPOINTS = frozenset({Endpoint.CHAT, Endpoint.COMPLETIONS, Endpoint.EMBEDDINGS})


@dataclass(frozen=True, slots=True)
class HttpTarget:
    """Where a deployment's requests go. The native targets (URL and headers parsed and
    validated once) are built from ``urls`` and ``headers`` at construction."""

    urls: Mapping[Endpoint, str]
    headers: list[tuple[str, str]] = field(repr=False)
    # Whether the upstream accepts ``stream_options.include_usage`` (usage on streams).
    stream_usage: bool = True
    # The upstream's wire format: "anthropic" targets get translated requests and replies.
    wire: Literal["openai", "anthropic"] = "openai"
    native: Mapping[Endpoint, pllm_accel.Target] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        native = {e: pllm_accel.Target("POST", url, self.headers) for e, url in self.urls.items()}
        object.__setattr__(self, "native", native)


class HttpProvider(Protocol):
    name: str
    endpoints: frozenset[Endpoint]

    def configure(
        self, cfg: DeploymentConfig, env: Mapping[str, str], problems: Problems
    ) -> HttpTarget | None: ...

    def map_error(
        self, status: int, headers: list[tuple[str, str]], body: bytes
    ) -> GatewayError: ...


@dataclass(frozen=True, slots=True)
class Deployment:
    """One upstream a model name can be served by, ready for per-request use."""

    id: str
    model_name: str
    upstream_model: str
    provider_name: str
    endpoints: frozenset[Endpoint]
    config: DeploymentConfig = field(repr=False)
    target: HttpTarget | MockBackend = field(repr=False)
    provider: HttpProvider | None = None

    @property
    def timeouts(self) -> Timeouts:
        return self.config.timeouts
