"""``pllm serve`` and ``pllm check-config``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pllm import reload, supervisor
from pllm.capacity import Capacity, raise_fd_limit
from pllm.config import ConfigError, Problem, Settings, load_settings
from pllm.observability.logging import configure_logging
from pllm.providers.codec import Deployment
from pllm.providers.deployments import Unconfigured
from pllm.providers.registry import build_deployments

log = logging.getLogger("pllm.cli")


def _config_path(given: str | None) -> str:
    return given or os.environ.get("PLLM_CONFIG") or "config.yaml"


def _load(path: str) -> tuple[Settings, list[Deployment]]:
    """The settings (with every warning, the deployments' too) and the deployments."""
    settings = load_settings(path)
    warnings: list[Problem] = []
    try:
        deployments = build_deployments(settings, warnings=warnings)
    except ConfigError as e:
        raise ConfigError(e.problems, [*settings.warnings, *e.warnings]) from None
    return replace(settings, warnings=(*settings.warnings, *warnings)), deployments


def _load_or_report(path: str) -> tuple[Settings, list[Deployment]] | None:
    """The config, or None after printing every problem in it."""
    try:
        return _load(path)
    except ConfigError as e:
        _print_problems(e)
        return None


Command = Callable[[argparse.Namespace], int]
Configured = Callable[[argparse.Namespace, str, Settings, list[Deployment]], int]


def _with_config(run: Configured) -> Command:
    """A command that needs ``--config``: ``run`` gets its path, settings and deployments,
    or the command exits 2 after printing every problem in it."""

    def command(args: argparse.Namespace) -> int:
        path = _config_path(args.config)
        loaded = _load_or_report(path)
        return 2 if loaded is None else run(args, path, *loaded)

    return command


def _print_problems(err: ConfigError) -> None:
    """The errors that refuse the config, then the warnings it would have served with."""
    n = len(err.problems)
    print(f"config has {n} problem{'s' if n != 1 else ''}:", file=sys.stderr)
    for p in err.problems:
        print(f"  {p}", file=sys.stderr)
    for w in err.warnings:
        print(f"warning: {w}", file=sys.stderr)


def _model_summary(deployments: list[Deployment]) -> dict[str, list[str]]:
    models: dict[str, list[str]] = {}
    for d in deployments:
        models.setdefault(d.model_name, []).append(d.provider_name)
    return models


def check_config(args: argparse.Namespace) -> int:
    """Exit 1 when the config has errors (printed to stderr, with its warnings); exit 0
    when it serves, printing its notes, its warnings and the models it serves."""
    path = _config_path(args.file)
    loaded = _load_or_report(path)
    if loaded is None:
        return 1
    settings, deployments = loaded
    for note in settings.notes:
        print(f"note: {note}")
    for warning in settings.warnings:
        print(f"warning: {warning}")
    models: dict[str, list[str]] = {}
    for d in deployments:
        label = d.provider_name
        if isinstance(d.target, Unconfigured):
            label += " (not configured)"
        models.setdefault(d.model_name, []).append(label)
    n_warnings = len(settings.warnings)
    print(
        f"{path}: OK — {len(models)} models, {len(deployments)} deployments"
        + (f", {n_warnings} warning{'s' if n_warnings != 1 else ''}" if n_warnings else "")
    )
    for name, providers in models.items():
        served = " (wildcard: serves the names it matches)" if "*" in name else ""
        print(f"  {name}: {', '.join(providers)}{served}")
    for cfg in settings.deployments:
        if cfg.provider == "auto_router":
            picks = cfg.provider_params.get("adaptive_router_config", {}).get("available_models")
            print(f"  {cfg.model_name}: auto_router, picks among {', '.join(picks)}")
    return 0


@_with_config
def serve(
    args: argparse.Namespace, path: str, settings: Settings, deployments: list[Deployment]
) -> int:
    configure_logging(settings.general.log_level)
    server = settings.server
    host = args.host or server.host
    port = args.port if args.port is not None else server.port
    workers = args.workers or server.workers
    for note in settings.notes:
        log.info(note)
    for warning in settings.warnings:
        log.warning(str(warning))
    models = _model_summary(deployments)
    log.info(
        "models loaded",
        extra={"fields": {"models": {name: len(p) for name, p in models.items()}}},
    )
    if settings.general.master_key is None:
        log.warning("no master_key configured: the API accepts requests without a key")
    log.info(
        f"OpenAI-compatible API listening on http://{host}:{port}/v1",
        extra={"fields": {"port": port, "workers": workers}},
    )
    # Workers load the same file; an absolute path survives a different working directory.
    os.environ["PLLM_CONFIG"] = str(Path(path).resolve())
    admin_port = args.admin_port if args.admin_port is not None else settings.general.admin_port
    capacity = Capacity.of(raise_fd_limit())
    backpressure = server.backpressure or capacity.connections
    max_in_flight = settings.router.max_in_flight or capacity.requests
    log.info(
        f"each worker holds up to {max_in_flight} requests and {backpressure} connections "
        f"at once (file descriptor limit {capacity.fd_limit})",
        extra={"fields": {"fd_limit": capacity.fd_limit}},
    )
    general = settings.general
    metrics_port = args.metrics_port if args.metrics_port is not None else general.metrics_port
    supervised = bool(os.environ.get("PLLM_SUPERVISOR_PID"))
    if supervised:
        supervisor.bind_to_parent()
    else:
        # pllm's workers share their port (SO_REUSEPORT): without this check a second
        # gateway on the same port would silently take half of the first one's connections.
        listeners = [(host, port), (host, metrics_port)]
        if general.master_key is not None:
            listeners.append((general.admin_host, admin_port))
        for address, taken in listeners:
            busy = supervisor.port_in_use(address, taken) if taken else None
            if busy:
                return supervisor.exit_with(busy)
        if metrics_port:
            log.info(f"Prometheus metrics on http://{host}:{metrics_port}/metrics")
    if workers > supervisor.MAX_WORKERS:
        return supervisor.exit_with(f"at most {supervisor.MAX_WORKERS} workers (asked: {workers})")
    if workers > 1:
        config = os.environ["PLLM_CONFIG"]

        def worker(index: int) -> list[str]:
            command = [sys.executable, "-m", "pllm.cli", "serve", "--config", config]
            command += ["--workers", "1", "--host", host, "--port", str(port)]
            # One admin API (in worker 0); one metrics listener (the supervisor's).
            command += ["--admin-port", str(admin_port if index == 0 else 0), "--metrics-port", "0"]
            return command

        return supervisor.Supervisor(
            worker,
            workers,
            metrics=(host, metrics_port) if metrics_port else None,
            watch=config if args.watch else None,
        ).run()
    # One process serves both APIs: no supervisor, no second interpreter for the admin
    # API, and ready as soon as it has started.
    return _run_embedded(
        settings,
        host,
        port,
        backpressure,
        _admin_address(settings, admin_port),
        metrics=(host, metrics_port) if metrics_port else None,
        drain_delay=general.drain_delay,
        drain_timeout=general.drain_timeout,
        watch=os.environ["PLLM_CONFIG"] if args.watch and not supervised else None,
    )


def _admin_address(settings: Settings, port: int) -> tuple[str, int] | None:
    general = settings.general
    if port == 0:
        return None
    if general.master_key is None:
        log.warning("admin API not started: set general_settings.master_key to enable it")
        return None
    log.info(
        f"admin API listening on http://{general.admin_host}:{port}",
        extra={"fields": {"port": port}},
    )
    return general.admin_host, port


class _QuietEmbedded(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "experimental" not in record.getMessage()


_HARD_STOP_AFTER = 10.0  # seconds past the drain timeout


def _hard_stop() -> None:
    log.error("shutdown still not done 10 s after the drain timeout: exiting")
    os._exit(1)


def _run_embedded(
    settings: Settings,
    host: str,
    port: int,
    backpressure: int | None,
    admin: tuple[str, int] | None,
    *,
    metrics: tuple[str, int] | None = None,
    drain_delay: float = 0.0,
    drain_timeout: float = 30.0,
    watch: str | None = None,
) -> int:
    """Serves the gateway (and the admin API, on its own listener) from this process, on
    one event loop, with Granian's embedded server: the same Rust HTTP server and ASGI
    bridge as a worker process, run as tasks of this loop. SIGINT/SIGTERM stop both
    listeners gracefully: see ``drain`` below; a second signal exits at once. SIGHUP (and,
    with ``watch``, a change to that file) reloads the config in place (:mod:`pllm.reload`)."""
    import asyncio
    import importlib

    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server.embed import Server

    # Both apps are built from the settings loaded at start: the file may have changed since
    # (a reload reads it again, on purpose).
    build_app = importlib.import_module("pllm.app").build_app
    apps: list[Any] = []

    def gateway_app() -> Any:
        apps.append(build_app(settings))
        return apps[-1]

    gateway = Server(
        gateway_app,
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        websockets=False,
        backlog=4096,  # see _run_granian
        backpressure=backpressure,
        log_level=LogLevels.warning,
    )
    servers = [gateway]

    async def serve_admin_when_ready(address: tuple[str, int]) -> None:
        # The admin API starts once the gateway is ready, and its modules (SQLAlchemy's ORM:
        # half a second of imports) load on a thread, so the gateway answers meanwhile.
        while not (apps and apps[0].state.ready()):  # noqa: ASYNC110 - a probe, no event
            await asyncio.sleep(0.01)
        module = await asyncio.to_thread(importlib.import_module, "pllm.admin.app")
        build_admin_app = module.build_admin_app
        server = Server(
            lambda: build_admin_app(settings),
            factory=True,
            address=address[0],
            port=address[1],
            interface=Interfaces.ASGI,
            websockets=False,
            log_level=LogLevels.warning,
        )
        servers.append(server)
        if not stopping:
            await server.serve()

    async def serve_metrics_when_ready(address: tuple[str, int]) -> None:
        # Not a reason to stop the gateway: a port in use is logged and the gateway serves on.
        from pllm.api.health import metrics_app

        while not (apps and apps[0].state.started()):  # noqa: ASYNC110 - a probe, no event
            await asyncio.sleep(0.01)
        server = Server(
            metrics_app(lambda: apps[0].state),
            address=address[0],
            port=address[1],
            interface=Interfaces.ASGI,
            websockets=False,
            log_level=LogLevels.warning,
        )
        servers.append(server)
        if stopping:
            return
        try:
            await server.serve()
        except Exception as e:
            log.error(f"metrics listener on port {address[1]} failed: {e}")

    logging.getLogger("_granian").addFilter(_QuietEmbedded())

    stopping = False

    async def run() -> bool:
        nonlocal stopping
        loop = asyncio.get_running_loop()

        def stop_listeners() -> None:
            nonlocal stopping
            stopping = True
            for server in servers:
                server.stop()  # type: ignore[no-untyped-call]

        def cut_streams() -> None:
            from pllm.pipeline.relay import open_streams

            if cut := open_streams.cut_all():
                log.warning(f"drain timeout: ending {cut} open streams with an error event")

        def on_signal(signum: int) -> None:
            if stopping:
                log.warning("second signal: exiting now")
                os._exit(1)
            drain(signum)

        def drain(signum: int) -> None:
            # /ready turns 503 at once; the listeners close after drain_delay (for load
            # balancers to notice); requests in flight get drain_timeout more to finish, then
            # open streams end with an error event; the apps' lifespans flush spend.
            nonlocal stopping
            stopping = True
            if apps:
                apps[0].state.draining = True
            log.info(
                f"{signal.Signals(signum).name}: draining (listeners close in {drain_delay:g} s, "
                f"streams get {drain_timeout:g} s more)"
            )
            loop.call_later(drain_delay, stop_listeners)
            loop.call_later(drain_delay + drain_timeout, cut_streams)
            # Past this, something ignores cancellation: do not hang the shutdown forever.
            loop.call_later(drain_delay + drain_timeout + _HARD_STOP_AFTER, _hard_stop)

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal, signum)
        reloads: set[asyncio.Task[object]] = set()

        def on_hangup() -> None:
            log.info("SIGHUP: reloading the config")
            task = asyncio.ensure_future(reload.reload_all())
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop.add_signal_handler(signal.SIGHUP, on_hangup)
        tasks = [asyncio.ensure_future(gateway.serve())]
        if admin is not None:
            tasks.append(asyncio.ensure_future(serve_admin_when_ready(admin)))
        extra = []
        if metrics is not None:
            extra.append(asyncio.ensure_future(serve_metrics_when_ready(metrics)))
        if watch is not None:
            extra.append(asyncio.ensure_future(reload.watch(watch)))
        # A listener that ends on its own (its app failed to start, or crashed) ends both.
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        failed = not stopping
        stop_listeners()
        for task in tasks:
            if not task.done() and task is not tasks[0]:
                task.cancel()  # the admin API still waiting for the gateway to be ready
        for task in extra:
            if not task.done():
                task.cancel()
        await asyncio.gather(*extra, return_exceptions=True)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        failed = failed or any(
            isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)
            for r in results
        )
        return not failed

    try:
        import uvloop

        ok = uvloop.run(run())
    except ImportError:
        ok = asyncio.run(run())
    if not ok:
        log.error("the server stopped: its app failed to start or crashed (see above)")
        return 1
    return 0


def _migrate(settings: Settings) -> bool:
    """Brings the database to the current schema (``pllm db upgrade``). Servers leave this
    to their workers and the admin app, which check the schema revision at start and migrate
    only when it is behind, so alembic is never loaded into a long-lived server process."""
    from pllm.store.engine import resolve_url
    from pllm.store.migrate import upgrade

    try:
        upgrade(resolve_url(settings.general.database_url, settings.general.data_dir))
    except Exception as e:
        # The URL may carry a password: name the failure, not the URL.
        log.error("database migration failed", extra={"fields": {"error": type(e).__name__}})
        print(f"pllm: cannot prepare the database ({type(e).__name__}: {e})", file=sys.stderr)
        return False
    return True


def stop_child(child: subprocess.Popen[bytes]) -> None:
    """SIGINT, as Ctrl-C would send, then SIGKILL if it is still running after 10 s."""
    if child.poll() is None:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@_with_config
def serve_admin(
    args: argparse.Namespace, path: str, settings: Settings, _: list[Deployment]
) -> int:
    """The admin API alone (``pllm serve`` starts it as a child process)."""
    configure_logging(settings.general.log_level)
    # The app migrates at startup if the schema is behind (pllm.store.schema.open_at_head).
    os.environ["PLLM_CONFIG"] = str(Path(path).resolve())
    general = settings.general
    host = args.host or general.admin_host
    port = args.port if args.port is not None else general.admin_port
    _run_granian("pllm.admin.app:create_admin_app", host, port, 1, None)
    return 0


@_with_config
def db_upgrade(args: argparse.Namespace, path: str, settings: Settings, _: list[Deployment]) -> int:
    if not _migrate(settings):
        return 1
    print("database is at the current schema")
    return 0


def _run_granian(target: str, host: str, port: int, workers: int, backpressure: int | None) -> None:
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels

    try:
        import uvloop  # noqa: F401

        loop = Loops.uvloop
    except ImportError:
        loop = Loops.asyncio
    Granian(
        target,
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=loop,
        # Connections beyond the workers' backpressure wait here (the kernel caps it at
        # net.core.somaxconn) instead of being refused.
        backlog=4096,
        backpressure=backpressure,
        log_level=LogLevels.warning,
    ).serve()


def _register_admin_cli(sub: Any) -> None:
    from pllm.admin.cli import register

    register(sub)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pllm", description="pllm LLM gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="start the gateway")
    p_serve.add_argument("--config", help="config file (default: $PLLM_CONFIG or config.yaml)")
    p_serve.add_argument("--host", help="address to bind (default: server.host or 0.0.0.0)")
    p_serve.add_argument("--port", type=int, help="port (default: server.port or 8080)")
    p_serve.add_argument("--workers", type=int, help="worker processes (default: 1)")
    p_serve.add_argument(
        "--admin-port",
        type=int,
        help="admin API port (default: general_settings.admin_port; 0: off)",
    )
    p_serve.add_argument(
        "--metrics-port",
        type=int,
        help="Prometheus /metrics port (default: general_settings.metrics_port, 9090; 0: off)",
    )
    p_serve.add_argument(
        "--watch",
        action="store_true",
        help="reload the config when the file changes (SIGHUP always reloads it)",
    )
    p_serve.set_defaults(func=serve)
    p_check = sub.add_parser("check-config", help="validate a config file without starting")
    p_check.add_argument(
        "file", nargs="?", help="config file (default: $PLLM_CONFIG or config.yaml)"
    )
    p_check.set_defaults(func=check_config)
    p_admin = sub.add_parser("serve-admin", help="start only the admin API")
    p_admin.add_argument("--config", help="config file (default: $PLLM_CONFIG or config.yaml)")
    p_admin.add_argument("--host", help="address to bind (default: general_settings.admin_host)")
    p_admin.add_argument("--port", type=int, help="port (default: general_settings.admin_port)")
    p_admin.set_defaults(func=serve_admin)
    p_db = sub.add_parser("db", help="database maintenance")
    db_sub = p_db.add_subparsers(dest="db_command", required=True)
    p_upgrade = db_sub.add_parser("upgrade", help="apply the schema migrations")
    p_upgrade.add_argument("--config", help="config file (default: $PLLM_CONFIG or config.yaml)")
    p_upgrade.set_defaults(func=db_upgrade)
    _register_admin_cli(sub)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
