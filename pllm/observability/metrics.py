"""Prometheus metrics in the text exposition format, without a client library.

Counters are plain dict entries keyed by (name, labels); incrementing one is a dict update.
Gauges that describe deployments (health score, circuit state, in flight) are read from the
native router when ``/metrics`` is scraped, not kept up to date per request.
"""

from __future__ import annotations

from collections.abc import Iterable

Labels = tuple[tuple[str, str], ...]

# name -> (type, help)
_FAMILIES: dict[str, tuple[str, str]] = {
    "pllm_requests_total": ("counter", "Requests answered, by model and status."),
    "pllm_attempts_total": ("counter", "Upstream attempts, by model, deployment and outcome."),
    "pllm_retries_total": ("counter", "Attempts beyond the first, by model."),
    "pllm_fallbacks_total": ("counter", "Switches to a fallback model group."),
    "pllm_shed_total": ("counter", "Requests refused by load shedding, by reason."),
    "pllm_no_deployment_total": ("counter", "Picks that found no deployment, by reason."),
    "pllm_ejections_total": ("counter", "Circuit-breaker ejections of deployments."),
    "pllm_in_flight": ("gauge", "Requests in flight in this worker."),
    "pllm_deployment_health_score": ("gauge", "Health score 0-100 per deployment."),
    "pllm_deployment_circuit_open": ("gauge", "1 while a deployment's circuit is open."),
    "pllm_deployment_in_flight": ("gauge", "Requests in flight per deployment."),
    "pllm_rate_limited_total": ("counter", "Requests refused by a key/user/group limit."),
    "pllm_budget_exceeded_total": ("counter", "Requests refused by a budget, by scope."),
    "pllm_budget_alerts_total": ("counter", "Budget alerts (soft threshold, exceeded)."),
    "pllm_limited_in_flight": ("gauge", "Requests holding a key/user/group limiter ticket."),
    "pllm_spend_records_written_total": ("counter", "Spend records written to the store."),
    "pllm_spend_records_pending": ("gauge", "Spend records spooled, not yet in the store."),
    "pllm_spend_cost_usd_total": ("counter", "Cost of answered requests in USD, by model."),
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"


class Metrics:
    __slots__ = ("counters",)

    def __init__(self) -> None:
        self.counters: dict[tuple[str, Labels], float] = {}

    def inc(self, name: str, labels: Labels = (), value: float = 1.0) -> None:
        key = (name, labels)
        self.counters[key] = self.counters.get(key, 0.0) + value

    def value(self, name: str, labels: Labels = ()) -> float:
        return self.counters.get((name, labels), 0.0)

    def render(self, samples: Iterable[tuple[str, Labels, float]] = ()) -> bytes:
        """The exposition text: counters plus ``samples`` read at scrape time."""
        rows: dict[str, list[str]] = {}
        for (name, labels), v in self.counters.items():
            rows.setdefault(name, []).append(f"{name}{_labels(labels)} {v:g}")
        for name, labels, v in samples:
            rows.setdefault(name, []).append(f"{name}{_labels(labels)} {v:g}")
        out: list[str] = []
        for name, (kind, text) in _FAMILIES.items():
            if name in rows:
                out += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", *rows[name]]
        return ("\n".join(out) + "\n").encode()
