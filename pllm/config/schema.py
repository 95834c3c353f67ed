"""The validated shape of ``config.yaml``.

The file format is LiteLLM's (``model_list`` entries with ``model_name`` and ``litellm_params``;
``general_settings``; ``router_settings``; ``litellm_settings``) plus a few pllm keys, so
existing LiteLLM configs load unchanged. Keys LiteLLM knows but pllm does not use yet are
accepted and reported as ignored; a key that looks like a typo of one of pllm's is an error
(:mod:`pllm.config.keys`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pllm.config.cache import CacheSettings
from pllm.config.problems import Problem

DEFAULT_MAX_REQUEST_BODY = 20 * 1024 * 1024
DEFAULT_MAX_RESPONSE_BODY = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. There is no total timeout on a stream: a stream that keeps producing lives."""

    connect: float = 10.0
    # Until the response head arrives. For a non-streaming call that is the whole generation.
    first_byte: float = 600.0
    # The same wait for streaming calls, where the head comes with the first token.
    stream_first_byte: float = 600.0
    # Longest silence between two chunks of a body.
    chunk: float = 120.0


@dataclass(frozen=True, slots=True)
class MockParams:
    """Behaviour of a ``mock/`` deployment: deterministic text at a configurable pace."""

    response: str | None = None
    reply_tokens: int = 16
    latency_ms: float = 0.0
    ttft_ms: float = 0.0
    tokens_per_second: float = 0.0
    embedding_dim: int = 8


@dataclass(frozen=True, slots=True)
class DeploymentConfig:
    index: int
    model_name: str
    provider: str
    upstream_model: str
    api_key: str | None = field(default=None, repr=False)
    api_base: str | None = None
    api_version: str | None = None
    organization: str | None = None
    extra_headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    rpm: int | None = None
    tpm: int | None = None
    # LiteLLM's max_parallel_requests: requests in flight on this deployment at most.
    max_in_flight: int | None = None
    priority: int = 0
    weight: float = 1.0
    timeouts: Timeouts = Timeouts()
    mock: MockParams = MockParams()
    # Price overrides in USD per token; None: the shipped price table's entry for the model.
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    cached_input_cost_per_token: float | None = None
    # A provider family's own LiteLLM parameters (vertex_project, aws_region_name, ...), as
    # given (after ${VAR} interpolation): its codec reads and checks them at configure time.
    provider_params: Mapping[str, Any] = field(default_factory=dict, repr=False)
    # Environment variables its litellm_params name that are not set: the deployment is not
    # configured (a warning at startup; its requests get 503 deployment_unconfigured).
    unset_env: tuple[str, ...] = ()
    # From model_info: what kind of model it is (LiteLLM's modes: chat, completion,
    # embedding, ...; None: whatever its provider serves), and the model it is priced as.
    mode: str | None = None
    base_model: str | None = None
    # model_info as given (id, description, max_tokens, supports_*, ...).
    model_info: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def path(self) -> str:
        return f"model_list[{self.index}]"

    @property
    def wildcard(self) -> bool:
        """A ``model_name`` pattern (``openai/*``, ``*``): it serves the names it matches."""
        return "*" in self.model_name


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "0.0.0.0"
    port: int = 8080
    workers: int = 1
    # Requests in flight per worker before Granian stops accepting; None = Granian's default.
    backpressure: int | None = None
    # Tokio threads doing upstream HTTP per worker.
    upstream_threads: int = 1


@dataclass(frozen=True, slots=True)
class JwtSettings:
    """JWTs accepted as API credentials. The accepted algorithms come from here, never from
    the token's header; issuer, audience and expiry are always checked."""

    algorithms: tuple[str, ...]
    issuer: str
    audience: str
    # HS256: the shared secret. RS256/ES256: keys from the JWKS document at jwks_url.
    secret: str | None = field(default=None, repr=False)
    jwks_url: str | None = None
    user_claim: str = "sub"
    groups_claim: str = "groups"
    role_claim: str = "role"
    # Seconds of clock skew tolerated on exp/nbf/iat.
    leeway: float = 30.0
    # An unknown kid refetches the JWKS at most this often (seconds).
    jwks_refetch_interval: float = 60.0
    # A fetched JWKS is trusted this long before it is refreshed (seconds).
    jwks_ttl: float = 3600.0


@dataclass(frozen=True, slots=True)
class OtelSettings:
    """OpenTelemetry tracing (``general_settings.otel``). What is unset here comes from the
    standard ``OTEL_*`` variables (exporter endpoint and headers, service name, sampler)."""

    # The OTLP/HTTP collector's base URL (spans go to <endpoint>/v1/traces).
    endpoint: str | None = None
    service_name: str | None = None
    # Share of new traces recorded (0..1); a client's sampled flag is followed either way.
    sample_ratio: float | None = None
    # Record prompts and completions on the spans (off: never any message text).
    capture_content: bool = False


@dataclass(frozen=True, slots=True)
class GeneralSettings:
    master_key: str | None = field(default=None, repr=False)
    max_request_body_bytes: int = DEFAULT_MAX_REQUEST_BODY
    max_response_body_bytes: int = DEFAULT_MAX_RESPONSE_BODY
    access_log: bool = True
    log_level: str = "info"
    # SQLAlchemy URL; None: SQLite at <data_dir>/pllm.db. postgresql://… uses asyncpg.
    database_url: str | None = field(default=None, repr=False)
    # Where the SQLite database and the spend spool live (absolute once loaded).
    data_dir: str = "pllm-data"
    # The admin API's own listener; admin_port 0 disables it.
    admin_host: str = "127.0.0.1"
    admin_port: int = 8081
    jwt: JwtSettings | None = None
    # POSTed a JSON alert when a budget crosses its soft threshold.
    budget_alert_webhook: str | None = field(default=None, repr=False)
    # How often workers poll the store for key, user and group changes (seconds).
    auth_refresh_interval: float = 0.5
    # How often the spend spool is drained into the database (seconds).
    spend_flush_interval: float = 0.5
    # On SIGTERM: seconds /ready answers 503 before the listeners close (for load balancers),
    # then seconds requests in flight get to finish before open streams are ended.
    drain_delay: float = 0.0
    drain_timeout: float = 30.0
    # OpenTelemetry traces; None: off (and the SDK never imported).
    otel: OtelSettings | None = None
    # Prometheus's listener (GET /metrics, no auth), on server.host; 0 disables it.
    metrics_port: int = 9090


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """Circuit breaker per deployment (see the Rust router for the state machine)."""

    consecutive_failures: int = 5
    failure_rate: float = 0.5
    min_requests: int = 10
    failure_window: float = 30.0
    base_ejection: float = 5.0
    max_ejection: float = 300.0
    half_open_successes: int = 2
    max_ejected_percent: float = 50.0


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """The Redis that several gateway instances share limits, budgets and health through
    (:mod:`pllm.cluster`). ``url`` wins over host/port/password/db when both are given."""

    host: str = "127.0.0.1"
    port: int = 6379
    password: str | None = field(default=None, repr=False)
    db: int = 0
    # redis://[:password@]host:port/db or rediss://…; may hold the password.
    url: str | None = field(default=None, repr=False)

    def where(self) -> str:
        """host:port/db for logs, never the password."""
        if self.url is None:
            return f"{self.host}:{self.port}/{self.db}"
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        return f"{parts.hostname or '?'}:{parts.port or 6379}{parts.path or '/0'}"


@dataclass(frozen=True, slots=True)
class RouterSettings:
    default_strategy: str = "round-robin"
    strategies: Mapping[str, str] = field(default_factory=dict)
    num_retries: int = 2
    # Overall deadline for all attempts until a response starts; None: only per attempt.
    timeout: float | None = None
    backoff_base: float = 0.05
    backoff_max: float = 1.0
    retry_budget_ratio: float = 0.2
    retry_budget_min: int = 3
    fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    context_window_fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    content_policy_fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    breaker: BreakerSettings = BreakerSettings()
    exploration: float = 0.05
    # Load shedding: requests in flight per worker, and how many may wait for a slot.
    max_in_flight: int | None = None
    max_queue: int = 0
    queue_timeout: float = 1.0
    # Several instances sharing one Redis (router_settings.redis_*); None: this instance alone.
    redis: RedisSettings | None = None

    def strategy_for(self, group: str) -> str:
        return self.strategies.get(group, self.default_strategy)


@dataclass(frozen=True, slots=True)
class Settings:
    file: str
    deployments: tuple[DeploymentConfig, ...]
    general: GeneralSettings = GeneralSettings()
    server: ServerSettings = ServerSettings()
    router: RouterSettings = RouterSettings()
    cache: CacheSettings | None = None  # litellm_settings.cache (pllm.config.cache)
    # Human-readable notes for the startup log (skipped entries, ignored keys).
    notes: tuple[str, ...] = ()
    # What serves without being refused, but not as configured (unset credential variables).
    warnings: tuple[Problem, ...] = ()

    def model_names(self) -> list[str]:
        seen: dict[str, None] = {}
        for d in self.deployments:
            seen.setdefault(d.model_name, None)
        return list(seen)
