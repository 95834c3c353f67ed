"""The retry and fallback loop around the native router.

Per attempt: ``Router.pick`` (strategy, health, circuit, rpm/tpm) → the attempt → one
``Router.report``. An attempt that fails before anything reached the client is retried on
another deployment when the failure says something about the deployment (connection refused
or reset, timeouts, 5xx, 429, a rejected key): immediately on an untried deployment, after a
jittered exponential backoff when every deployment was tried. All attempts share the request's
deadline (``router_settings.timeout``) and a gateway-wide retry budget (retries in flight at
most ``retry_budget_ratio`` of requests in flight, or ``retry_budget_min``), so an outage does
not multiply load. Non-retryable errors (the client's own 4xx) pass straight through, once.
When a group has nothing left, its fallbacks are tried in order, each group at most once;
context-length and content-policy rejections switch to their own fallback chains. Once a
response has started, nothing is retried: the relays end a broken stream with an error event.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import pllm_accel
from pllm.api.http import Request
from pllm.config import RouterSettings
from pllm.errors import GatewayError
from pllm.observability.metrics import Metrics
from pllm.pricing.table import Price
from pllm.providers.base import Deployment, Endpoint
from pllm.routing.groups import ModelRegistry

Attempt = Callable[[Deployment, dict[str, Any]], Awaitable[None]]
Outcome = Literal["success", "failure", "rate_limited", "neutral"]

# Codes a relay leaves on a stream that broke after it started: the deployment failed.
_BROKEN_STREAM = frozenset(
    {
        "upstream_timeout",
        "upstream_connection_error",
        "upstream_truncated",
        "upstream_unreachable",
        "upstream_invalid",
        "upstream_error",
    }
)
_CONTEXT_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
_POLICY_CODES = frozenset({"content_policy_violation", "content_filter"})


def _retry_after(err: GatewayError) -> float:
    for name, value in err.headers:
        if name == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return 1.0
        if name == "retry-after-ms":
            try:
                return max(0.0, float(value) / 1000)
            except ValueError:
                return 1.0
    return 1.0


def _fallback_kind(err: GatewayError) -> str | None:
    text = err.message.lower()
    if err.code in _CONTEXT_CODES or "maximum context length" in text:
        return "context_window"
    if err.code in _POLICY_CODES:
        return "content_policy"
    return None


class RoutingEngine:
    def __init__(
        self,
        settings: RouterSettings,
        registry: ModelRegistry,
        metrics: Metrics,
        price_of: Callable[[Deployment], Price | None] = lambda _: None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.deployments: list[Deployment] = []
        self.unsupported: dict[tuple[str, Endpoint], list[int]] = {}
        groups = []
        for name, group in registry.groups.items():
            specs = []
            for d in group.deployments:
                index = len(self.deployments)
                self.deployments.append(d)
                for endpoint in Endpoint:
                    if endpoint not in d.endpoints:
                        self.unsupported.setdefault((name, endpoint), []).append(index)
                c = d.config
                specs.append((c.weight, c.priority, c.rpm, c.tpm, c.max_in_flight))
            groups.append((name, settings.strategy_for(name), specs))
        self.sizes = {name: len(g.deployments) for name, g in registry.groups.items()}
        # By deployment index, like the native router's: set on the request as it is routed.
        self.prices = [price_of(d) for d in self.deployments]
        b = settings.breaker
        self.native = pllm_accel.Router(
            groups,
            consecutive_failures=b.consecutive_failures,
            failure_rate=b.failure_rate,
            min_requests=b.min_requests,
            failure_window=b.failure_window,
            base_ejection=b.base_ejection,
            max_ejection=b.max_ejection,
            half_open_successes=b.half_open_successes,
            max_ejected_percent=b.max_ejected_percent,
            exploration=settings.exploration,
        )
        self.requests_in_flight = 0
        self.retries_in_flight = 0
        # Label tuples built once per (deployment, outcome), not per request.
        self._attempt_labels: dict[tuple[int, str], tuple[tuple[str, str], ...]] = {}

    async def run(
        self,
        req: Request,
        model: str,
        endpoint: Endpoint,
        payload: dict[str, Any],
        attempt: Attempt,
        tokens: int,
    ) -> None:
        """Serves ``payload`` on ``model`` or its fallbacks; raises the error the client sees.

        One coroutine on purpose: every resumption of a request passes through each frame of
        its await chain, so the loop stays flat and the per-attempt work is in plain methods."""
        s = self.settings
        if s.timeout is not None:
            req.deadline = time.perf_counter() + s.timeout
        chain = [model, *s.fallbacks.get(model, ())] if s.fallbacks else [model]
        visited: set[str] = set()
        attempts = 0
        last: GatewayError | None = None
        self.requests_in_flight += 1
        try:
            while chain:
                group = chain.pop(0)
                if group in visited:
                    continue
                if visited:
                    self.metrics.inc("pllm_fallbacks_total", (("from", model), ("to", group)))
                visited.add(group)
                base = self.unsupported.get((group, endpoint), [])
                if len(base) == self.sizes[group]:
                    if len(visited) > 1:
                        continue  # a fallback that cannot serve this endpoint is passed over
                    raise GatewayError(
                        400,
                        f"model {group!r} does not support /v1/{endpoint.value}",
                        param="model",
                        code="unsupported_endpoint",
                    )
                exclude = list(base)
                last_here: GatewayError | None = None
                fallback: str | None = None
                while True:
                    try:
                        index = self.native.pick(group, exclude, tokens)
                    except pllm_accel.NoDeploymentAvailable as e:
                        reason, retry_after = pllm_accel.no_pick_details(e)
                        if (
                            reason == "exhausted"
                            and last_here is not None
                            and self._may_retry(attempts, req)
                        ):
                            exclude = list(base)  # all tried: go round again, after a pause
                            await self._backoff(attempts, req)
                            continue
                        last_here = last_here or self._unavailable(group, reason, retry_after)
                        break
                    if attempts:
                        self.metrics.inc("pllm_retries_total", (("model", group),))
                    attempts += 1
                    dep = self._begin(req, group, index, attempts)
                    started = time.perf_counter()
                    try:
                        # Attempts never change the payload (each builds its own copy).
                        await attempt(dep, payload)
                    except GatewayError as e:
                        if req.started:
                            self._end(req, group, index, attempts, started, tokens, "failure")
                            raise
                        self._end_failed(req, group, index, attempts, started, tokens, e)
                        fallback = _fallback_kind(e)
                        if fallback is not None or not e.retryable:
                            last_here = e
                            break
                        last_here = e
                        if not self._may_retry(attempts, req):
                            break
                        exclude.append(index)
                        continue
                    except BaseException:
                        self._end(req, group, index, attempts, started, tokens, "neutral")
                        raise
                    broken = req.error in _BROKEN_STREAM
                    self._end(
                        req,
                        group,
                        index,
                        attempts,
                        started,
                        tokens,
                        "failure" if broken else "success",
                    )
                    return
                assert last_here is not None
                last = last_here
                if fallback is None and not last.retryable:
                    raise last  # the client's own error: passed through once
                if fallback == "context_window":
                    chain = list(s.context_window_fallbacks.get(group, ()))
                elif fallback == "content_policy":
                    chain = list(s.content_policy_fallbacks.get(group, ()))
            assert last is not None
            raise last
        finally:
            self.requests_in_flight -= 1

    def _begin(self, req: Request, group: str, index: int, number: int) -> Deployment:
        dep = self.deployments[index]
        req.deployment = dep.id
        req.price = self.prices[index]
        req.attempts = number
        req.upstream_head_at = None
        # Set before the attempt: its response head carries them.
        headers: list[tuple[bytes, bytes]] = []
        if group != req.model:
            headers.append((b"x-pllm-model", group.encode()))
        if number > 1:
            headers.append((b"x-pllm-attempts", str(number).encode()))
            self.retries_in_flight += 1
        req.extra_headers = headers
        return dep

    def _end_failed(
        self,
        req: Request,
        group: str,
        index: int,
        number: int,
        started: float,
        tokens: int,
        err: GatewayError,
    ) -> None:
        if err.retryable and err.status == 429:
            self._end(req, group, index, number, started, tokens, "rate_limited", _retry_after(err))
        else:
            self._end(
                req,
                group,
                index,
                number,
                started,
                tokens,
                "failure" if err.retryable else "neutral",
            )

    def _end(
        self,
        req: Request,
        group: str,
        index: int,
        number: int,
        started: float,
        tokens: int,
        outcome: Outcome,
        retry_after: float = 0.0,
    ) -> None:
        """Reports one attempt to the router and the counters."""
        if number > 1:
            self.retries_in_flight -= 1
        now = time.perf_counter()
        head = req.upstream_head_at or now
        usage = req.usage
        self.native.report(
            index,
            outcome,
            (now - started) * 1000,
            (head - started) * 1000,
            usage.total_tokens if usage is not None else tokens,
            tokens,
            retry_after,
        )
        key = (index, outcome)
        labels = self._attempt_labels.get(key)
        if labels is None:
            dep_id = self.deployments[index].id
            labels = (("model", group), ("deployment", dep_id), ("outcome", outcome))
            self._attempt_labels[key] = labels
        self.metrics.inc("pllm_attempts_total", labels)

    def _may_retry(self, attempts: int, req: Request) -> bool:
        s = self.settings
        if attempts > s.num_retries:
            return False
        if req.deadline is not None and time.perf_counter() >= req.deadline:
            return False
        budget = max(s.retry_budget_min, s.retry_budget_ratio * self.requests_in_flight)
        return self.retries_in_flight < budget

    async def _backoff(self, retry: int, req: Request) -> None:
        s = self.settings
        delay = min(s.backoff_max, s.backoff_base * 2 ** max(0, retry - 1)) * random.uniform(
            0.5, 1.5
        )
        if req.deadline is not None:
            delay = min(delay, max(0.0, req.deadline - time.perf_counter()))
        if delay > 0:
            await asyncio.sleep(delay)

    def _unavailable(self, group: str, reason: str, retry_after: float) -> GatewayError:
        self.metrics.inc("pllm_no_deployment_total", (("model", group), ("reason", reason)))
        wait = (("retry-after", str(max(1, math.ceil(retry_after)))),)
        if reason == "saturated":
            return GatewayError(
                429,
                f"Every deployment of {group!r} is at its rate or concurrency limit.",
                code="deployments_at_capacity",
                headers=wait,
                retryable=True,
            )
        return GatewayError(
            503,
            f"No healthy deployment of {group!r} is available right now.",
            code="no_healthy_deployment",
            headers=wait,
            retryable=True,
        )

    def samples(self) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
        """Gauges for ``/metrics``, read from the native router now."""
        out: list[tuple[str, tuple[tuple[str, str], ...], float]] = []
        for index, group, score, state, in_flight, _, _, _ in self.native.health():
            labels = (("model", group), ("deployment", self.deployments[index].id))
            out.append(("pllm_deployment_health_score", labels, round(score, 2)))
            out.append(("pllm_deployment_circuit_open", labels, 1.0 if state == "open" else 0.0))
            out.append(("pllm_deployment_in_flight", labels, float(in_flight)))
        out.append(("pllm_ejections_total", (), float(self.native.ejections_total)))
        out.append(("pllm_in_flight", (), float(self.requests_in_flight)))
        return out

    def health_view(self) -> list[dict[str, Any]]:
        health = self.native.health()
        return [
            {
                "deployment": self.deployments[index].id,
                "model": group,
                "provider": self.deployments[index].provider_name,
                "score": round(score, 1),
                "circuit": state,
                "in_flight": in_flight,
                "consecutive_failures": failures,
                "ejections": ejections,
                "ttft_ms": None if ttft is None else round(ttft, 2),
            }
            for (index, group, score, state, in_flight, failures, ejections, ttft) in health
        ]
