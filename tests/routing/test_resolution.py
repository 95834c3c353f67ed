"""Which group serves a requested model name: explicit names, wildcard patterns (most
specific first, bare names matching their provider's pattern), the upstream name a wildcard
sends, the bounded cache of resolutions, unconfigured groups; and the routing engine serving
a wildcard-matched name with its own deployment and price."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pllm.call import Call
from pllm.config import RouterSettings, load_settings
from pllm.errors import GatewayError
from pllm.observability.metrics import Metrics
from pllm.pricing.table import PriceTable
from pllm.providers.codec import Deployment, Endpoint, HttpTarget
from pllm.providers.registry import PatternDeployment, build_deployments
from pllm.routing import groups
from pllm.routing.engine import RoutingEngine
from pllm.routing.groups import ModelRegistry

ENV = {"OPENAI_API_KEY": "sk-o", "GROQ_API_KEY": "gk"}

CONFIG = """
model_list:
  - {model_name: gpt-4o, litellm_params: {model: openai/explicit-upstream}}
  - {model_name: "openai/*", litellm_params: {model: "openai/*"}}
  - {model_name: "groq/*", litellm_params: {model: "groq/*"}}
  - {model_name: "*", litellm_params: {model: "openai/*", api_base: "http://catch-all:1/v1"}}
  - {model_name: "claude-*", litellm_params: {model: anthropic/claude-fixed, api_key: k}}
  - model_name: "anthropic/*"
    litellm_params: {model: "anthropic/*", api_key: os.environ/UNSET_ANTHROPIC_KEY}
  - model_name: unset-only
    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: os.environ/UNSET_KEY}
  - model_name: mixed
    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: os.environ/UNSET_KEY}
  - {model_name: mixed, litellm_params: {model: openai/gpt-4o-mini}}
"""


def build(tmp_path: Path, text: str = CONFIG) -> list[Deployment]:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return build_deployments(load_settings(p, ENV), ENV)


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(build(tmp_path))


def upstream_of(dep: Deployment) -> str:
    assert isinstance(dep.target, HttpTarget)
    return dep.target.urls[Endpoint.CHAT]


def test_an_explicit_name_wins_and_resolves_to_itself(registry: ModelRegistry) -> None:
    r = registry.resolve("gpt-4o")
    assert (r.group, r.deployments) == ("gpt-4o", None)
    assert registry.resolve("gpt-4o") is r


@pytest.mark.parametrize(
    ("name", "group", "upstream"),
    [
        ("openai/gpt-4.1", "openai/*", "gpt-4.1"),
        ("gpt-4.1", "openai/*", "gpt-4.1"),  # a bare name matches its provider's pattern
        ("gpt-5.1-codex", "openai/*", "gpt-5.1-codex"),  # by its family, listed or not
        ("groq/llama-3.3-70b", "groq/*", "llama-3.3-70b"),
        ("my-local-model", "*", "my-local-model"),
        ("mistral/mistral-small", "*", "mistral/mistral-small"),
        ("openai/o3", "openai/*", "o3"),
        ("claude-3-haiku", "claude-*", "claude-fixed"),  # a fixed upstream stays fixed
    ],
)
def test_wildcards_serve_the_requested_name(
    registry: ModelRegistry, name: str, group: str, upstream: str
) -> None:
    r = registry.resolve(name)
    assert r.group == group and r.deployments is not None
    (dep,) = r.deployments
    assert dep.upstream_model == upstream
    assert dep.id == registry.groups[group].deployments[0].id  # health is the pattern's
    assert not isinstance(dep, PatternDeployment)
    assert registry.resolve(name) is r  # resolved once


def test_the_catch_all_strips_its_own_provider_prefix(tmp_path: Path) -> None:
    text = 'model_list: [{model_name: "*", litellm_params: {model: "openai/*"}}]\n'
    r = ModelRegistry(build(tmp_path, text)).resolve("openai/gpt-4o")
    assert r.deployments is not None and r.deployments[0].upstream_model == "gpt-4o"


def test_a_served_name_is_priced_as_itself(registry: ModelRegistry) -> None:
    r = registry.resolve("gpt-4o-mini")
    assert r.prices == (PriceTable.load().lookup("gpt-4o-mini"),)
    template = registry.groups["openai/*"].deployments[0]
    assert PriceTable.load().for_deployment(template.config).known is False


@pytest.mark.parametrize(
    "name", ["../etc/passwd", "a b", "gpt-4o?x=1", "openai/*", "x" * 300, "a//b", "/x", ""]
)
def test_names_a_wildcard_cannot_carry_are_404(registry: ModelRegistry, name: str) -> None:
    with pytest.raises(GatewayError) as e:
        registry.resolve(name)
    assert (e.value.status, e.value.code) == (404, "model_not_found")


def test_no_wildcard_means_404_for_other_names(tmp_path: Path) -> None:
    text = "model_list: [{model_name: m, litellm_params: {model: mock/m}}]\n"
    with pytest.raises(GatewayError) as e:
        ModelRegistry(build(tmp_path, text)).resolve("gpt-4o")
    assert e.value.status == 404


def test_unconfigured_groups_answer_503(registry: ModelRegistry) -> None:
    for name in ("unset-only", "anthropic/claude-x"):
        with pytest.raises(GatewayError) as e:
            registry.resolve(name)
        assert (e.value.status, e.value.code, e.value.type) == (
            503,
            "deployment_unconfigured",
            "api_error",
        )
        assert "UNSET" not in e.value.message  # the variable is the operator's business
    assert "unset-only" not in registry.groups
    assert [d.provider_name for d in registry.groups["mixed"].deployments] == ["openai"]
    assert registry.explicit() == ["gpt-4o", "mixed"]
    assert registry.wildcards() == ["openai/*", "claude-*", "groq/*", "*"]


def test_the_resolution_cache_is_bounded(
    registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(groups, "RESOLVED_CACHE_SIZE", 3)
    first = registry.resolve("model-0")
    for i in range(1, 10):
        registry.resolve(f"model-{i}")
    assert len(registry._served) == 3
    assert registry.resolve("model-0") is not first  # evicted, built again
    assert registry.resolve("gpt-4o").group == "gpt-4o"  # explicit names are never evicted


def test_the_engine_sends_the_requested_name_and_prices_it(registry: ModelRegistry) -> None:
    engine = RoutingEngine(RouterSettings(num_retries=0), registry, Metrics())
    seen: list[Deployment] = []

    async def attempt(dep: Deployment) -> str:
        seen.append(dep)
        return "ok"

    call = Call()
    call.model = "gpt-4o-mini"
    routed = asyncio.run(engine.route(call, Endpoint.CHAT, 10, attempt))
    (dep,) = seen
    assert dep.upstream_model == "gpt-4o-mini" and routed.dep is dep
    assert routed.group == "openai/*" and call.served_by == "gpt-4o-mini"
    assert engine.price(routed) == PriceTable.load().lookup("gpt-4o-mini")
    engine.finish(routed, call, 10, "success")

    call = Call()
    call.model = "gpt-4o"
    routed = asyncio.run(engine.route(call, Endpoint.CHAT, 10, attempt))
    assert seen[-1].upstream_model == "explicit-upstream" and call.served_by == "gpt-4o"


def test_a_fallback_with_nothing_configured_is_passed_over(tmp_path: Path) -> None:
    text = """
model_list:
  - {model_name: a, litellm_params: {model: openai/a}}
  - {model_name: b, litellm_params: {model: anthropic/b, api_key: os.environ/UNSET_KEY}}
  - {model_name: c, litellm_params: {model: openai/c}}
router_settings: {fallbacks: [{a: [b, c]}], num_retries: 0}
"""
    p = tmp_path / "c.yaml"
    p.write_text(text)
    settings = load_settings(p, ENV)
    registry = ModelRegistry(build_deployments(settings, ENV))
    engine = RoutingEngine(settings.router, registry, Metrics())
    tried: list[str] = []

    async def attempt(dep: Deployment) -> str:
        tried.append(dep.model_name)
        if dep.model_name == "a":
            raise GatewayError(503, "down", retryable=True)
        return "ok"

    call = Call()
    call.model = "a"
    routed = asyncio.run(engine.route(call, Endpoint.CHAT, 1, attempt))
    assert tried == ["a", "c"] and routed.group == "c"


def test_a_wildcard_is_no_fallback_target(tmp_path: Path) -> None:
    text = CONFIG + 'router_settings: {fallbacks: [{gpt-4o: ["openai/*"]}]}\n'
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(Exception, match="wildcard model_name: fall back to an explicit one"):
        load_settings(p, ENV)
