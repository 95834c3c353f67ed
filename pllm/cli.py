"""``pllm serve`` and ``pllm check-config``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pllm.config import ConfigError, Settings, load_settings
from pllm.observability.logging import configure_logging
from pllm.providers.base import Deployment
from pllm.providers.registry import build_deployments

log = logging.getLogger("pllm.cli")


def _config_path(given: str | None) -> str:
    return given or os.environ.get("PLLM_CONFIG") or "config.yaml"


def _load(path: str) -> tuple[Settings, list[Deployment]]:
    settings = load_settings(path)
    return settings, build_deployments(settings)


def _print_problems(err: ConfigError) -> None:
    n = len(err.problems)
    print(f"config has {n} problem{'s' if n != 1 else ''}:", file=sys.stderr)
    for p in err.problems:
        print(f"  {p}", file=sys.stderr)


def _model_summary(deployments: list[Deployment]) -> dict[str, list[str]]:
    models: dict[str, list[str]] = {}
    for d in deployments:
        models.setdefault(d.model_name, []).append(d.provider_name)
    return models


def check_config(args: argparse.Namespace) -> int:
    path = _config_path(args.file)
    try:
        settings, deployments = _load(path)
    except ConfigError as e:
        _print_problems(e)
        return 1
    for note in settings.notes:
        print(f"note: {note}")
    models = _model_summary(deployments)
    print(f"{path}: OK — {len(models)} models, {len(deployments)} deployments")
    for name, providers in models.items():
        print(f"  {name}: {', '.join(providers)}")
    return 0


def serve(args: argparse.Namespace) -> int:
    path = _config_path(args.config)
    try:
        settings, deployments = _load(path)
    except ConfigError as e:
        _print_problems(e)
        return 2
    configure_logging(settings.general.log_level)
    server = settings.server
    host = args.host or server.host
    port = args.port if args.port is not None else server.port
    workers = args.workers or server.workers
    for note in settings.notes:
        log.info(note)
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
    _run_granian(host, port, workers, server.backpressure)
    return 0


def _run_granian(host: str, port: int, workers: int, backpressure: int | None) -> None:
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels

    try:
        import uvloop  # noqa: F401

        loop = Loops.uvloop
    except ImportError:
        loop = Loops.asyncio
    Granian(
        "pllm.app:create_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=loop,
        backpressure=backpressure,
        log_level=LogLevels.warning,
    ).serve()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pllm", description="pllm LLM gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="start the gateway")
    p_serve.add_argument("--config", help="config file (default: $PLLM_CONFIG or config.yaml)")
    p_serve.add_argument("--host", help="address to bind (default: server.host or 0.0.0.0)")
    p_serve.add_argument("--port", type=int, help="port (default: server.port or 8080)")
    p_serve.add_argument("--workers", type=int, help="worker processes (default: 1)")
    p_serve.set_defaults(func=serve)
    p_check = sub.add_parser("check-config", help="validate a config file without starting")
    p_check.add_argument(
        "file", nargs="?", help="config file (default: $PLLM_CONFIG or config.yaml)"
    )
    p_check.set_defaults(func=check_config)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
