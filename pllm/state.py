"""Everything a request handler needs, built once at startup and passed explicitly."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pllm_accel
from pllm.auth.authenticator import Authenticator
from pllm.cache.service import ResponseCache
from pllm.capacity import worker_capacity
from pllm.cluster.budgets import BudgetLeases
from pllm.config import Settings
from pllm.observability.metrics import Metrics
from pllm.pricing.table import Price, PriceTable
from pllm.providers.codec import Deployment
from pllm.revision import Revision, revision_of
from pllm.routing.auto import AutoRouter, build_auto_routers
from pllm.routing.engine import RoutingEngine
from pllm.routing.groups import ModelRegistry
from pllm.routing.shedding import Admission
from pllm.tenancy.accounting import Accounting
from pllm.tenancy.gate import Gate

if TYPE_CHECKING:
    from pllm.cluster.node import Node
    from pllm.observability.tracing import Tracing

log = logging.getLogger("pllm.state")


@dataclass(slots=True)
class AppState:
    settings: Settings
    registry: ModelRegistry
    auth: Authenticator
    engine: RoutingEngine
    admission: Admission
    metrics: Metrics
    accounting: Accounting
    gate: Gate
    created: int = field(default_factory=lambda: int(time.time()))
    # Bound to the worker's event loop at ASGI lifespan startup.
    http: pllm_accel.HttpClient | None = None
    # Set when a shutdown began: /ready answers 503 so load balancers stop sending.
    draining: bool = False
    # auto_router/ names (pllm.routing.auto): the model group each request goes to.
    auto_routers: dict[str, AutoRouter] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = None
    # OpenTelemetry's tracer; None (the default) keeps the SDK unimported and the hooks idle.
    tracing: Tracing | None = None
    # The config file this state was built from, as /ready and /metrics name it.
    revision: Revision = field(default_factory=lambda: Revision("", time.time()))
    # Several instances sharing a Redis (router_settings.redis_*); None: this one alone.
    cluster: Node | None = None
    # The response cache (litellm_settings.cache); None: off.
    cache: ResponseCache | None = None
    # Without Redis, the workers of one host lease budgets from each other (host_leases).
    host_budgets: BudgetLeases | None = None
    _host_budgets_task: asyncio.Task[None] | None = None

    @classmethod
    def build(cls, settings: Settings, deployments: list[Deployment]) -> AppState:
        registry = ModelRegistry(deployments)
        metrics = Metrics()
        r = settings.router
        price_by_id, group_prices = _prices(registry, deployments)
        accounting = Accounting(settings, metrics)
        jwt = None
        if settings.general.jwt is not None:
            from pllm.auth.jwt import JwtVerifier  # PyJWT and cryptography only when used

            jwt = JwtVerifier(settings.general.jwt)
        cluster = _cluster(settings)
        state = cls(
            revision=Revision(revision_of(settings.file), time.time()),
            settings=settings,
            registry=registry,
            auth=Authenticator(settings.general, jwt=jwt, load_budgets=accounting.load_budgets),
            engine=RoutingEngine(r, registry, metrics, lambda d: price_by_id[d.id]),
            # Unset: as many as the worker's file descriptors hold (pllm.capacity).
            admission=Admission(
                r.max_in_flight or worker_capacity().requests, r.max_queue, r.queue_timeout, metrics
            ),
            metrics=metrics,
            accounting=accounting,
            gate=Gate(
                accounting.ledger,
                group_prices,
                metrics,
                limiter=cluster.limiter if cluster is not None else None,
            ),
            auto_routers=build_auto_routers(
                settings,
                {name: group.deployments for name, group in registry.groups.items()},
                lambda d: price_by_id[d.id].input + price_by_id[d.id].output,
            ),
            tracing=_tracing(settings),
            cluster=cluster,
            cache=ResponseCache(settings.cache, metrics) if settings.cache is not None else None,
        )
        if cluster is not None:
            cluster.attach(state.engine)
            accounting.ledger.cluster = cluster.budgets
        elif (shared := os.environ.get("PLLM_SHARED_DIR")) and _workers() > 1:
            state.host_budgets = _host_budgets(shared)
            accounting.ledger.cluster = state.host_budgets
        return state

    def reloaded(self, settings: Settings, deployments: list[Deployment]) -> AppState:
        """The state of a reloaded config, for requests that begin from now on: new model
        groups, routes, fallbacks and auto routers; the router's state of every unchanged
        deployment, and everything that outlives a config (the upstream client, keys, spend,
        limits in flight, metrics), carried over. ``self`` keeps serving the requests that
        began under it."""
        registry = ModelRegistry(deployments)
        price_by_id, group_prices = _prices(registry, deployments)
        engine = RoutingEngine(
            settings.router,
            registry,
            self.metrics,
            lambda d: price_by_id[d.id],
            previous=self.engine,
        )
        self.gate.reprice(group_prices)
        if self.cluster is not None:
            self.cluster.reloaded(engine, settings.file)
        auto_routers = build_auto_routers(
            settings,
            {name: group.deployments for name, group in registry.groups.items()},
            lambda d: price_by_id[d.id].input + price_by_id[d.id].output,
        )
        return dataclasses.replace(
            self,
            settings=settings,
            registry=registry,
            engine=engine,
            auto_routers=auto_routers,
        )

    def http_client(self) -> pllm_accel.HttpClient:
        if self.http is None:
            # Normally done at lifespan startup; servers without lifespan get it lazily.
            self.start_http()
        assert self.http is not None
        return self.http

    def start_http(self) -> None:
        if self.http is not None:
            return
        self._loop = asyncio.get_running_loop()
        self.http = pllm_accel.open_client(
            self._loop, worker_threads=self.settings.server.upstream_threads
        )

    def started(self) -> bool:
        """Once the upstream client runs and the first attempt to open the store has ended
        (connected, or found the database down: the gateway serves either way, and a later
        outage must not take every instance out of rotation at once)."""
        return self.http is not None and self.accounting.first_attempt_done

    def ready(self) -> bool:
        """Started and not draining: what load balancers should send requests to."""
        return not self.draining and self.started()

    async def start(self) -> None:
        if os.environ.get("PLLM_SHARED_DIR") and self.engine.deployment_limiter is None:
            # Workers of one host: deployments' limits too are held once for all of them.
            self.engine.deployment_limiter = self.gate.limiter
        self.start_http()
        self.auth.start()
        await self.accounting.start(on_open=self.auth.attach)
        if self.cluster is not None:
            await self.cluster.start()
        if self.host_budgets is not None:
            self._host_budgets_task = asyncio.get_running_loop().create_task(
                self.host_budgets.refill()
            )

    async def stop(self) -> None:
        if self.cluster is not None:
            await self.cluster.stop()
        if self._host_budgets_task is not None:
            self._host_budgets_task.cancel()
            await asyncio.gather(self._host_budgets_task, return_exceptions=True)
        await self.auth.stop()
        await self.accounting.stop()
        if self.tracing is not None:
            await self.tracing.shutdown()
        if self.cache is not None:
            await self.cache.close()
        if self.http is not None and self._loop is not None:
            pllm_accel.close_client(self._loop, self.http)
        self.http = None


def _workers() -> int:
    """How many workers the supervisor runs (``PLLM_WORKERS``; 1 without one)."""
    try:
        return int(os.environ.get("PLLM_WORKERS", "1"))
    except ValueError:
        return 1


def _host_budgets(shared: str) -> BudgetLeases:
    from pllm.cluster.host_leases import HostLeases

    workers = _workers()
    return BudgetLeases(HostLeases(os.path.join(shared, "budgets.sqlite")), lambda: workers)


def _prices(
    registry: ModelRegistry, deployments: list[Deployment]
) -> tuple[dict[str, Price], dict[str, list[Price]]]:
    """Each deployment's price by id, and each group's prices in member order."""
    prices = PriceTable.load()
    price_by_id: dict[str, Price] = {d.id: prices.for_deployment(d.config) for d in deployments}
    for d in deployments:
        if not price_by_id[d.id].known:
            log.warning(
                f"no price for model {d.upstream_model!r}: its cost is recorded as 0 "
                "(set input_cost_per_token / output_cost_per_token on the deployment)",
                extra={"fields": {"deployment": d.id}},
            )
    group_prices = {
        name: [price_by_id[d.id] for d in group.deployments]
        for name, group in registry.groups.items()
    }
    return price_by_id, group_prices


def _cluster(settings: Settings) -> Node | None:
    redis = settings.router.redis
    if redis is None:
        return None
    # redis-py and the cluster code load only when a Redis is configured.
    from pllm.cluster.node import Node

    return Node(redis, settings.file)


def _tracing(settings: Settings) -> Tracing | None:
    otel = settings.general.otel
    if otel is None:
        return None
    # The SDK and the exporter are imported here only: a gateway without tracing never loads
    # them (memory, startup time).
    try:
        from pllm.observability.tracing import Tracing, tracing_enabled
    except ImportError as e:
        raise RuntimeError(
            f"general_settings.otel needs OpenTelemetry ({e}): pip install 'pllm[otel]'"
        ) from None
    return Tracing.start_exporting(otel) if tracing_enabled(otel) else None
