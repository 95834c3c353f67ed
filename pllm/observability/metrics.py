"""Prometheus metrics: plain dicts on the hot path, ``prometheus-client`` at scrape time.

Counters are plain dict entries keyed by (name, labels); incrementing one is a dict update.
A histogram observation is a bisect over the family's fixed bounds and two list updates.
Gauges that describe deployments (health score, circuit state, in flight) are read from the
native router when ``/metrics`` is scraped, not kept up to date per request.

Names follow OpenTelemetry's GenAI semantic conventions where one exists
(``gen_ai.server.request.duration`` → ``gen_ai_server_request_duration_seconds``, …).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

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
    "pllm_spend_writer_lag_seconds": (
        "gauge",
        "How far the store is behind: seconds since the spool was last empty, while it is not.",
    ),
    "pllm_spend_cost_usd_total": ("counter", "Cost of answered requests in USD, by model."),
    "gen_ai_client_token_usage_total": (
        "counter",
        "Tokens used, by model and gen_ai_token_type (input, output, cached input).",
    ),
    "gen_ai_server_request_duration_seconds": (
        "histogram",
        "Time from the request's arrival to its last byte, by model and status.",
    ),
    "gen_ai_server_time_to_first_token_seconds": (
        "histogram",
        "Time from a stream's arrival to the upstream's first byte, by model.",
    ),
    "pllm_upstream_duration_seconds": (
        "histogram",
        "One upstream attempt, sent to answered (head), by model, deployment and outcome.",
    ),
    "pllm_queue_depth": ("gauge", "Requests waiting for an admission slot."),
    "pllm_config_info": ("gauge", "1, labelled with the revision (hash) of the config served."),
    "pllm_config_loaded_timestamp_seconds": ("gauge", "When the config served was loaded."),
    "pllm_config_reloads_total": ("counter", "Config reloads, by result (ok, invalid)."),
    "pllm_workers": ("gauge", "Worker processes running (with --workers > 1)."),
    "pllm_cache_hits_total": ("counter", "Requests answered from the cache, by model and type."),
    "pllm_cache_misses_total": ("counter", "Cache lookups that found nothing, by model and type."),
    "pllm_cache_stores_total": ("counter", "Answers stored in the cache, by model and type."),
    "pllm_cache_stored_bytes_total": ("counter", "Bytes stored in the cache, by model and type."),
    "pllm_cache_evictions_total": ("counter", "Entries evicted by the cache's size bound."),
    "pllm_cache_bytes": ("gauge", "Bytes the in-process cache holds, by model and type."),
}

# OpenTelemetry's advisory bounds for GenAI durations (seconds).
_DURATION_BOUNDS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
_TTFT_BOUNDS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
_BOUNDS: dict[str, tuple[float, ...]] = {
    "gen_ai_server_request_duration_seconds": _DURATION_BOUNDS,
    "gen_ai_server_time_to_first_token_seconds": _TTFT_BOUNDS,
    "pllm_upstream_duration_seconds": _DURATION_BOUNDS,
}


class _Histogram:
    __slots__ = ("bounds", "buckets", "count", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.buckets = [0] * (len(bounds) + 1)  # per bucket, not cumulative; the last is +Inf
        self.count = 0
        self.sum = 0.0


class Metrics:
    __slots__ = ("counters", "histograms")

    def __init__(self) -> None:
        self.counters: dict[tuple[str, Labels], float] = {}
        self.histograms: dict[tuple[str, Labels], _Histogram] = {}

    def inc(self, name: str, labels: Labels = (), value: float = 1.0) -> None:
        key = (name, labels)
        self.counters[key] = self.counters.get(key, 0.0) + value

    def observe(self, name: str, labels: Labels, value: float) -> None:
        key = (name, labels)
        h = self.histograms.get(key)
        if h is None:
            h = self.histograms[key] = _Histogram(_BOUNDS[name])
        h.buckets[bisect_left(h.bounds, value)] += 1
        h.count += 1
        h.sum += value

    def histogram(self, name: str, labels: Labels) -> tuple[int, float]:
        """(count, sum) of one histogram series; (0, 0.0) when it has none."""
        h = self.histograms.get((name, labels))
        return (h.count, h.sum) if h is not None else (0, 0.0)

    def value(self, name: str, labels: Labels = ()) -> float:
        return self.counters.get((name, labels), 0.0)

    def render(self, samples: Iterable[tuple[str, Labels, float]] = ()) -> bytes:
        """The exposition text, by ``prometheus-client``: counters, histograms and
        ``samples`` (gauges read at scrape time), fed to it as a custom collector."""
        from prometheus_client.exposition import generate_latest  # at scrape time only

        return generate_latest(_Collector(self, samples))


class _Collector:
    """What ``prometheus-client`` collects: these metrics as its metric families, in
    ``_FAMILIES`` order (a name not declared there is left out)."""

    def __init__(self, metrics: Metrics, samples: Iterable[tuple[str, Labels, float]]) -> None:
        self.metrics = metrics
        self.samples = samples

    def collect(self) -> list[Any]:
        from prometheus_client.core import Metric

        families: dict[str, Any] = {}

        def family(name: str) -> Any:
            found = families.get(name)
            if found is None:
                kind, text = _FAMILIES[name]
                found = families[name] = Metric(name.removesuffix("_total"), text, kind)
            return found

        rows = [
            *((n, labels, v) for (n, labels), v in self.metrics.counters.items()),
            *self.samples,
        ]
        for name, labels, value in rows:
            if name in _FAMILIES:
                family(name).add_sample(name, dict(labels), value)
        for (name, labels), h in self.metrics.histograms.items():
            metric, cumulative = family(name), 0
            for bound, n in zip((*h.bounds, float("inf")), h.buckets, strict=True):
                cumulative += n
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                metric.add_sample(f"{name}_bucket", {**dict(labels), "le": le}, cumulative)
            metric.add_sample(f"{name}_sum", dict(labels), h.sum)
            metric.add_sample(f"{name}_count", dict(labels), h.count)
        return [families[name] for name in _FAMILIES if name in families]


# --- several workers: each writes a snapshot, the supervisor merges them -----------------

# Gauges that describe one shared thing rather than a share of the work: merged by taking
# the worst (lowest score, an open circuit) or the earliest (load time) instead of summing.
_MERGE_MIN = frozenset({"pllm_deployment_health_score", "pllm_config_loaded_timestamp_seconds"})
_MERGE_MAX = frozenset(
    {"pllm_deployment_circuit_open", "pllm_config_info", "pllm_spend_writer_lag_seconds"}
)


def snapshot(metrics: Metrics, gauges: Iterable[tuple[str, Labels, float]]) -> bytes:
    """This worker's counters, histograms and gauges, for the supervisor to merge."""
    return msgspec.json.encode(
        {
            "counters": [[n, labels, v] for (n, labels), v in metrics.counters.items()],
            "histograms": [
                [n, labels, h.buckets, h.count, h.sum]
                for (n, labels), h in metrics.histograms.items()
            ],
            "gauges": [[n, labels, v] for n, labels, v in gauges],
        }
    )


def read_snapshots(directory: str) -> list[dict[str, Any]]:
    """Every worker's latest snapshot in ``directory`` (a half-written one is skipped: the
    writer renames a complete file into place, so that only happens to a corrupt file)."""
    out: list[dict[str, Any]] = []
    for path in sorted(Path(directory).glob("metrics-*.json")):
        try:
            out.append(msgspec.json.decode(path.read_bytes()))
        except (OSError, msgspec.DecodeError):
            continue
    return out


def _labels_of(raw: list[list[str]]) -> Labels:
    return tuple((k, v) for k, v in raw)


def render_merged(snapshots: Iterable[dict[str, Any]], *, workers: int) -> bytes:
    """One exposition for all workers: counters and histograms summed, gauges summed but for
    those that describe one shared thing (see ``_MERGE_MIN``/``_MERGE_MAX``)."""
    total = Metrics()
    gauges: dict[tuple[str, Labels], float] = {}
    for snap in snapshots:
        for name, labels, value in snap.get("counters", ()):
            total.inc(name, _labels_of(labels), value)
        for name, labels, buckets, count, total_sum in snap.get("histograms", ()):
            key = (name, _labels_of(labels))
            h = total.histograms.get(key)
            if h is None:
                h = total.histograms[key] = _Histogram(_BOUNDS[name])
            h.buckets = [a + b for a, b in zip(h.buckets, buckets, strict=True)]
            h.count += count
            h.sum += total_sum
        for name, labels, value in snap.get("gauges", ()):
            key = (name, _labels_of(labels))
            seen = gauges.get(key)
            if seen is None:
                gauges[key] = value
            elif name in _MERGE_MIN:
                gauges[key] = min(seen, value)
            elif name in _MERGE_MAX:
                gauges[key] = max(seen, value)
            else:
                gauges[key] = seen + value
    samples = [(name, labels, v) for (name, labels), v in gauges.items()]
    samples.append(("pllm_workers", (), float(workers)))
    return total.render(samples)
