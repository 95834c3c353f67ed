"""What one request asks of the cache: LiteLLM's ``cache`` body field (``no-cache``,
``no-store``, ``ttl``, ``s-maxage``, ``namespace``) and the ``Cache-Control`` header's
``no-cache`` / ``no-store``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pllm.errors import bad_request


@dataclass(slots=True)
class Control:
    # Look the answer up (no-cache: false), store the answer (no-store: false).
    read: bool = True
    write: bool = True
    # Seconds the stored answer lives (None: the configured ttl).
    ttl: float | None = None
    # Only an entry younger than this many seconds is served (s-maxage).
    max_age: float | None = None
    namespace: str | None = None


def control_of(payload: dict[str, Any], headers: dict[bytes, bytes]) -> Control:
    """Reads (and removes: it is not the provider's) the body's ``cache`` field and the
    ``Cache-Control`` header; 400 on a malformed ``cache`` field."""
    control = Control()
    header = headers.get(b"cache-control")
    if header is not None:
        directives = {d.strip().lower() for d in header.split(b",")}
        control.read = b"no-cache" not in directives
        control.write = b"no-store" not in directives
    raw = payload.pop("cache", None)
    if raw is None:
        return control
    if not isinstance(raw, dict):
        raise bad_request("'cache' must be an object.", param="cache")
    for name, value in raw.items():
        if name in ("no-cache", "no-store"):
            if not isinstance(value, bool):
                raise bad_request(f"'cache.{name}' must be a boolean.", param=f"cache.{name}")
            if value and name == "no-cache":
                control.read = False
            elif value:
                control.write = False
        elif name in ("ttl", "s-maxage"):
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise bad_request(
                    f"'cache.{name}' must be a positive number of seconds.", param=f"cache.{name}"
                )
            if name == "ttl":
                control.ttl = float(value)
            else:
                control.max_age = float(value)
        elif name == "namespace":
            if not isinstance(value, str) or not value or len(value) > 256:
                raise bad_request(
                    "'cache.namespace' must be a non-empty string.", param="cache.namespace"
                )
            control.namespace = value
        else:
            raise bad_request(f"Unknown cache control {name!r}.", param="cache")
    return control
