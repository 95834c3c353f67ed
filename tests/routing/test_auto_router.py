"""The adaptive router: quality against cost, health-aware, sticky per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from pllm.config import ConfigError, load_settings
from pllm.config.auto_router import AutoRouterSpec
from pllm.providers.registry import build_deployments
from pllm.routing.auto import AutoRouter, Candidate

FAST = Candidate("fast", quality=2 / 3, cost=0.15e-6 + 0.6e-6)
SMART = Candidate("smart", quality=1.0, cost=5e-6 + 15e-6)


def router(quality: float, cost: float) -> AutoRouter:
    return AutoRouter(AutoRouterSpec("r", ("fast", "smart"), quality, cost), [FAST, SMART])


def healthy(group: str) -> float:
    return 1.0


def test_the_weights_decide_between_quality_and_cost() -> None:
    assert router(1.0, 0.0).choose({}, healthy) == "smart"
    assert router(0.0, 1.0).choose({}, healthy) == "fast"
    # 0.7 quality, 0.3 cost: smart scores 0.7 - 0.3 = 0.4, fast 0.467 - 0.011 = 0.456.
    assert router(0.7, 0.3).choose({}, healthy) == "fast"
    assert router(0.9, 0.1).choose({}, healthy) == "smart"


def test_a_failing_group_loses_its_quality_and_a_dead_one_is_passed_over() -> None:
    r = router(1.0, 0.0)
    assert r.choose({}, lambda g: 0.5 if g == "smart" else 1.0) == "fast"
    assert r.rank(lambda g: 0.0 if g == "smart" else 1.0) == ["fast", "smart"]


def test_a_session_stays_on_its_group_while_that_group_is_healthy() -> None:
    r = router(1.0, 0.0)
    session = {"metadata": {"litellm_session_id": "conv-1"}}
    assert r.choose(session, healthy) == "smart"
    # Smart degrades: new conversations go to fast, this one stays where it started.
    degraded = lambda g: 0.5 if g == "smart" else 1.0  # noqa: E731
    assert r.choose({}, degraded) == "fast"
    assert r.choose(session, degraded) == "smart"
    # Smart dies: the session moves, and stays on its new group.
    dead = lambda g: 0.0 if g == "smart" else 1.0  # noqa: E731
    assert r.choose(session, dead) == "fast"
    assert r.choose(session, healthy) == "fast"


def write(tmp_path: Path, router_config: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(
        "model_list:\n"
        "  - model_name: auto\n"
        "    litellm_params:\n"
        "      model: auto_router/adaptive_router\n"
        f"      adaptive_router_config: {router_config}\n"
        "  - model_name: fast\n"
        "    litellm_params: {model: mock/fast}\n"
    )
    return p


def test_check_config_validates_the_router(tmp_path: Path) -> None:
    ok = load_settings(write(tmp_path, "{available_models: [fast], weights: {quality: 1}}"), {})
    assert build_deployments(ok, {}) != []
    bad = load_settings(write(tmp_path, "{available_models: [fast, nope]}"), {})
    with pytest.raises(ConfigError, match="'nope' is not a model_name of this config"):
        build_deployments(bad, {})
    worse = load_settings(write(tmp_path, "{available_models: [fast], weights: {cost: -1}}"), {})
    with pytest.raises(ConfigError, match="weights"):
        build_deployments(worse, {})
