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
    reason, retry_after = pllm_accel.no_pick_details(e.value)
    assert reason == "saturated" and 0 < retry_after <= 60
