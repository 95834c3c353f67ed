"""A Vertex AI deployment's settings, named and found as LiteLLM finds them, and its URLs.

``vertex_project`` (else ``VERTEXAI_PROJECT``/``VERTEX_PROJECT``, else the credentials' own
project, else ``GOOGLE_CLOUD_PROJECT``), ``vertex_location`` (else ``VERTEXAI_LOCATION``/
``VERTEX_LOCATION``, else ``us-central1``; ``global`` is served from the host without a region
prefix) and ``vertex_credentials`` (see :mod:`credentials`). ``api_base`` is the URL up to the
model, to which ``:generateContent`` (or the method) is appended.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pllm.config import DeploymentConfig
from pllm.config.problems import Problems
from pllm.providers.vertex.credentials import Credentials, CredentialsError, find_credentials
from pllm.providers.vertex.tokens import AccessTokens

DEFAULT_LOCATION = "us-central1"
API_VERSION = "v1"


def _param(cfg: DeploymentConfig, name: str) -> Any:
    return cfg.provider_params.get(name)


def _string(cfg: DeploymentConfig, name: str) -> str | None:
    value = _param(cfg, name)
    return value if isinstance(value, str) and value else None


def _first(env: Mapping[str, str], *names: str) -> str | None:
    return next((env[n] for n in names if env.get(n)), None)


def host(location: str) -> str:
    if location == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


@dataclass(frozen=True, slots=True)
class VertexDeployment:
    """Where a Vertex deployment's model is (``model_url``: up to the model, the methods are
    appended with ``:``) and the tokens its requests carry."""

    model_url: str
    tokens: AccessTokens
    headers: list[tuple[str, str]]


def vertex_deployment(
    cfg: DeploymentConfig,
    env: Mapping[str, str],
    problems: Problems,
    publisher: str,
    shared: dict[str, AccessTokens],
) -> VertexDeployment | None:
    """The deployment's model URL and tokens, or None after adding what is wrong to
    ``problems``. Deployments with the same credentials share their tokens (``shared``)."""
    where = f"{cfg.path}.litellm_params"
    given = _param(cfg, "vertex_credentials")
    if given is not None and not isinstance(given, str | Mapping):
        problems.add(f"{where}.vertex_credentials", "must be a path or the JSON of a file")
        return None
    try:
        credentials: Credentials = find_credentials(given, env)
    except CredentialsError as e:
        problems.add(f"{where}.vertex_credentials", str(e))
        return None
    tokens = shared.get(credentials.key)
    if tokens is None:
        tokens = shared[credentials.key] = AccessTokens(credentials)
    headers = [("content-type", "application/json"), *credentials.extra_headers]
    headers.extend(cfg.extra_headers)
    if cfg.api_base:
        return VertexDeployment(cfg.api_base.rstrip("/"), tokens, headers)
    project = (
        _string(cfg, "vertex_project")
        or _first(env, "VERTEXAI_PROJECT", "VERTEX_PROJECT")
        or credentials.project_id
        or env.get("GOOGLE_CLOUD_PROJECT")
    )
    if not project:
        problems.add(
            f"{where}.vertex_project",
            "no project: set vertex_project or VERTEXAI_PROJECT (or use credentials that name one)",
        )
        return None
    location = (
        _string(cfg, "vertex_location")
        or _first(env, "VERTEXAI_LOCATION", "VERTEX_LOCATION")
        or DEFAULT_LOCATION
    )
    model = cfg.upstream_model
    url = (
        f"{host(location)}/{API_VERSION}/projects/{project}/locations/{location}"
        f"/publishers/{publisher}/models/{model}"
    )
    return VertexDeployment(url, tokens, headers)
