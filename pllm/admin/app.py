"""The admin API's ASGI application (its own listener, 8081 by default).

Like the gateway, it is one route table and no framework: each request is resolved to a
route (404/405), checked by the guard (401/403), then handled; every failure leaves as
OpenAI-shaped JSON. The store is opened at lifespan startup and closed at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from typing import Any

import msgspec

from pllm import reload
from pllm.admin import (
    budget_routes,
    cache_routes,
    key_routes,
    litellm,
    ops_routes,
    ui_routes,
    user_routes,
)
from pllm.admin.guard import Guard
from pllm.admin.openapi import admin_document
from pllm.admin.routing import LOCAL, Call, Caller, Reply, Route, Router, store_unavailable
from pllm.admin.schemas import ConfigReload, Health
from pllm.api.limits import check_head
from pllm.api.openapi import HTML, SWAGGER_ASSETS, SWAGGER_CACHE, swagger_asset, swagger_html
from pllm.config import ConfigError, Settings, load_settings
from pllm.errors import GatewayError
from pllm.http import ClientDisconnected, Receive, Request, Scope, Send
from pllm.observability.logging import configure_logging
from pllm.revision import revision_of
from pllm.store.engine import Store, StoreUnavailable, resolve_url
from pllm.store.principals import AlreadyExists, NotFound
from pllm.store.schema import open_at_head

log = logging.getLogger("pllm.admin")

_encode = msgspec.json.Encoder().encode


def api_routes() -> list[Route]:
    """Every route of the API proper (the documentation routes are added by the app)."""
    return [
        *key_routes.ROUTES,
        *user_routes.ROUTES,
        *budget_routes.ROUTES,
        *litellm.ROUTES,
        *cache_routes.ROUTES,
        *ops_routes.ROUTES,
        *ui_routes.ROUTES,
    ]


class AdminApp:
    def __init__(self, settings: Settings, *, store: Store | None = None) -> None:
        """``store``: an already open store (tests, ``--local``); otherwise the lifespan
        opens one from the config and closes it at shutdown."""
        self.settings = settings
        self.url = resolve_url(settings.general.database_url, settings.general.data_dir)
        self.store = store
        self._owns_store = store is None
        self.guard = Guard(settings.general)
        docs = [
            Route("GET", "/health", self._health, "Liveness probe", "Operations",
                  response=Health, guarded=False),
            Route("GET", "/openapi.json", self._openapi, "This API's OpenAPI document",
                  "Documentation", guarded=False, media=("application/json",)),
            Route("GET", "/swagger", self._swagger, "Swagger UI for this API",
                  "Documentation", guarded=False, media=("text/html",)),
            Route("GET", "/swagger/{file}", self._swagger_file, "Swagger UI's static files",
                  "Documentation", guarded=False, errors=(404,),
                  media=tuple({t.decode().split(";")[0]: 0 for t in SWAGGER_ASSETS.values()})),
            Route("POST", "/admin/config/reload", self._reload_config, "Reload the config",
                  "Operations", response=ConfigReload, errors=(409,),
                  refusals=((422, "The config is invalid: `problems` lists every problem"),),
                  description="Re-reads the config file the gateway was started with and swaps "
                  "it in without dropping a request; an invalid config is refused (422, every "
                  "problem listed) and the running one keeps serving."),
        ]  # fmt: skip
        self.router = Router([*api_routes(), *docs])
        self._document: bytes | None = None

    @property
    def routes(self) -> Sequence[Route]:
        return self.router.routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(Request(scope, receive, send), scope, trusted=False)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, req: Request, scope: Scope, *, trusted: bool) -> None:
        method: str = scope["method"]
        try:
            reply = await self._handle(req, method, scope.get("query_string", b""), trusted)
            body = reply.raw if reply.raw is not None else _encode(reply.payload)
            await req.respond(
                reply.status, body, content_type=reply.content_type, extra=reply.headers
            )
        except ClientDisconnected:
            req.status = 499
        except Exception as e:
            if req.started:
                log.exception("admin API: error after the response started")
                return
            await req.respond_error(_as_gateway_error(e, req))

    async def _handle(self, req: Request, method: str, query: bytes, trusted: bool) -> Reply:
        check_head(req)
        route, params = self.router.resolve(method, req.path)
        store = self.store
        caller: Caller = LOCAL
        if route.guarded:
            if store is None:
                raise store_unavailable()
            if not trusted:
                caller = await self.guard.check(req.headers, store)
        call = Call(req, store, params, caller, query)
        reply = await route.handler(call)
        if route.guarded and method != "GET" and reply.status < 400:
            log.info(
                "admin change",
                extra={"fields": {"method": method, "path": req.path, "by": caller.kind,
                                  "by_id": caller.id}},
            )  # fmt: skip
        return reply

    # ------------------------------------------------------------ documentation

    async def _health(self, call: Call) -> Reply:
        return Reply(200, Health(status="ok" if self.store is not None else "starting"))

    async def _reload_config(self, call: Call) -> Reply:
        path = os.environ.get("PLLM_CONFIG") or self.settings.file
        try:
            settings, deployments = await asyncio.to_thread(reload.load, path)
        except ConfigError as e:
            return Reply(422, _reload_reply(reload.invalid(path, e)))
        if reload.signal_supervisor():
            outcome = reload.Outcome(
                ok=True,
                revision=revision_of(path),
                warnings=[str(w) for w in settings.warnings],
                models=len({d.model_name for d in deployments}),
                deployments=len(deployments),
            )
            return Reply(200, _reload_reply(outcome, status="signalled"))
        outcomes = await reload.reload_all(path)
        if not outcomes:
            raise GatewayError(
                409,
                "No gateway runs in this process to reload: send SIGHUP to `pllm serve`.",
                code="no_gateway",
            )
        outcome = outcomes[0]
        return Reply(200 if outcome.ok else 422, _reload_reply(outcome))

    async def _openapi(self, call: Call) -> Reply:
        if self._document is None:
            self._document = admin_document(self.routes)
        return Reply(200, None, raw=self._document)

    async def _swagger(self, call: Call) -> Reply:
        page = swagger_html("/openapi.json", title="pllm admin API")
        return Reply(200, None, raw=page, content_type=HTML)

    async def _swagger_file(self, call: Call) -> Reply:
        asset = swagger_asset(call.params["file"])
        if asset is None:
            raise GatewayError(404, f"Invalid URL (GET {call.req.path})", code="unknown_url")
        return Reply(
            200,
            None,
            raw=asset[0],
            content_type=asset[1],
            headers=SWAGGER_CACHE,
        )

    # ------------------------------------------------------------ in-process calls

    async def call_local(
        self, method: str, path: str, *, query: bytes = b"", body: bytes = b""
    ) -> tuple[int, bytes]:
        """One request handled in this process without the guard: ``pllm … --local``, whose
        caller can open the database and so is already trusted with everything in it."""
        sent: list[dict[str, Any]] = []
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Any) -> None:
            sent.append(message)

        scope: dict[str, Any] = {
            "type": "http",
            "method": method,
            "path": path,
            "query_string": query,
            "headers": [],
        }
        await self._http(Request(scope, receive, send), scope, trusted=True)
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        data = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return status, data

    # ------------------------------------------------------------ lifespan

    async def startup(self) -> None:
        if self.store is not None:
            return
        self.store = await open_at_head(self.url)

    async def shutdown(self) -> None:
        if self.store is not None and self._owns_store:
            await self.store.close()
            self.store = None

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as e:  # reported to the server, which stops the worker
                    await send({"type": "lifespan.startup.failed", "message": str(e)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _as_gateway_error(e: Exception, req: Request) -> GatewayError:
    if isinstance(e, GatewayError):
        return e
    if isinstance(e, AlreadyExists):
        return GatewayError(409, str(e), code="already_exists")
    if isinstance(e, NotFound):
        return GatewayError(404, str(e), code="not_found")
    if isinstance(e, StoreUnavailable):
        log.warning("admin API: store unavailable", extra={"fields": {"error": str(e)}})
        return store_unavailable()
    log.exception("admin API: unhandled error", extra={"fields": {"request_id": req.request_id}})
    return GatewayError(500, "The admin API failed to process the request.", code="internal_error")


def _reload_reply(outcome: reload.Outcome, status: str | None = None) -> ConfigReload:
    fields = outcome.as_json()
    if status is not None:
        fields["status"] = status
    return ConfigReload(**fields)


def build_admin_app(settings: Settings, *, store: Store | None = None) -> AdminApp:
    configure_logging(settings.general.log_level)
    return AdminApp(settings, store=store)


def create_admin_app() -> AdminApp:
    """Granian's factory: the config path comes from ``PLLM_CONFIG``."""
    return build_admin_app(load_settings(os.environ.get("PLLM_CONFIG", "config.yaml")))
