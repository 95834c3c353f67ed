"""A reloaded config's engine: it takes over the native router of the engine it replaces,
keeps what the router learnt of unchanged deployments, and leaves requests that began
under the old config to finish there."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

from pllm.config.schema import RouterSettings
from pllm.errors import GatewayError
from pllm.observability.metrics import Metrics
from pllm.providers.codec import Deployment, Endpoint
from pllm.routing.engine import RoutingEngine
from pllm.routing.groups import ModelRegistry
from tests.routing.test_engine import ManualClock, call_for, deployment, err, failing


def build(deps: list[Deployment], previous: RoutingEngine | None = None) -> RoutingEngine:
    clock = ManualClock()
    return RoutingEngine(
        RouterSettings(num_retries=0),
        ModelRegistry(deps),
        Metrics(),
        clock=clock,
        sleep=clock.sleep,
        jitter=lambda: 1.0,
        previous=previous,
    )


def health(e: RoutingEngine) -> dict[str, tuple[str, int, int]]:
    """deployment id -> (model, consecutive failures, in flight)"""
    return {
        e.deployments[h.deployment].id: (h.group, h.consecutive_failures, h.in_flight)
        for h in e.live_health()
    }


def test_unchanged_deployments_keep_their_state_new_ones_start_fresh() -> None:
    a0, a1 = deployment("a", 0), deployment("a", 1)
    old = build([a0, a1])
    tried: list[str] = []
    for _ in range(4):
        with contextlib.suppress(GatewayError):
            asyncio.run(
                old.route(call_for("a"), Endpoint.CHAT, 1, failing({"a/0": err(500)}, tried))
            )
    failures = health(old)["a/0"][1]
    assert failures >= 1
    # The new file lists a new group first: every index in the model list moves.
    b0 = deployment("b", 0)
    moved = [
        dataclasses.replace(d, config=dataclasses.replace(d.config, index=d.config.index + 1))
        for d in (a0, a1)
    ]
    new = build([b0, *moved], previous=old)
    assert new.native is old.native
    view = health(new)
    assert view["a/0"][1] == failures, "a/0's failures carried over"
    assert view["b/0"] == ("b", 0, 0)


def test_a_changed_or_removed_deployment_is_not_carried_over() -> None:
    a0, a1 = deployment("a", 0), deployment("a", 1)
    old = build([a0, a1])
    old.native.report(0, "failure")
    changed = dataclasses.replace(a0, config=dataclasses.replace(a0.config, rpm=10))
    new = build([changed], previous=old)
    assert health(new) == {"a/0": ("a", 0, 0)}


def test_a_request_begun_before_the_reload_finishes_on_the_old_config() -> None:
    a0 = deployment("a", 0)
    old = build([a0])
    call = call_for("a")
    routed = asyncio.run(old.route(call, Endpoint.CHAT, 1, failing({}, [])))
    assert health(old)["a/0"][2] == 1  # in flight across the reload
    new = build([deployment("a", 0), deployment("c", 1)], previous=old)
    assert health(new)["a/0"][2] == 1
    old.finish(routed, call, 1, "success")
    assert health(new)["a/0"][2] == 0, "the old engine's report reached the same deployment"
    answered = asyncio.run(new.route(call_for("c"), Endpoint.CHAT, 1, failing({}, [])))
    assert answered.dep.id == "c/1"
