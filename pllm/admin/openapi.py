"""The admin API's OpenAPI 3.1 document, generated from the route table and its Structs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

import msgspec

from pllm.admin.routing import Route
from pllm.admin.schemas import BudgetKind, Id
from pllm.api.openapi import REF, RULE_CODES, SWAGGER_ASSETS, Error, security_schemes

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


def _component(ref: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """The schema a ``{"$ref": …}`` names (two Structs of one name get distinct names)."""
    schema: dict[str, Any] = components[ref["$ref"].rsplit("/", 1)[1]]
    return schema


def _query_parameters(ref: dict[str, Any], components: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _component(ref, components)
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": _query_schema(p)}
        for name, p in schema["properties"].items()
    ]


# The type of each path parameter: what the route accepts before it looks anything up (any
# other value is a 404, as an id that names nothing is).
_PATH_TYPES: dict[str, Any] = {
    "kind": BudgetKind,
    "file": Literal[tuple(SWAGGER_ASSETS)],
}

_RULES = ", ".join(f"`{c}`" for c in RULE_CODES)
_ERRORS = {
    400: "Invalid input; `param` names the field. Also, for input that matches this "
    "document, the rules it cannot state: " + _RULES,
    401: "No credential, or not a valid one",
    403: "A valid credential without the admin role",
    404: "No such entity",
    409: "Already exists",
    413: "Body over 1 MiB",
    414: "Path or query string over its limit",
    431: "Too many headers, or a credential header over its limit",
    503: "The database is unavailable",
}


def _statuses(route: Route) -> set[int]:
    """Every status but success that ``route`` can answer."""
    out = {414, 431, *route.errors}
    if route.body is not None or route.query is not None:
        out.add(400)
    if route.body is not None:
        out.add(413)
    if route.guarded:
        out |= {401, 403, 503}
        if route.path_params:
            out.add(404)
        if route.method in ("POST", "PUT", "PATCH"):
            out.add(409)
    return out


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
        {
            "name": p,
            "in": "path",
            "required": True,
            "schema": msgspec.json.schema(_PATH_TYPES.get(p, Id)),
        }
        for p in route.path_params
    ]
    if route.query is not None:
        params.extend(_query_parameters(schemas[route.query], components))
    if params:
        op["parameters"] = params
    if route.body is not None:
        # A body whose every field is optional may be left out (it reads as {}).
        required = bool(_component(schemas[route.body], components).get("required"))
        op["requestBody"] = {
            "required": required,
            "content": {"application/json": {"schema": schemas[route.body]}},
        }
    if route.response is not None:
        ok = _json(schemas[route.response], "OK")
    else:
        ok = {"description": "OK", "content": {m: {} for m in route.media}}
    responses: dict[str, Any] = {str(route.status): ok}
    error = schemas[Error]
    for status in sorted(_statuses(route)):
        responses[str(status)] = _json(error, _ERRORS[status])
    for status, why in route.refusals:
        assert route.response is not None
        responses[str(status)] = _json(schemas[route.response], why)
    if not route.guarded:
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
            components.pop(schemas[r.query]["$ref"].rsplit("/", 1)[1], None)
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
