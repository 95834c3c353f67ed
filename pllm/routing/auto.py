"""LiteLLM's adaptive router (``model: auto_router/adaptive_router``): one model name that
picks among other model groups by quality against cost.

.. code-block:: yaml

    - model_name: smart-cheap-router
      litellm_params:
        model: auto_router/adaptive_router
        adaptive_router_config:
          available_models: [fast, smart]      # model groups of this config
          weights: {quality: 0.7, cost: 0.3}
    - model_name: smart
      litellm_params: {model: openai/gpt-4o}
      model_info: {adaptive_router_preferences: {quality_tier: 3}}

Each candidate group scores ``quality * health - cost``, weighted: its configured
``quality_tier`` (1 budget to 3 frontier; 2 when unset) scaled by the group's current health
(the router's 0-100 scores: a failing model loses quality as it fails, and wins it back as it
recovers), against its price per token (input + output, from the deployment's own prices or
the price table) relative to the dearest candidate. The best-scoring group with a deployment
that can take the request serves it. A conversation stays on its group: requests carrying
``metadata.litellm_session_id`` go where that session's first one went while that group
stays healthy. What LiteLLM also learns (quality per request category, from feedback stored
in PostgreSQL) is not done here; ``strengths`` is read and not used.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pllm.config import Settings
from pllm.config.auto_router import CONFIG_KEY, PROVIDER, AutoRouterSpec, parse_spec
from pllm.config.problems import Problems
from pllm.providers.codec import Deployment

DEFAULT_TIER = 2
MAX_TIER = 3
SESSIONS = 10_000  # sticky sessions remembered (least recently used forgotten first)


@dataclass(frozen=True, slots=True)
class Candidate:
    group: str
    quality: float  # the tier, 0..1
    cost: float  # USD per input + output token


def quality_tier(model_info: Mapping[str, Any]) -> float:
    prefs = model_info.get("adaptive_router_preferences")
    tier = prefs.get("quality_tier") if isinstance(prefs, Mapping) else None
    if not isinstance(tier, int | float) or isinstance(tier, bool):
        tier = DEFAULT_TIER
    return min(max(float(tier), 1.0), MAX_TIER) / MAX_TIER


class AutoRouter:
    """Chooses the model group of one request to an auto router."""

    def __init__(self, spec: AutoRouterSpec, candidates: Sequence[Candidate]) -> None:
        self.name = spec.name
        self.candidates = tuple(candidates)
        self._wq, self._wc = spec.quality_weight, spec.cost_weight
        dearest = max((c.cost for c in candidates), default=0.0)
        self._relative_cost = {
            c.group: c.cost / dearest if dearest > 0 else 0.0 for c in candidates
        }
        self._sessions: OrderedDict[str, str] = OrderedDict()

    def choose(self, payload: Mapping[str, Any], health: Callable[[str], float]) -> str:
        """The group to serve ``payload``; ``health`` gives a group's health, 0..1 (0: none of
        its deployments can take a request now)."""
        session = _session_id(payload)
        if session is not None:
            group = self._sessions.get(session)
            if group is not None and health(group) > 0:
                self._sessions.move_to_end(session)
                return group
        group = self.rank(health)[0]
        if session is not None:
            self._sessions[session] = group
            self._sessions.move_to_end(session)
            if len(self._sessions) > SESSIONS:
                self._sessions.popitem(last=False)
        return group

    def rank(self, health: Callable[[str], float]) -> list[str]:
        """The candidates, best first; those with no healthy deployment last."""
        scored = []
        for i, c in enumerate(self.candidates):
            h = health(c.group)
            score = self._wq * c.quality * h - self._wc * self._relative_cost[c.group]
            scored.append((h > 0, score, -i, c.group))
        scored.sort(reverse=True)
        return [group for *_, group in scored]


def _session_id(payload: Mapping[str, Any]) -> str | None:
    metadata = payload.get("metadata")
    if isinstance(metadata, Mapping):
        session = metadata.get("litellm_session_id")
        if isinstance(session, str) and session:
            return session[:256]
    return None


def build_auto_routers(
    settings: Settings,
    groups: Mapping[str, Sequence[Deployment]],
    cost_per_token: Callable[[Deployment], float],
) -> dict[str, AutoRouter]:
    """The auto routers of a config whose entries ``build_deployments`` has checked; a
    candidate without a servable deployment (its credentials unset) is left out."""
    routers: dict[str, AutoRouter] = {}
    problems = Problems(settings.file)
    for cfg in settings.deployments:
        if cfg.provider != PROVIDER:
            continue
        raw = cfg.provider_params.get(CONFIG_KEY)
        spec = parse_spec(cfg.model_name, raw, cfg.path, problems)
        if spec is None:
            continue
        candidates = [
            Candidate(name, quality_tier(deps[0].config.model_info), cost_per_token(deps[0]))
            for name in spec.available
            if (deps := groups.get(name))
        ]
        if candidates:
            routers[cfg.model_name] = AutoRouter(spec, candidates)
    return routers
