"""The admin API's OpenAPI 3.1 document, generated from the route table and its Structs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from pllm.admin.routing import Route
from pllm.api.openapi import REF, Error, security_schemes

_TAGS = {
    "Keys": "Virtual keys. The secret is returned once, at creation; only its hash is stored.",
    "Users": "Users: limits, budgets and role shared by their keys.",
    "Groups": "Groups (teams): limits and budgets shared by their members.",
    "Teams": "LiteLLM calls groups teams: these paths are aliases of /admin/groups.",
    "Budgets": "Spend caps per key, user or group over calendar UTC periods.",
    "Usage": "Daily usage totals and per-request spend logs.",
    "LiteLLM": "LiteLLM-compatible management routes: a thin translation onto the routes "
    "above, with LiteLLM's field names, so LiteLLM clients and scripts keep working.",
    "Documentation": "This document and Swagger UI (no credential needed).",
    "Operations": "Probes (no credential needed).",
}


def _json(schema: dict[str, Any] | None, description: str) -> dict[str, Any]:
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operation_id(route: Route) -> str:
    name = re.sub(r"[^A-Za-z0-9]+", "_", route.path.replace("{", "by_")).strip("_")
    return f"{route.method.lower()}_{name}"


def _query_schema(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is given or not: its "or null" alternative says nothing."""
    options = [o for o in prop.get("anyOf", ()) if o != {"type": "null"}]
    if len(options) != 1:
        return prop
    out = {k: v for k, v in prop.items() if k != "anyOf" and not (k == "default" and v is None)}
    return {**options[0], **out}


def _query_parameters(kind: type, components: dict[str, Any]) -> list[dict[str, Any]]:
    schema = components[kind.__name__]
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": _query_schema(p)}
        for name, p in schema["properties"].items()
    ]


def _operation(
    route: Route, components: dict[str, Any], schemas: dict[Any, dict[str, Any]]
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": _operation_id(route),
        "summary": route.summary,
        "tags": [route.tag],
    }
    if route.description:
        op["description"] = route.description
    params = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
        for p in route.path_params
    ]
    if route.query is not None:
        params.extend(_query_parameters(route.query, components))
    if params:
        op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schemas[route.body]}},
        }
    ok = schemas[route.response] if route.response is not None else None
    responses: dict[str, Any] = {str(route.status): _json(ok, "OK")}
    error = schemas[Error]
    if route.body is not None or route.query is not None:
        responses["400"] = _json(error, "Invalid input; `param` names the field")
    if route.guarded:
        responses["401"] = _json(error, "No credential, or not a valid one")
        responses["403"] = _json(error, "A valid credential without the admin role")
        op_has_id = bool(route.path_params)
        if op_has_id:
            responses["404"] = _json(error, "No such entity")
        if route.method in ("POST", "PUT", "PATCH"):
            responses["409"] = _json(error, "Already exists")
        responses["503"] = _json(error, "The database is unavailable")
    else:
        op["security"] = []
    op["responses"] = responses
    return op


def admin_document(routes: Sequence[Route]) -> bytes:
    kinds: list[Any] = [Error]
    for r in routes:
        for kind in (r.body, r.query, r.response):
            if kind is not None and kind not in kinds:
                kinds.append(kind)
    refs, components = msgspec.json.schema_components(kinds, ref_template=REF)
    schemas = dict(zip(kinds, refs, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        paths.setdefault(r.path, {})[r.method.lower()] = _operation(r, components, schemas)
    # Query Structs are documented as parameters, not as schemas of their own.
    for r in routes:
        if r.query is not None and not any(r.query in (x.body, x.response) for x in routes):
            components.pop(r.query.__name__, None)
    used = {r.tag for r in routes}
    doc = {
        "openapi": "3.1.0",
        "info": {
            "title": "pllm admin API",
            "version": "1",
            "description": "Keys, users, groups, budgets and usage of a pllm gateway. Every "
            "route except the documentation and /health requires the master key, an admin "
            "virtual key, or a JWT whose role is admin. Errors are OpenAI-shaped: "
            '`{"error": {"message", "type", "param", "code"}}`.',
        },
        "tags": [{"name": n, "description": d} for n, d in _TAGS.items() if n in used],
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": security_schemes()},
        "security": [{"bearer": []}, {"apiKey": []}],
    }
    return msgspec.json.encode(doc)
