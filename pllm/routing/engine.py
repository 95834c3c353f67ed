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
context-length and content-policy rejections switch to their own fallback chains.

An attempt ends when its response head is in: :meth:`RoutingEngine.route` returns the
successful attempt as a :class:`Routed`, and the caller reports how the response went
(:meth:`RoutingEngine.finish`) once it has been relayed. Nothing is retried after that: a
broken stream ends with an error event. Time and randomness are parameters, so the loop is
unit-tested with a manual clock and a fake attempt.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, Literal, Protocol, TypeVar

import pllm_accel
from pllm.call import Call
from pllm.config import RouterSettings
from pllm.errors import GatewayError
from pllm.lease import LeaseShort
from pllm.observability.metrics import Labels, Metrics
from pllm.pricing.table import Price
from pllm.providers.codec import Deployment, Endpoint
from pllm.routing.groups import ModelRegistry, Resolved

log = logging.getLogger("pllm.routing")

T = TypeVar("T")
Attempt = Callable[[Deployment], Awaitable[T]]
Outcome = Literal["success", "failure", "rate_limited", "neutral"]
FallbackKind = Literal["context_window", "content_policy"]

# Error codes a response leaves when it broke after it started: the deployment failed.
BROKEN_STREAM = frozenset(
    {
        "upstream_timeout",
        "upstream_connection_error",
        "upstream_truncated",
        "upstream_unreachable",
        "upstream_invalid",
        "upstream_error",
    }
)
_MAX_QUEUED_EVENTS = 1024
_CONTEXT_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
_POLICY_CODES = frozenset({"content_policy_violation", "content_filter"})


def retry_after(err: GatewayError) -> float:
    """Seconds the upstream asked to wait (``Retry-After`` / ``retry-after-ms``), else 1."""
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


def fallback_kind(err: GatewayError) -> FallbackKind | None:
    """Which special fallback chain a rejection switches to, if any."""
    text = err.message.lower()
    if err.code in _CONTEXT_CODES or "maximum context length" in text:
        return "context_window"
    if err.code in _POLICY_CODES:
        return "content_policy"
    return None


def failure_outcome(err: GatewayError) -> tuple[Outcome, float]:
    """What a failed attempt tells the router: a 429 cools the deployment down, another
    retryable failure counts against its health, the client's own error says nothing."""
    if err.retryable and err.status == 429:
        return "rate_limited", retry_after(err)
    return ("failure" if err.retryable else "neutral"), 0.0


class DeploymentLimiter(Protocol):
    """What the engine needs of a limiter shared by workers or instances (the shape of
    ``pllm_accel.Limiter``)."""

    def acquire(
        self, entities: Sequence[tuple[str, int | None, int | None, int | None]], tokens: int
    ) -> int | pllm_accel.Refusal | LeaseShort[pllm_accel.Refusal]: ...

    def release(self, ticket: int, tokens_used: int = 0) -> bool: ...


def _take_same(candidates: list[tuple[int, Deployment]] | None, d: Deployment) -> int | None:
    """Removes and returns the index of the candidate configured exactly like ``d`` (its
    place in the model list aside), if there is one."""
    if not candidates:
        return None
    wanted = dataclasses.replace(d.config, index=0)
    for at, (index, old) in enumerate(candidates):
        if (
            old.provider_name == d.provider_name
            and dataclasses.replace(old.config, index=0) == wanted
        ):
            del candidates[at]
            return index
    return None


@dataclasses.dataclass(slots=True)
class Routed(Generic[T]):
    """The attempt that got a response: which deployment, when it began, and its result."""

    index: int
    dep: Deployment
    group: str
    number: int
    started: float
    result: T
    price: Price | None = None
    # The deployment limiter's ticket (workers or instances sharing limits), else 0.
    ticket: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class _GroupSpent:
    """A group had nothing more to give: the error to answer, and where to go next."""

    error: GatewayError
    fallback: FallbackKind | None


class RoutingEngine:
    def __init__(
        self,
        settings: RouterSettings,
        registry: ModelRegistry,
        metrics: Metrics,
        price_of: Callable[[Deployment], Price | None] = lambda _: None,
        *,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = lambda: random.uniform(0.5, 1.5),
        previous: RoutingEngine | None = None,
    ) -> None:
        """``previous``: the engine of the config this one replaces (a reload). The native
        router carries over: a deployment whose config did not change keeps its index and
        with it its health, circuit, latency and rpm/tpm window; requests begun under the
        previous engine finish on it (its groups stay in the router under their own names)."""
        self.settings = settings
        self.registry = registry
        self.metrics = metrics
        self.clock = clock
        self.sleep = sleep
        self.jitter = jitter
        self.generation: int = 0 if previous is None else previous.generation + 1
        # By native index: every deployment the router knows, those of earlier configs too.
        self.deployments: list[Deployment] = [] if previous is None else list(previous.deployments)
        self.prices: list[Price | None] = [] if previous is None else list(previous.prices)
        kept = previous.kept_indices() if previous is not None else {}
        self.unsupported: dict[tuple[str, Endpoint], list[int]] = {}
        groups = []
        # A wildcard-served name's deployments are by position in the group
        # (Resolved.deployments): each live index's position.
        self.position: dict[int, int] = {}
        self.group_of: dict[int, str] = {}
        suffix = f"\0{self.generation}" if self.generation else ""
        # The native router's name for each group of this generation.
        self.native_names = {name: name + suffix for name in registry.groups}
        for name, group in registry.groups.items():
            members = []
            for at, d in enumerate(group.deployments):
                index = _take_same(kept.get(name), d)
                if index is not None:
                    self.deployments[index] = d
                    self.prices[index] = price_of(d)
                else:
                    index = len(self.deployments)
                    self.deployments.append(d)
                    self.prices.append(price_of(d))
                self.position[index] = at
                self.group_of[index] = name
                for endpoint in Endpoint:
                    if endpoint not in d.endpoints:
                        self.unsupported.setdefault((name, endpoint), []).append(index)
                c = d.config
                members.append((index, (c.weight, c.priority, c.rpm, c.tpm, c.max_in_flight)))
            groups.append((name + suffix, settings.strategy_for(name), members))
        self.sizes = {name: len(g.deployments) for name, g in registry.groups.items()}
        self._resolved = registry.routes
        # Each live deployment's limits as a limiter entity, for those that have any.
        self.limits: dict[int, tuple[str, int | None, int | None, int | None]] = {}
        self.by_id: dict[str, list[int]] = {}
        for index in self.position:
            c = self.deployments[index].config
            dep_id = self.deployments[index].id
            self.by_id.setdefault(dep_id, []).append(index)
            if c.rpm is not None or c.tpm is not None or c.max_in_flight is not None:
                self.limits[index] = (f"deployment:{dep_id}", c.rpm, c.tpm, c.max_in_flight)
        # Set when workers or instances share limits: each deployment's rpm, tpm and
        # requests in flight are then also taken from it at pick time (the native router's
        # own windows see this process's requests only).
        self._event_queues: dict[str, list[tuple[str, str, float]]] = {}
        self.deployment_limiter: DeploymentLimiter | None = (
            previous.deployment_limiter if previous is not None else None
        )
        if previous is None:
            # The breaker settings are the native router's keyword arguments, name for name.
            self.native = pllm_accel.Router(
                [
                    (name, strategy, [spec for _, spec in members])
                    for name, strategy, members in groups
                ],
                **dataclasses.asdict(settings.breaker),
                exploration=settings.exploration,
            )
        else:
            self.native = previous.native
            self.native.reconfigure(groups)
        self.requests_in_flight = 0
        self.retries_in_flight = 0
        # Label tuples built once per (deployment, outcome), not per request.
        self._attempt_labels: dict[tuple[int, str], Labels] = {}
        self._group_health: dict[str, float] = {}
        self._group_health_at = -math.inf

    # --- the loop --------------------------------------------------------------------------

    async def route(
        self, call: Call, endpoint: Endpoint, tokens: int, attempt: Attempt[T]
    ) -> Routed[T]:
        """Runs ``attempt`` on deployments of ``call.model`` or its fallbacks until one
        returns; raises the error the client sees. ``tokens`` is the request's estimate for
        the deployments' tpm limits."""
        model = call.model
        assert model is not None
        # One dict lookup once the name was served (the request path resolved it already).
        served = self._resolved.get(model) or self.registry.resolve(model)
        if self.settings.timeout is not None:
            call.deadline = self.clock() + self.settings.timeout
        chain = self.fallback_chain(served.group)
        visited: set[str] = set()
        last: GatewayError | None = None
        # In flight until finish(): the relay of a response counts, like its attempts.
        self.requests_in_flight += 1
        try:
            while chain:
                group = chain.pop(0)
                if group in visited:
                    continue
                if visited:
                    self.metrics.inc("pllm_fallbacks_total", (("from", model), ("to", group)))
                visited.add(group)
                base = self.capable(group, endpoint, first=len(visited) == 1)
                if base is None:
                    continue  # a fallback that cannot serve this endpoint is passed over
                named = None if served.deployments is None or group != served.group else served
                outcome = await self._in_group(call, group, base, tokens, attempt, named)
                if isinstance(outcome, Routed):
                    return outcome
                last = outcome.error
                if outcome.fallback is None and not last.retryable:
                    raise last  # the client's own error: passed through once
                chain = self.next_chain(group, outcome.fallback, chain)
            assert last is not None
            raise last
        except BaseException:
            self.requests_in_flight -= 1
            raise

    async def _in_group(
        self,
        call: Call,
        group: str,
        base: list[int],
        tokens: int,
        attempt: Attempt[T],
        named: Resolved | None = None,
    ) -> Routed[T] | _GroupSpent:
        """Attempts on one group's deployments until one answers or the group is spent;
        ``named``: the deployments of a wildcard group that send the requested name."""
        exclude = list(base)
        last: GatewayError | None = None
        capped: pllm_accel.Refusal | None = None
        while True:
            try:
                index = self.native.pick(self.native_names.get(group, group), exclude, tokens)
            except pllm_accel.NoDeploymentAvailable as e:
                if e.reason == "exhausted" and last is not None and self.may_retry(call):
                    exclude = list(base)  # every deployment tried: round again, after a pause
                    await self.backoff(call)
                    continue
                if last is None and capped is not None:
                    return _GroupSpent(
                        self.unavailable(group, "saturated", capped.retry_after), None
                    )
                return _GroupSpent(last or self.unavailable(group, e.reason, e.retry_after), None)
            ticket = 0
            if self.deployment_limiter is not None and index in self.limits:
                got = self.deployment_limiter.acquire((self.limits[index],), tokens)
                if isinstance(got, LeaseShort):
                    # This process's lease of the deployment's limit is being refilled.
                    await got.wait()
                    got = self.deployment_limiter.acquire((self.limits[index],), tokens)
                    if isinstance(got, LeaseShort):
                        got = got.refusal
                if not isinstance(got, int):
                    # Other workers or instances used the deployment's limit: saturated here.
                    self.native.report(index, "neutral", 0.0, 0.0, 0, tokens)
                    exclude.append(index)
                    capped = got
                    continue
                ticket = got
            if call.attempts:
                self.metrics.inc("pllm_retries_total", (("model", group),))
            dep = self.begin(call, group, index)
            price = self.prices[index]
            if named is not None and named.deployments is not None:
                at = self.position[index]
                dep, price = named.deployments[at], named.prices[at]
                call.served_by = call.model
            started = self.clock()
            try:
                result = await attempt(dep)
            except GatewayError as e:
                outcome, wait = failure_outcome(e)
                self.report(call, group, index, started, tokens, outcome, wait, ticket)
                fallback = fallback_kind(e)
                if fallback is not None or not e.retryable or not self.may_retry(call):
                    return _GroupSpent(e, fallback)
                last = e
                exclude.append(index)
                continue
            except BaseException:
                self.report(call, group, index, started, tokens, "neutral", ticket=ticket)
                raise
            return Routed(index, dep, group, call.attempts, started, result, price, ticket)

    # --- the steps -------------------------------------------------------------------------

    def fallback_chain(self, model: str) -> list[str]:
        return [model, *self.settings.fallbacks.get(model, ())]

    def next_chain(self, group: str, fallback: FallbackKind | None, rest: list[str]) -> list[str]:
        """After ``group`` is spent: its context-window or content-policy fallbacks when the
        rejection calls for them, else what was left of the chain."""
        if fallback == "context_window":
            return list(self.settings.context_window_fallbacks.get(group, ()))
        if fallback == "content_policy":
            return list(self.settings.content_policy_fallbacks.get(group, ()))
        return rest

    def capable(self, group: str, endpoint: Endpoint, *, first: bool) -> list[int] | None:
        """The group's deployments that cannot serve ``endpoint`` (excluded from picks);
        None for a fallback group that serves it nowhere, a 400 for the requested group."""
        base = self.unsupported.get((group, endpoint), [])
        # A fallback with no deployment that can be called (skipped, unconfigured) has no size.
        if len(base) < self.sizes.get(group, 0):
            return base
        if not first:
            return None
        raise GatewayError(
            400,
            f"model {group!r} does not support /v1/{endpoint.value}",
            param="model",
            code="unsupported_endpoint",
        )

    def begin(self, call: Call, group: str, index: int) -> Deployment:
        dep = self.deployments[index]
        call.attempts += 1
        call.deployment = dep.id
        call.served_by = group
        call.upstream_head_at = None
        if call.attempts > 1:
            self.retries_in_flight += 1
        return dep

    def finish(self, routed: Routed[T], call: Call, tokens: int, outcome: Outcome) -> None:
        """Reports how the successful attempt's response went, once it has been sent."""
        self.requests_in_flight -= 1
        self.report(
            call, routed.group, routed.index, routed.started, tokens, outcome, ticket=routed.ticket
        )

    def report(
        self,
        call: Call,
        group: str,
        index: int,
        started: float,
        tokens: int,
        outcome: Outcome,
        retry_after: float = 0.0,
        ticket: int = 0,
    ) -> None:
        """Ends one attempt: the native router's health, windows and latency, the shared
        deployment limit's ticket, and metrics."""
        if call.attempts > 1:
            self.retries_in_flight -= 1
        now = self.clock()
        head = call.upstream_head_at or now
        usage = call.usage
        used = usage.total_tokens if usage is not None else tokens
        ejected = self.native.ejections_total if outcome == "failure" else 0
        self.native.report(
            index,
            outcome,
            (now - started) * 1000,
            (head - started) * 1000,
            used,
            tokens,
            retry_after,
        )
        if outcome == "failure" and self.native.ejections_total > ejected:
            log.warning(
                f"deployment {self.deployments[index].id} ejected after repeated failures",
                extra={"fields": {"deployment": self.deployments[index].id, "model": group}},
            )
        if ticket and self.deployment_limiter is not None:
            self.deployment_limiter.release(ticket, used)
        key = (index, outcome)
        labels = self._attempt_labels.get(key)
        if labels is None:
            dep_id = self.deployments[index].id
            labels = (("model", group), ("deployment", dep_id), ("outcome", outcome))
            self._attempt_labels[key] = labels
        self.metrics.inc("pllm_attempts_total", labels)
        self.metrics.observe("pllm_upstream_duration_seconds", labels, head - started)

    def may_retry(self, call: Call) -> bool:
        s = self.settings
        if call.attempts > s.num_retries:
            return False
        if call.deadline is not None and self.clock() >= call.deadline:
            return False
        budget = max(s.retry_budget_min, s.retry_budget_ratio * self.requests_in_flight)
        return self.retries_in_flight < budget

    async def backoff(self, call: Call) -> None:
        s = self.settings
        delay = min(s.backoff_max, s.backoff_base * 2 ** max(0, call.attempts - 1)) * self.jitter()
        if call.deadline is not None:
            delay = min(delay, max(0.0, call.deadline - self.clock()))
        if delay > 0:
            await self.sleep(delay)

    def unavailable(self, group: str, reason: str, retry_after: float) -> GatewayError:
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

    def price(self, routed: Routed[T]) -> Price | None:
        return routed.price

    # --- views -----------------------------------------------------------------------------

    def take_events(self, consumer: str = "") -> list[tuple[str, str, float]]:
        """This process's ejections and 429 cool-downs since ``consumer``'s last call, as
        ``(kind, deployment id, until)`` (``until`` in seconds since the epoch), for other
        workers and instances to :meth:`hold`. Each consumer (the workers' exchange, the
        instances' bus) gets every event; one that stops asking keeps only the latest."""
        now = time.time()
        fresh = [
            (kind, self.deployments[index].id, now + seconds)
            for index, kind, seconds in self.native.take_events()
            if index in self.position
        ]
        queues = self._event_queues
        queues.setdefault(consumer, [])
        for queue in queues.values():
            queue.extend(fresh)
            del queue[:-_MAX_QUEUED_EVENTS]
        out, queues[consumer] = queues[consumer], []
        return out

    def hold(self, kind: str, deployment_id: str, until: float) -> None:
        """Applies another worker's or instance's ejection or cool-down (``kind``, for the
        log) of ``deployment_id`` until ``until`` (seconds since the epoch): the deployment
        then takes only what no healthy peer can."""
        seconds = until - time.time()
        if seconds <= 0:
            return
        for index in self.by_id.get(deployment_id, ()):
            self.native.hold(index, seconds)

    def live_health(self) -> list[pllm_accel.DeploymentHealth]:
        """The native router's view of this config's deployments (not those a reload retired)."""
        return [h for h in self.native.health() if h.deployment in self.position]

    def kept_indices(self) -> dict[str, list[tuple[int, Deployment]]]:
        """This config's deployments by group, for the engine of a reloaded config."""
        kept: dict[str, list[tuple[int, Deployment]]] = {}
        for index, name in self.group_of.items():
            kept.setdefault(name, []).append((index, self.deployments[index]))
        return kept

    def samples(self) -> list[tuple[str, Labels, float]]:
        """Gauges for ``/metrics``, read from the native router now."""
        out: list[tuple[str, Labels, float]] = []
        for h in self.live_health():
            labels = (("model", h.group), ("deployment", self.deployments[h.deployment].id))
            out.append(("pllm_deployment_health_score", labels, round(h.score, 2)))
            out.append(("pllm_deployment_circuit_open", labels, 1.0 if h.state == "open" else 0.0))
            out.append(("pllm_deployment_in_flight", labels, float(h.in_flight)))
        out.append(("pllm_ejections_total", (), float(self.native.ejections_total)))
        out.append(("pllm_in_flight", (), float(self.requests_in_flight)))
        return out

    def group_health(self, group: str) -> float:
        """A group's health, 0..1: the mean of its deployments' scores (0 while every
        circuit is open), read from the native router at most once a second."""
        now = self.clock()
        if now - self._group_health_at >= 1.0:
            self._group_health_at = now
            totals: dict[str, list[float]] = {}
            for h in self.live_health():
                score = 0.0 if h.state == "open" else h.score / 100
                totals.setdefault(h.group, []).append(score)
            self._group_health = {g: sum(s) / len(s) for g, s in totals.items()}
        return self._group_health.get(group, 0.0)

    def health_view(self) -> list[dict[str, object]]:
        return [
            {
                "deployment": self.deployments[h.deployment].id,
                "model": h.group,
                "provider": self.deployments[h.deployment].provider_name,
                "score": round(h.score, 1),
                "circuit": h.state,
                "in_flight": h.in_flight,
                "consecutive_failures": h.consecutive_failures,
                "ejections": h.ejections,
                "ttft_ms": None if h.ttft_ms is None else round(h.ttft_ms, 2),
            }
            for h in self.live_health()
        ]
