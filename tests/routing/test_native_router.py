from __future__ import annotations

import pytest

import pllm_accel
from pllm.config.router import STRATEGIES


@pytest.mark.parametrize("name", STRATEGIES)
def test_every_configurable_strategy_is_known_to_the_native_router(name: str) -> None:
    router = pllm_accel.Router([("g", name, [(1.0, 0, None, None, None)])])
    assert router.pick("g", [], 0) == 0


def test_unknown_strategy_and_outcome_are_refused() -> None:
    with pytest.raises(ValueError):
        pllm_accel.Router([("g", "fastest-please", [])])
    router = pllm_accel.Router([("g", "round-robin", [(1.0, 0, None, None, None)])])
    with pytest.raises(ValueError):
        router.report(0, "meh")  # type: ignore[arg-type]


def test_no_pick_carries_reason_and_retry_after() -> None:
    router = pllm_accel.Router([("g", "round-robin", [(1.0, 0, 1, None, None)])], base_ejection=5.0)
    router.report(router.pick("g", [], 0), "success")
    with pytest.raises(pllm_accel.NoDeploymentAvailable) as e:
        router.pick("g", [], 0)
    assert e.value.reason == "saturated" and 0 < e.value.retry_after <= 60
    assert str(e.value) == 'no deployment of "g" available (saturated)'
    with pytest.raises(pllm_accel.NoDeploymentAvailable) as unknown:
        router.pick("nope", [], 0)
    assert unknown.value.reason == "unknown_group"


def test_health_is_one_typed_entry_per_deployment() -> None:
    router = pllm_accel.Router(
        [
            ("a", "round-robin", [(1.0, 0, None, None, None)]),
            ("b", "round-robin", [(1.0, 0, None, None, None)] * 2),
        ],
        consecutive_failures=1,
    )
    router.report(router.pick("a", [], 0), "success", latency_ms=10.0, ttft_ms=5.0)
    router.report(1, "failure")
    health = router.health()
    assert all(isinstance(h, pllm_accel.DeploymentHealth) for h in health)
    assert [(h.deployment, h.group) for h in health] == [(0, "a"), (1, "b"), (2, "b")]
    first, failed, idle = health
    assert first.state == "closed" and first.ttft_ms == 5.0 and first.in_flight == 0
    assert failed.state == "open" and failed.ejections == 1 and failed.consecutive_failures == 1
    assert failed.score < first.score and idle.ttft_ms is None
    assert repr(idle).startswith("DeploymentHealth(deployment=2, group='b', score=")
