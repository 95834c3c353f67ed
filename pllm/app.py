"""Builds the ASGI application from a config and owns its startup and shutdown.

Routing is one dict lookup on the path; there is no middleware stack. Each request gets a
:class:`Request` (the HTTP exchange) and a :class:`Call` (what serving it decides and
measures); the handler runs, every error leaves as JSON in the route's surface's shape, and
the exchange is accounted for (:func:`pllm.pipeline.account`) and logged whatever happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import gc
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from pllm import reload
from pllm.api import anthropic, health, limits, openai, openapi, responses
from pllm.call import Call
from pllm.config import ConfigError, Settings, load_settings
from pllm.errors import GatewayError
from pllm.http import ClientDisconnected, Receive, Request, Scope, Send
from pllm.observability.access_log import AccessLog, AccessRecord
from pllm.observability.logging import configure_logging
from pllm.pipeline import account
from pllm.providers.anthropic.errors import as_anthropic_error
from pllm.providers.registry import build_deployments
from pllm.reload import View
from pllm.revision import Revision, revision_of
from pllm.routing.host_share import HostShare
from pllm.state import AppState

Handler = Callable[[AppState, Request, Call], Awaitable[None]]
# Puts an error answered before the response started into the route's surface's shape.
Shape = Callable[[GatewayError], GatewayError]

log = logging.getLogger("pllm.app")

# path -> method -> handler, by who may call them (see _TABLES).
_API: dict[str, dict[str, Handler]] = {
    "/v1/chat/completions": {"POST": openai.chat_completions},
    "/v1/completions": {"POST": openai.completions},
    "/v1/embeddings": {"POST": openai.embeddings},
    "/v1/responses": {"POST": responses.responses},
    "/v1/models": {"GET": openai.list_models},
}
# Anthropic's surface: every error, a 401 included, is in Anthropic's shape.
_ANTHROPIC: dict[str, dict[str, Handler]] = {
    "/v1/messages": {"POST": anthropic.messages},
    "/v1/messages/count_tokens": {"POST": anthropic.count_tokens},
}
_OPEN: dict[str, dict[str, Handler]] = {
    "/health": {"GET": health.health},
    "/ready": {"GET": health.ready},
    "/metrics": {"GET": health.metrics},
    # The API's own description; nothing in it is secret.
    "/openapi.json": {"GET": openapi.openapi_json},
    "/swagger": {"GET": openapi.swagger},
    **{f"/swagger/{name}": {"GET": openapi.swagger_file} for name in openapi.SWAGGER_ASSETS},
}
# Operational views that name deployments: admins only.
_OPERATOR: dict[str, dict[str, Handler]] = {
    "/health/deployments": {"GET": health.deployments},
}
_MODEL_PREFIXES = ("/v1/models/", "/models/")


class _Access(enum.Enum):
    OPEN = "open"  # no credential
    KEY = "key"  # any valid credential
    ADMIN = "admin"  # a credential with the admin role


def _forbidden() -> GatewayError:
    return GatewayError(
        403, "This route needs an admin credential.", code="forbidden", type="permission_error"
    )


def _as_is(err: GatewayError) -> GatewayError:
    return err


Route = tuple[dict[str, Handler], _Access, Shape]
# Each table with who may call it, the shape of its errors, and whether its paths are also
# served without /v1 (OpenAI's SDKs build them from a base URL that may or may not end in /v1).
_TABLES: tuple[tuple[dict[str, dict[str, Handler]], _Access, Shape, bool], ...] = (
    (_API, _Access.KEY, _as_is, True),
    (_ANTHROPIC, _Access.KEY, as_anthropic_error, True),
    (_OPEN, _Access.OPEN, _as_is, False),
    (_OPERATOR, _Access.ADMIN, _as_is, False),
)


def _routes() -> dict[str, Route]:
    routes: dict[str, Route] = {}
    for table, access, shape, bare in _TABLES:
        for path, methods in table.items():
            routes[path] = (methods, access, shape)
            if bare:
                routes[path.removeprefix("/v1")] = (methods, access, shape)
    return routes


_GC_YOUNG = 20_000
_SNAPSHOT_INTERVAL = 1.0  # seconds between a worker's metrics snapshots


class GatewayApp:
    def __init__(self, state: AppState) -> None:
        self.state = state
        self.routes = _routes()
        self.access_log = AccessLog()
        self.log_requests = state.settings.general.access_log
        # None unless general_settings.otel is on: then the API routes are traced.
        self.tracing = state.tracing
        self._reloading = asyncio.Lock()
        self._unregister: Callable[[], None] = lambda: None
        self._unview: Callable[[], None] = lambda: None
        self._sharing: list[asyncio.Future[None]] = []

    def _start_sharing(self) -> None:
        """Under a supervisor (``--workers`` > 1): this worker's metrics go to the shared
        directory once a second, where the supervisor's ``/metrics`` merges them, and its
        deployments' ejections and cool-downs are exchanged with the other workers'."""
        directory = os.environ.get("PLLM_SHARED_DIR")
        if directory:
            index = os.environ.get("PLLM_WORKER_INDEX", "0")
            path = Path(directory) / f"metrics-{index}.json"
            self._sharing.append(asyncio.ensure_future(self._write_snapshots(path)))
            share = HostShare(directory, int(index))
            self._sharing.append(asyncio.ensure_future(share.run(lambda: self.state.engine)))

    async def _write_snapshots(self, path: Path) -> None:
        try:
            while True:
                health.write_snapshot(self.state, path)
                await asyncio.sleep(_SNAPSHOT_INTERVAL)
        except asyncio.CancelledError:
            health.write_snapshot(self.state, path)  # the last word, counters complete
            raise
        except OSError as e:
            log.error(f"cannot write metrics for the supervisor: {e}")

    async def _stop_sharing(self) -> None:
        for task in self._sharing:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def reload(self, path: str) -> reload.Outcome:
        """Re-reads the config at ``path`` and swaps it in (see :mod:`pllm.reload`); an
        invalid config changes nothing."""
        async with self._reloading:
            old = self.state
            try:
                settings, deployments = await asyncio.to_thread(reload.load, path)
            except ConfigError as e:
                outcome = reload.invalid(path, e)
                old.metrics.inc("pllm_config_reloads_total", (("result", "invalid"),))
                return outcome
            new = await asyncio.to_thread(old.reloaded, settings, deployments)
            new.revision = Revision(revision_of(path), time.time())
            self.state = new
            self.log_requests = settings.general.access_log
            if settings.general.log_level != old.settings.general.log_level:
                configure_logging(settings.general.log_level)
            outcome = reload.Outcome(
                ok=True,
                revision=new.revision.hash,
                warnings=[str(w) for w in settings.warnings],
                restart_needed=reload.restart_needed(old.settings, settings),
                models=len(new.registry.groups),
                deployments=len(deployments),
            )
            new.metrics.inc("pllm_config_reloads_total", (("result", "ok"),))
            log.info(
                f"config reloaded: revision {outcome.revision}, {outcome.models} models",
                extra={"fields": {"restart_needed": outcome.restart_needed}},
            )
            if outcome.restart_needed:
                log.warning(
                    "changed settings that apply only after a restart: "
                    + ", ".join(outcome.restart_needed)
                )
            return outcome

    def view(self) -> View:
        """The admin API's view of this gateway (see :func:`pllm.reload.register_view`)."""
        state = self.state
        return View(
            state.settings, state.revision.hash, state.revision.loaded_at,
            state.engine.health_view(),
        )  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # HTTP is handled here rather than in a method it awaits: one frame less on every
        # resumption of every request.
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self._lifespan(receive, send)
            return
        req = Request(scope, receive, send)
        call = Call()
        # Read once: a reload swaps self.state, and this request finishes on the config it
        # began with.
        state = self.state
        method: str = scope["method"]
        shape: Shape = _as_is
        traced = None
        try:
            handler, access, shape = self._resolve(req, method)
            if access is not _Access.OPEN:
                if self.tracing is None:
                    call.principal = await state.auth.authenticate(req.headers)
                else:
                    traced = self.tracing.start(req, method)
                    call.principal = await self.tracing.auth(state.auth.authenticate, req.headers)
                if access is _Access.ADMIN and call.principal.role != "admin":
                    raise _forbidden()
            await handler(state, req, call)
        except GatewayError as e:
            if req.started:
                log.warning(
                    "error after response start",
                    extra={"fields": {"request_id": req.request_id, "code": e.code}},
                )
            else:
                await req.respond_error(shape(e))
        except ClientDisconnected:
            req.status, req.error = 499, "client_disconnected"
        except Exception:
            log.exception("unhandled error", extra={"fields": {"request_id": req.request_id}})
            if not req.started:
                await req.respond_error(
                    shape(
                        GatewayError(
                            500, "The gateway failed to process the request.", code="internal_error"
                        )
                    )
                )
        finally:
            account(state, req, call)
            if self.log_requests:
                self._log_access(req, call, method)
            if traced is not None:
                traced.finish(req, call)

    def _resolve(self, req: Request, method: str) -> tuple[Handler, _Access, Shape]:
        limits.check_head(req)
        path = req.path
        entry = self.routes.get(path)
        if entry is None and path.startswith(_MODEL_PREFIXES):
            entry = ({"GET": openai.get_model}, _Access.KEY, _as_is)
        if entry is None:
            raise GatewayError(404, f"Invalid URL ({method} {path})", code="unknown_url")
        methods, access, shape = entry
        handler = methods.get(method)
        if handler is None:
            raise GatewayError(
                405,
                f"Method {method} not allowed for {path}",
                code="method_not_allowed",
                headers=(("allow", ", ".join(methods)),),
            )
        return handler, access, shape

    def _log_access(self, req: Request, call: Call, method: str) -> None:
        usage = call.usage
        self.access_log.write(
            AccessRecord(
                ts=self.access_log.timestamp(),
                level="info",
                logger="pllm.access",
                msg="request",
                request_id=req.request_id,
                method=method,
                path=req.path,
                status=req.status,
                duration_ms=round((time.perf_counter() - req.started_at) * 1000, 3),
                model=call.model,
                deployment=call.deployment,
                stream=call.stream if call.model is not None else None,
                prompt_tokens=usage.prompt_tokens if usage is not None else None,
                completion_tokens=usage.completion_tokens if usage is not None else None,
                cost=call.cost,
                key_id=call.principal.key_id,
                user_id=call.principal.user_id,
                error=req.error,
            )
        )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.state.start()
                    self._unregister = reload.register(self.reload)
                    self._unview = reload.register_view(self.view)
                    self._start_sharing()
                    # Startup objects live as long as the process: keep them out of GC passes.
                    gc.freeze()
                    # A request allocates a few hundred container objects that refcounting
                    # frees; collecting the young generation every 700 allocations found
                    # nothing but the in-flight requests' objects, thousands of times a second.
                    gc.set_threshold(_GC_YOUNG, *gc.get_threshold()[1:])
                except Exception as e:  # reported to the server, which stops the worker
                    await send({"type": "lifespan.startup.failed", "message": str(e)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._unregister()
                self._unview()
                await self._stop_sharing()
                await self.state.stop()
                self.access_log.flush()
                await send({"type": "lifespan.shutdown.complete"})
                return


def build_app(settings: Settings) -> GatewayApp:
    configure_logging(settings.general.log_level)
    return GatewayApp(AppState.build(settings, build_deployments(settings)))


def create_app() -> GatewayApp:
    """Granian's factory: the config path comes from ``PLLM_CONFIG``."""
    return build_app(load_settings(os.environ.get("PLLM_CONFIG", "config.yaml")))
