"""An ``auto_router/`` entry's ``adaptive_router_config`` (see :mod:`pllm.routing.auto`):
read here, on the config floor, so that building deployments can check it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pllm.config.problems import Problems

PROVIDER = "auto_router"
CONFIG_KEY = "adaptive_router_config"


@dataclass(frozen=True, slots=True)
class AutoRouterSpec:
    name: str
    available: tuple[str, ...]
    quality_weight: float
    cost_weight: float


def parse_spec(name: str, raw: Any, where: str, problems: Problems) -> AutoRouterSpec | None:
    """The ``adaptive_router_config`` of one entry; problems are added, None when invalid."""
    if not isinstance(raw, Mapping):
        problems.add(where, "must be a mapping with available_models and weights")
        return None
    available = raw.get("available_models")
    if (
        not isinstance(available, list)
        or not available
        or not all(isinstance(m, str) and m for m in available)
    ):
        problems.add(f"{where}.available_models", "must be a non-empty list of model names")
        return None
    weights = raw.get("weights") or {"quality": 0.5, "cost": 0.5}
    quality, cost = (
        weights.get(k, 0.0) if isinstance(weights, Mapping) else None for k in ("quality", "cost")
    )
    if not all(
        isinstance(w, int | float) and not isinstance(w, bool) and w >= 0 for w in (quality, cost)
    ):
        problems.add(f"{where}.weights", "must map quality and cost to numbers >= 0")
        return None
    assert isinstance(quality, int | float) and isinstance(cost, int | float)
    total = float(quality) + float(cost)
    if total <= 0:
        problems.add(f"{where}.weights", "quality and cost cannot both be 0")
        return None
    return AutoRouterSpec(name, tuple(available), float(quality) / total, float(cost) / total)


def _weight(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
