"""The retry and fallback loop, step by step: a fake attempt, a manual clock, no HTTP.

The native router is the real one (round-robin, so picks are predictable); time for the
deadline and the backoff comes from a manual clock whose ``sleep`` advances it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from pllm.call import Call
from pllm.config.schema import DeploymentConfig, RouterSettings
from pllm.errors import GatewayError
from pllm.observability.metrics import Metrics
from pllm.providers.codec import Deployment, Endpoint
from pllm.providers.mock import MockCodec
from pllm.providers.registry import served_endpoints
from pllm.routing.engine import Routed, RoutingEngine, failure_outcome, fallback_kind, retry_after
from pllm.routing.groups import ModelRegistry


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def deployment(group: str, index: int, endpoints: frozenset[Endpoint] | None = None) -> Deployment:
    codec = MockCodec()
    cfg = DeploymentConfig(index=index, model_name=group, provider="mock", upstream_model="m")
    return Deployment(
        id=f"{group}/{index}",
        model_name=group,
        upstream_model="m",
        provider_name="mock",
        endpoints=endpoints if endpoints is not None else served_endpoints(codec),
        config=cfg,
        codec=codec,
        target=codec.configure(cfg, {}, None),  # type: ignore[arg-type]
    )


def engine(
    groups: dict[str, int], clock: ManualClock | None = None, **settings: Any
) -> tuple[RoutingEngine, Metrics, ManualClock]:
    clock = clock or ManualClock()
    deps = []
    for group, size in groups.items():
        deps += [deployment(group, len(deps) + i) for i in range(size)]
    metrics = Metrics()
    e = RoutingEngine(
        RouterSettings(**settings),
        ModelRegistry(deps),
        metrics,
        clock=clock,
        sleep=clock.sleep,
        jitter=lambda: 1.0,
    )
    return e, metrics, clock


def call_for(model: str) -> Call:
    call = Call()
    call.model = model
    return call


def failing(errors: dict[str, GatewayError], tried: list[str]) -> Callable[[Deployment], Any]:
    """An attempt that fails with the error given for a deployment, else answers its id."""

    async def attempt(dep: Deployment) -> str:
        tried.append(dep.id)
        err = errors.get(dep.id)
        if err is not None:
            raise err
        return dep.id

    return attempt


def err(
    status: int, code: str | None = None, retryable: bool | None = None, **kw: Any
) -> GatewayError:
    return GatewayError(
        status, "boom", code=code, retryable=status >= 500 if retryable is None else retryable, **kw
    )


def route(e: RoutingEngine, call: Call, attempt: Callable[[Deployment], Any]) -> Routed[Any]:
    return asyncio.run(e.route(call, Endpoint.CHAT, 10, attempt))


def test_first_answer_is_routed_and_stays_in_flight_until_finished() -> None:
    e, metrics, _ = engine({"g": 2})
    call, tried = call_for("g"), []
    routed = route(e, call, failing({}, tried))
    assert routed.result == routed.dep.id == tried[0] and routed.number == 1
    assert (call.attempts, call.served_by, call.deployment) == (1, "g", tried[0])
    assert e.requests_in_flight == 1  # the response is still being sent
    e.finish(routed, call, 10, "success")
    assert e.requests_in_flight == 0
    labels = (("model", "g"), ("deployment", tried[0]), ("outcome", "success"))
    assert metrics.value("pllm_attempts_total", labels) == 1


def test_retryable_failure_moves_to_an_untried_deployment_at_once() -> None:
    e, metrics, clock = engine({"g": 3})
    tried: list[str] = []
    routed = route(e, call_for("g"), failing({"g/0": err(502)}, tried))
    assert tried == ["g/0", "g/1"] and routed.number == 2
    assert clock.sleeps == []  # an untried deployment needs no pause
    assert metrics.value("pllm_retries_total", (("model", "g"),)) == 1


def test_all_tried_backs_off_exponentially_then_gives_up_after_num_retries() -> None:
    e, _, clock = engine({"g": 2}, num_retries=3, backoff_base=0.1)
    tried: list[str] = []
    boom = {"g/0": err(503), "g/1": err(503)}
    with pytest.raises(GatewayError) as raised:
        route(e, call_for("g"), failing(boom, tried))
    assert raised.value is boom[tried[-1]]
    assert len(tried) == 4  # one attempt and num_retries retries
    assert clock.sleeps == [pytest.approx(0.2)]  # after the second attempt: base * 2 ** 1
    assert e.requests_in_flight == 0 and e.retries_in_flight == 0


def test_client_error_passes_through_once_without_fallback() -> None:
    e, _, _ = engine({"g": 2, "h": 1}, fallbacks={"g": ("h",)})
    tried: list[str] = []
    bad = err(400, "invalid_value")
    with pytest.raises(GatewayError) as raised:
        route(e, call_for("g"), failing({"g/0": bad}, tried))
    assert raised.value is bad and tried == ["g/0"]


def test_spent_group_falls_back_in_order_each_group_once() -> None:
    e, metrics, _ = engine(
        {"g": 1, "h": 1, "k": 1}, num_retries=0, fallbacks={"g": ("h", "g", "k")}
    )
    call, tried = call_for("g"), []
    routed = route(e, call, failing({"g/0": err(500), "h/1": err(500)}, tried))
    assert tried == ["g/0", "h/1", "k/2"]
    assert routed.group == call.served_by == "k"
    assert metrics.value("pllm_fallbacks_total", (("from", "g"), ("to", "h"))) == 1


def test_context_window_rejection_switches_to_its_own_chain() -> None:
    e, _, _ = engine(
        {"g": 1, "h": 1, "big": 1},
        fallbacks={"g": ("h",)},
        context_window_fallbacks={"g": ("big",)},
    )
    tried: list[str] = []
    too_long = err(400, "context_length_exceeded")
    routed = route(e, call_for("g"), failing({"g/0": too_long}, tried))
    assert tried == ["g/0", "big/2"] and routed.group == "big"


def test_deadline_stops_retries() -> None:
    clock = ManualClock()
    e, _, _ = engine({"g": 3}, clock=clock, timeout=5.0)
    tried: list[str] = []

    async def slow(dep: Deployment) -> str:
        tried.append(dep.id)
        clock.now += 6.0  # this attempt used up the whole deadline
        raise err(504, "upstream_timeout", retryable=True)

    call = call_for("g")
    with pytest.raises(GatewayError):
        route(e, call, slow)
    assert call.deadline == 105.0 and tried == ["g/0"]


def test_retry_budget_caps_retries_in_flight() -> None:
    e, _, _ = engine({"g": 2}, retry_budget_min=0, retry_budget_ratio=0.0)
    tried: list[str] = []
    with pytest.raises(GatewayError):
        route(e, call_for("g"), failing({"g/0": err(502)}, tried))
    assert tried == ["g/0"]


def test_unsupported_endpoint_is_400_but_a_fallback_without_it_is_passed_over() -> None:
    chat_only = frozenset({Endpoint.CHAT})
    deps = [deployment("g", 0, chat_only), deployment("h", 1, chat_only), deployment("k", 2)]
    e = RoutingEngine(
        RouterSettings(fallbacks={"k": ("h",)}, num_retries=0), ModelRegistry(deps), Metrics()
    )
    with pytest.raises(GatewayError) as raised:
        asyncio.run(e.route(call_for("g"), Endpoint.EMBEDDINGS, 1, failing({}, [])))
    assert (raised.value.status, raised.value.code) == (400, "unsupported_endpoint")
    tried: list[str] = []
    with pytest.raises(GatewayError) as raised:
        asyncio.run(
            e.route(call_for("k"), Endpoint.EMBEDDINGS, 1, failing({"k/2": err(500)}, tried))
        )
    assert tried == ["k/2"] and raised.value.status == 500


def test_saturated_group_is_429_with_retry_after() -> None:
    cfg = DeploymentConfig(index=0, model_name="g", provider="mock", upstream_model="m", rpm=1)
    codec = MockCodec()
    dep = Deployment(
        "g/0", "g", "m", "mock", served_endpoints(codec), cfg, codec, codec.configure(cfg, {}, None)
    )  # type: ignore[arg-type]
    e = RoutingEngine(RouterSettings(), ModelRegistry([dep]), Metrics())
    call = call_for("g")
    routed = asyncio.run(e.route(call, Endpoint.CHAT, 1, failing({}, [])))
    e.finish(routed, call, 1, "success")
    with pytest.raises(GatewayError) as raised:
        asyncio.run(e.route(call_for("g"), Endpoint.CHAT, 1, failing({}, [])))
    assert (raised.value.status, raised.value.code) == (429, "deployments_at_capacity")
    assert int(dict(raised.value.headers)["retry-after"]) >= 1


def test_cancelled_attempt_is_reported_neutral_and_leaves_nothing_in_flight() -> None:
    e, metrics, _ = engine({"g": 1})

    async def cancelled(dep: Deployment) -> str:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        route(e, call_for("g"), cancelled)
    labels = (("model", "g"), ("deployment", "g/0"), ("outcome", "neutral"))
    assert metrics.value("pllm_attempts_total", labels) == 1
    assert e.requests_in_flight == 0


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (err(429, retryable=True, headers=(("retry-after", "7"),)), ("rate_limited", 7.0)),
        (err(429, retryable=True, headers=(("retry-after-ms", "1500"),)), ("rate_limited", 1.5)),
        (err(503), ("failure", 0.0)),
        (err(400), ("neutral", 0.0)),
    ],
)
def test_failure_outcomes(error: GatewayError, outcome: tuple[str, float]) -> None:
    assert failure_outcome(error) == outcome


def test_retry_after_and_fallback_kind_read_the_error() -> None:
    assert retry_after(err(429, headers=(("retry-after", "soon"),))) == 1.0
    assert fallback_kind(GatewayError(400, "This model's maximum context length is 8k")) == (
        "context_window"
    )
    assert fallback_kind(err(400, "content_filter")) == "content_policy"
    assert fallback_kind(err(400, "invalid_value")) is None
