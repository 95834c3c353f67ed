"""``GET /admin/deployments`` and ``GET /admin/config``: what the gateway of this process
serves, for the admin UI. The admin API cannot import the gateway; each gateway registers a
view of itself in :mod:`pllm.reload` (as it registers its reload), read here. With several
workers the admin API runs in worker 0, whose router view holds every worker's health."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import msgspec

from pllm import reload
from pllm.admin import schemas as s
from pllm.admin.routing import Call, Reply, Route
from pllm.errors import GatewayError

MASK = "********"
# Names whose values are secrets wherever they appear (api_key, master_key, aws_secret_…,
# vertex_credentials, a password, a token, a webhook URL that may carry one).
_SECRET_NAME = re.compile(r"key|secret|password|passwd|token|credential|auth|webhook", re.I)
# user:password@ in a URL (database_url, redis_url, an api_base).
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")
# Where a value of any name is masked: header values may be credentials.
_MASKED_SECTIONS = ("extra_headers",)


def _no_gateway() -> GatewayError:
    return GatewayError(
        409, "No gateway runs in this process: start it with `pllm serve`.", code="no_gateway"
    )


def _view() -> reload.View:
    view = reload.current_view()
    if view is None:
        raise _no_gateway()
    return view


def mask(value: Any, name: str = "") -> Any:
    """``value`` with every secret replaced by ``MASK`` (by its name or, for URLs, the
    credentials they embed); None and empty values stay as they are."""
    if isinstance(value, dict):
        return {k: mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if name in _MASKED_SECTIONS:
            return [[v[0], MASK] if isinstance(v, list | tuple) and v else MASK for v in value]
        return [mask(v, name) for v in value]
    if isinstance(value, str):
        if value and _SECRET_NAME.search(name) and not name.endswith(("_env", "_header")):
            return MASK
        return _URL_CREDENTIALS.sub(rf"\g<scheme>{MASK}@", value)
    return value


def _builtins(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _builtins(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _builtins(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_builtins(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def config_json(settings: Any) -> dict[str, Any]:
    """The loaded config as JSON, every secret masked."""
    masked = mask(_builtins(settings))
    assert isinstance(masked, dict)
    return masked


async def deployments(call: Call) -> Reply:
    view = _view()
    rows = msgspec.convert(view.health, list[s.DeploymentHealth])
    return Reply(200, s.DeploymentsView(revision=view.revision, data=rows))


async def config(call: Call) -> Reply:
    view = _view()
    return Reply(
        200,
        s.ConfigView(
            file=view.settings.file,
            revision=view.revision,
            loaded_at=view.loaded_at,
            config=config_json(view.settings),
        ),
    )


ROUTES = [
    Route("GET", "/admin/deployments", deployments, "Every deployment's live health",
          "Operations", response=s.DeploymentsView, errors=(409,),
          description="Health score, circuit state, requests in flight, latency and recent "
          "failures of each deployment of the gateway in this process (the data of the "
          "gateway's `/health/deployments`); 409 when no gateway runs in this process."),
    Route("GET", "/admin/config", config, "The loaded config, secrets masked", "Operations",
          response=s.ConfigView, errors=(409,),
          description="The config the gateway of this process serves, its revision and when "
          "it was loaded; api keys, the master key, passwords, tokens, header values and the "
          "credentials in URLs are masked."),
]  # fmt: skip
