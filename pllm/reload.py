"""Hot reload: re-read the config file and swap it in without a restart.

A reload validates the whole new config first (the same checks as ``pllm check-config``);
an invalid one is refused with every problem and the running config keeps serving. A valid
one becomes a new :class:`~pllm.state.AppState` (see ``AppState.reloaded``) that the gateway
swaps in with one assignment: each request reads its state once, when it arrives, so
requests and streams in flight finish on the config they began with and new ones see the
new config. What a running process cannot change (listeners, workers, the database, keys'
verification, the breaker's tuning, admission limits, the response cache) is applied at the
next restart and listed as such.

Triggers: ``SIGHUP``, ``pllm serve --watch`` (the file's mtime, size and content), and
``POST /admin/config/reload``. The gateway registers itself here, so the admin API, which
cannot import the app, reaches it in the same process; with several workers the admin API
signals the supervisor, which passes ``SIGHUP`` to every worker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pllm.config import ConfigError, Problem, Settings, load_settings
from pllm.providers.codec import Deployment
from pllm.providers.registry import build_deployments
from pllm.revision import revision_of

log = logging.getLogger("pllm.reload")

# Settings a running process keeps until it restarts, by section; None: the whole section.
_RESTART_ONLY: dict[str, tuple[str, ...] | None] = {
    "server": None,
    "general": (
        "master_key",
        "database_url",
        "data_dir",
        "admin_host",
        "admin_port",
        "metrics_port",
        "jwt",
        "otel",
        "drain_delay",
        "drain_timeout",
        "auth_refresh_interval",
        "spend_flush_interval",
        "budget_alert_webhook",
    ),
    "router": ("breaker", "exploration", "max_in_flight", "max_queue", "queue_timeout", "redis"),
}
_SECTION_NAMES = {
    "server": "server",
    "general": "general_settings",
    "router": "router_settings",
}


@dataclass(slots=True)
class Outcome:
    """What one reload did: the admin API's answer, and the log's."""

    ok: bool
    revision: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # "router_settings.breaker", ...: changed in the file, applied at the next restart.
    restart_needed: list[str] = field(default_factory=list)
    models: int = 0
    deployments: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "reloaded" if self.ok else "invalid",
            "revision": self.revision,
            "problems": self.problems,
            "warnings": self.warnings,
            "restart_needed": self.restart_needed,
            "models": self.models,
            "deployments": self.deployments,
        }


def load(path: str) -> tuple[Settings, list[Deployment]]:
    """The config and its deployments, or :class:`ConfigError` with every problem."""
    settings = load_settings(path)
    warnings: list[Problem] = []
    try:
        deployments = build_deployments(settings, warnings=warnings)
    except ConfigError as e:
        raise ConfigError(e.problems, [*settings.warnings, *e.warnings]) from None
    return dataclasses.replace(settings, warnings=(*settings.warnings, *warnings)), deployments


def restart_needed(old: Settings, new: Settings) -> list[str]:
    """The settings that differ between ``old`` and ``new`` but only a restart applies."""
    changed: list[str] = []
    if old.cache != new.cache:
        # The response cache keeps its entries across a reload; its settings take a restart.
        changed.append("litellm_settings.cache_params")
    for section, names in _RESTART_ONLY.items():
        before, after = getattr(old, section), getattr(new, section)
        fields = [f.name for f in dataclasses.fields(before)] if names is None else names
        changed += [
            f"{_SECTION_NAMES[section]}.{name}"
            for name in fields
            if getattr(before, name) != getattr(after, name)
        ]
    return changed


def invalid(path: str, err: ConfigError) -> Outcome:
    """A refused reload, logged with every problem."""
    outcome = Outcome(
        ok=False,
        revision=revision_of(path),
        problems=[str(p) for p in err.problems],
        warnings=[str(w) for w in err.warnings],
    )
    log.error(
        f"config reload refused, {len(outcome.problems)} problem(s): the running config "
        "keeps serving",
        extra={"fields": {"problems": outcome.problems}},
    )
    return outcome


# The gateway apps of this process: each takes a config path and reloads from it.
Target = Callable[[str], Awaitable[Outcome]]
_targets: list[Target] = []


def register(target: Target) -> Callable[[], None]:
    """Adds a reload target; returns the function that removes it again."""
    _targets.append(target)
    return lambda: _targets.remove(target) if target in _targets else None


@dataclass(frozen=True, slots=True)
class View:
    """What the admin API shows of a gateway of this process (``GET /admin/deployments``,
    ``GET /admin/config``): its config, the revision it serves and its live health."""

    settings: Settings
    revision: str
    loaded_at: float
    health: list[dict[str, object]]


Viewer = Callable[[], View]
_viewers: list[Viewer] = []


def register_view(viewer: Viewer) -> Callable[[], None]:
    """Adds a gateway's view; returns the function that removes it again."""
    _viewers.append(viewer)
    return lambda: _viewers.remove(viewer) if viewer in _viewers else None


def current_view() -> View | None:
    """The view of this process's (first) gateway, or None when none runs here."""
    return _viewers[0]() if _viewers else None


async def reload_all(path: str | None = None) -> list[Outcome]:
    """Reloads every gateway of this process from ``path`` (default: ``PLLM_CONFIG``)."""
    path = path or os.environ.get("PLLM_CONFIG", "config.yaml")
    return [await target(path) for target in list(_targets)]


def signal_supervisor() -> bool:
    """With several workers, asks the supervisor to reload them all (it sends each
    ``SIGHUP``); False when this process has no supervisor."""
    import signal

    pid = os.environ.get("PLLM_SUPERVISOR_PID")
    if not pid:
        return False
    try:
        os.kill(int(pid), signal.SIGHUP)
    except (OSError, ValueError):
        return False
    return True


async def watch(path: str, interval: float = 1.0) -> None:
    """``--watch``: reloads when the file's content changes (checked every ``interval``;
    an editor's save is seen within that, a write still in progress is refused as invalid
    and taken once complete)."""
    seen = revision_of(path)
    while True:
        await asyncio.sleep(interval)
        now = await asyncio.to_thread(revision_of, path)
        if now and now != seen:
            seen = now
            log.info("config file changed: reloading", extra={"fields": {"revision": now}})
            await reload_all(path)
