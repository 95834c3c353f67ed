"""Everything a request handler needs, built once at startup and passed explicitly."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import pllm_accel
from pllm.auth.master_key import MasterKeyAuth
from pllm.config import Settings
from pllm.observability.metrics import Metrics
from pllm.providers.base import Deployment
from pllm.routing.engine import RoutingEngine
from pllm.routing.groups import ModelRegistry
from pllm.routing.shedding import Admission


@dataclass(slots=True)
class AppState:
    settings: Settings
    registry: ModelRegistry
    auth: MasterKeyAuth | None
    engine: RoutingEngine
    admission: Admission
    metrics: Metrics
    created: int = field(default_factory=lambda: int(time.time()))
    # Bound to the worker's event loop at ASGI lifespan startup.
    http: pllm_accel.HttpClient | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def build(cls, settings: Settings, deployments: list[Deployment]) -> AppState:
        key = settings.general.master_key
        registry = ModelRegistry(deployments)
        metrics = Metrics()
        r = settings.router
        return cls(
            settings=settings,
            registry=registry,
            auth=MasterKeyAuth(key) if key else None,
            engine=RoutingEngine(r, registry, metrics),
            admission=Admission(r.max_in_flight, r.max_queue, r.queue_timeout, metrics),
            metrics=metrics,
        )

    def http_client(self) -> pllm_accel.HttpClient:
        if self.http is None:
            # Normally done at lifespan startup; servers without lifespan get it lazily.
            self.start()
        assert self.http is not None
        return self.http

    def start(self) -> None:
        if self.http is not None:
            return
        self._loop = asyncio.get_running_loop()
        self.http = pllm_accel.open_client(
            self._loop, worker_threads=self.settings.server.upstream_threads
        )

    def stop(self) -> None:
        if self.http is not None and self._loop is not None:
            pllm_accel.close_client(self._loop, self.http)
        self.http = None
