"""The OpenAPI 3.1 document of the gateway's client API, and Swagger UI for both listeners.

The client API passes payloads through to providers, so the request shapes below document
the fields pllm reads or that clients most often send, and leave every other field open
(``additionalProperties``): they describe, they do not restrict. Swagger UI's files come from
the ``swagger-ui-bundle-v2`` package, so the page works without internet access.
"""

from __future__ import annotations

import functools
import importlib.resources
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from pllm.api import validation
from pllm.call import Call
from pllm.errors import GatewayError
from pllm.http import Request
from pllm.providers.codec import Endpoint

if TYPE_CHECKING:
    from pllm.state import AppState

REF = "#/components/schemas/{name}"

# The codes of the 400s that a request matching its OpenAPI document can still get: the
# rules JSON Schema cannot state. Fields that contradict each other (`conflicting_fields`: a
# soft budget above the cap, both expires_at and duration, a date range that ends before it
# starts), a reference to something that does not exist (`user_not_found`,
# `group_not_found`), who asks (`key_required`: /key/info with no key, from a caller that is
# not a key) and what the config serves (`unsupported_endpoint`: a model with no deployment
# for the endpoint). The documents' 400 responses name them; anything else a 400 refuses,
# the document states.
RULE_CODES = (
    "conflicting_fields",
    "user_not_found",
    "group_not_found",
    "key_required",
    "unsupported_endpoint",
)
_encode = msgspec.json.Encoder().encode

# ---------------------------------------------------------------- Swagger UI

# The only files the page loads; anything else under /swagger/ is a 404.
SWAGGER_ASSETS: dict[str, bytes] = {
    "swagger-ui.css": b"text/css; charset=utf-8",
    "swagger-ui-bundle.js": b"application/javascript; charset=utf-8",
    "favicon-32x32.png": b"image/png",
    "favicon-16x16.png": b"image/png",
}
SWAGGER_CACHE = (("cache-control", "public, max-age=86400"),)
HTML = b"text/html; charset=utf-8"


@functools.cache
def _bundle_dir() -> Any:
    """The folder of the installed Swagger UI build, or None when the package is missing."""
    try:
        vendor = importlib.resources.files("swagger_ui_bundle") / "vendor"
        dirs = sorted(
            (d for d in vendor.iterdir() if d.name.startswith("swagger-ui-")), key=lambda d: d.name
        )
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        return None
    return dirs[-1] if dirs else None


def swagger_available() -> bool:
    return _bundle_dir() is not None


@functools.cache
def swagger_asset(name: str) -> tuple[bytes, bytes] | None:
    """``(content, content_type)`` of one Swagger UI file, or None if it is not served."""
    content_type = SWAGGER_ASSETS.get(name)
    folder = _bundle_dir()
    if content_type is None or folder is None:
        return None
    return (folder / name).read_bytes(), content_type


def _script_string(value: str) -> str:
    # JSON is a JS string literal; "</" must not end the <script> element early.
    return _encode(value).decode().replace("</", "<\\/")


def swagger_html(
    openapi_url: str, *, assets_url: str = "/swagger", title: str = "pllm API"
) -> bytes:
    """The Swagger UI page for the document at ``openapi_url``; its files under
    ``assets_url`` (served with :func:`swagger_asset`)."""
    safe_title = title.replace("&", "&amp;").replace("<", "&lt;")
    if not swagger_available():
        href = openapi_url.replace('"', "%22")
        return (
            f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{safe_title}'
            "</title></head><body><p>Swagger UI is not installed (pip install "
            "swagger-ui-bundle-v2). The OpenAPI document is at "
            f'<a href="{href}">{href.replace("<", "&lt;")}</a>.</p></body></html>'
        ).encode()
    base = assets_url.rstrip("/").replace('"', "%22")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{safe_title}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="stylesheet" href="{base}/swagger-ui.css">'
        f'<link rel="icon" type="image/png" href="{base}/favicon-32x32.png"></head>'
        '<body><div id="swagger-ui"></div>'
        f'<script src="{base}/swagger-ui-bundle.js"></script>'
        "<script>window.ui = SwaggerUIBundle({url: "
        f"{_script_string(openapi_url)}, "
        'dom_id: "#swagger-ui", persistAuthorization: true, deepLinking: true});</script>'
        "</body></html>\n"
    ).encode()


# ---------------------------------------------------------------- the client API's shapes

# The request bodies come from pllm.api.validation's declarations, which also check them; the
# replies are Structs. Both leave every other field open (additionalProperties): a request's
# other fields pass through to the provider, and a reply carries what the provider added.


class _Open(msgspec.Struct, kw_only=True):
    """Documented fields; others pass through."""


class Usage(_Open):
    prompt_tokens: int
    total_tokens: int
    completion_tokens: int = 0


class AssistantMessage(_Open):
    role: str
    content: str | None = None


class ChatChoice(_Open):
    index: int
    message: AssistantMessage
    finish_reason: str | None


class ChatCompletion(_Open):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage | None = None


class CompletionChoice(_Open):
    index: int
    text: str
    finish_reason: str | None


class Completion(_Open):
    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None


class Embedding(_Open):
    object: Literal["embedding"]
    index: int
    # Floats, or base64 of little-endian float32s with encoding_format "base64"
    embedding: list[float] | str


class EmbeddingList(_Open):
    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: Usage


class Model(_Open):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(_Open):
    object: Literal["list"]
    data: list[Model]


class AnthropicMessage(_Open):
    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[dict[str, Any]]
    stop_reason: str | None
    usage: dict[str, Any]


class TokenCount(_Open):
    input_tokens: int


class ErrorBody(_Open):
    message: str
    type: str
    param: str | None
    code: str | None


class Error(_Open):
    error: ErrorBody


class AnthropicErrorBody(_Open):
    type: str
    message: str


class AnthropicError(_Open):
    """The error shape of /v1/messages and /v1/messages/count_tokens."""

    type: Literal["error"]
    error: AnthropicErrorBody


class Health(_Open):
    status: Literal["ok"]


class Ready(_Open):
    status: Literal["ready", "starting", "draining"]
    store: Literal["connected", "unavailable"]
    models: int
    deployments: int


class DeploymentHealth(_Open):
    deployment: str
    model: str
    provider: str
    score: float
    circuit: str
    in_flight: int
    consecutive_failures: int
    ejections: int
    ttft_ms: float | None


class DeploymentHealthList(_Open):
    data: list[DeploymentHealth]


_STRUCTS: tuple[type, ...] = (
    ChatCompletion, Completion, EmbeddingList, ModelList, Model, AnthropicMessage, TokenCount,
    Error, AnthropicError, Health, Ready, DeploymentHealthList,
)  # fmt: skip


def _ref(kind: type) -> dict[str, str]:
    return {"$ref": REF.format(name=kind.__name__)}


def _json(kind: type, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(kind)}}}


def _property(f: validation.Field, required: bool) -> dict[str, Any]:
    schema = dict(f.schema)
    if not required:  # null is the same as leaving the field out
        options = schema.pop("anyOf", None) or [schema]
        schema = {"anyOf": [*options, {"type": "null"}]}
    if f.description:
        schema["description"] = f.description
    return schema


def request_schema(request: validation.Request, description: str) -> dict[str, Any]:
    """The JSON Schema of a request body, from its declaration in pllm.api.validation."""
    return {
        "type": "object",
        "description": description,
        "properties": {
            name: _property(f, name in request.required) for name, f in request.fields.items()
        },
        "required": list(request.required),
        **request.rules,
    }


def _messages_api_schema() -> dict[str, Any]:
    """/v1/messages: MESSAGES, and what pllm.api.anthropic.check_messages adds to it."""
    schema = request_schema(validation.MESSAGES, "Anthropic's Messages API request.")
    props = schema["properties"]
    messages = props["messages"] = dict(validation.MESSAGES.fields["messages"].schema)
    messages["minItems"] = 1
    item = messages["items"] = dict(messages["items"])
    item["required"] = ["role"]
    item["properties"] = {"role": {"enum": ["user", "assistant"]}, **item["properties"]}
    props["max_tokens"] = dict(validation.MESSAGES.fields["max_tokens"].schema)
    schema["required"] = ["model", "messages", "max_tokens"]
    return schema


def _request_schemas() -> dict[str, dict[str, Any]]:
    return {
        "ChatCompletionRequest": request_schema(
            validation.CHAT, "Fields not listed pass through to the provider unchecked."
        ),
        "CompletionRequest": request_schema(
            validation.COMPLETION, "Fields not listed pass through to the provider unchecked."
        ),
        "EmbeddingRequest": request_schema(
            validation.EMBEDDINGS, "Fields not listed pass through to the provider unchecked."
        ),
        "AnthropicMessagesRequest": _messages_api_schema(),
        "TokenCountRequest": request_schema(
            validation.MESSAGES, "Checked as a Messages API request, but only model is required."
        ),
    }


# Every route answers these before it looks at anything else (pllm.api.limits).
_HEAD = {
    "414": "The path or the query string is over its limit",
    "431": "Too many headers, or a credential header over its limit",
}
_KEYED = {
    "401": "Missing or invalid API key",
    "5XX": "The store is unreachable and the key was not seen before (503), or an upstream "
    "or gateway failure",
}
_MODEL_CALL = {
    "400": "Invalid request: `param` names the field; or, for a request that matches this "
    "document, a model without a deployment for the endpoint (`unsupported_endpoint`)",
    "403": "The key may not use this model",
    "404": "No such model",
    "413": "Body over `max_request_body_bytes`",
    "429": "Rate limit or budget exceeded, or every deployment at capacity",
}


def _errors(statuses: dict[str, str], shape: type) -> dict[str, Any]:
    return {status: _json(shape, text) for status, text in statuses.items()}


# In OpenAPI 3.1 an event stream's schema is that of each event.
_SSE = {
    "text/event-stream": {
        "schema": {
            "type": "object",
            "required": ["data"],
            "properties": {
                "event": {"type": "string"},
                "data": {"type": "string", "description": "A JSON object, or [DONE]"},
                "id": {"type": "string"},
            },
        }
    }
}


def _post(
    request: str,
    result: type,
    summary: str,
    tag: str,
    *,
    streams: bool,
    error: type = Error,
    models: tuple[str, ...] = (),
) -> dict[str, Any]:
    ok = _json(result)
    if streams:
        ok["content"] = {**ok["content"], **_SSE}
        ok["description"] = "The result, or server-sent events when `stream` is true"
    media: dict[str, Any] = {"schema": _ref_name(request)}
    if models:
        # A working request for Swagger UI's "Try it out" (and schemathesis's examples).
        media["examples"] = {"served": {"value": _example(request, models[0])}}
    return {
        "post": {
            "summary": summary,
            "tags": [tag],
            "requestBody": {"required": True, "content": {"application/json": media}},
            "responses": {
                "200": ok,
                **_errors({**_MODEL_CALL, **_HEAD, **_KEYED}, error),
            },
        }
    }


def _ref_name(name: str) -> dict[str, str]:
    return {"$ref": REF.format(name=name)}


def _example(request: str, model: str) -> dict[str, Any]:
    hello = [{"role": "user", "content": "Hello!"}]
    bodies: dict[str, dict[str, Any]] = {
        "ChatCompletionRequest": {"model": model, "messages": hello},
        "CompletionRequest": {"model": model, "prompt": "Hello!"},
        "EmbeddingRequest": {"model": model, "input": "Hello!"},
        "AnthropicMessagesRequest": {"model": model, "max_tokens": 64, "messages": hello},
        "TokenCountRequest": {"model": model, "messages": hello},
    }
    return bodies[request]


def _get(
    result: type,
    summary: str,
    tag: str,
    *,
    secured: bool = True,
    more: dict[str, str] | None = None,
) -> dict[str, Any]:
    statuses = {**_HEAD, **(_KEYED if secured else {}), **(more or {})}
    op: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "responses": {"200": _json(result), **_errors(statuses, Error)},
    }
    if not secured:
        op["security"] = []
    return {"get": op}


Served = tuple[tuple[str, tuple[str, ...]], ...]


def _paths(served: Served) -> dict[str, Any]:
    models = dict(served)
    model = {"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}
    if models.get("models"):
        model["examples"] = {m: {"value": m} for m in models["models"]}
    one_model = _get(Model, "A model by name", "Models", more={"404": "No such model"})
    one_model["get"]["parameters"] = [model]
    metrics = _get(Health, "Prometheus metrics (text exposition format)", "Operations",
                   secured=False)  # fmt: skip
    metrics["get"]["responses"]["200"] = {
        "description": "OK",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
    ready = _get(Ready, "Readiness probe", "Operations", secured=False)
    ready["get"]["responses"]["503"] = _json(Ready, "Starting: not ready yet")
    return {
        "/v1/chat/completions": _post(
            "ChatCompletionRequest", ChatCompletion, "Create a chat completion", "OpenAI",
            streams=True, models=models.get("chat/completions", ()),
        ),
        "/v1/completions": _post(
            "CompletionRequest", Completion, "Create a text completion", "OpenAI",
            streams=True, models=models.get("completions", ()),
        ),
        "/v1/embeddings": _post(
            "EmbeddingRequest", EmbeddingList, "Create embeddings", "OpenAI",
            streams=False, models=models.get("embeddings", ()),
        ),
        "/v1/models": _get(ModelList, "List the model names this gateway serves", "Models"),
        "/v1/models/{model}": one_model,
        "/v1/messages": _post(
            "AnthropicMessagesRequest", AnthropicMessage,
            "Create a message (Anthropic's API; errors in Anthropic's shape)", "Anthropic",
            streams=True, error=AnthropicError, models=models.get("messages", ()),
        ),
        "/v1/messages/count_tokens": _post(
            "TokenCountRequest", TokenCount,
            "Count the input tokens of a message (anthropic deployments)", "Anthropic",
            streams=False, error=AnthropicError, models=models.get("messages/count_tokens", ()),
        ),
        "/health": _get(Health, "Liveness probe", "Operations", secured=False),
        "/ready": ready,
        "/metrics": metrics,
        "/health/deployments": _get(
            DeploymentHealthList, "Health score, circuit state and load of every deployment",
            "Operations", more={"403": "A credential without the admin role"},
        ),
    }  # fmt: skip


def security_schemes() -> dict[str, Any]:
    return {
        "bearer": {"type": "http", "scheme": "bearer", "description": "A key or a JWT"},
        "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
    }


@functools.lru_cache(maxsize=8)
def main_document(served: Served = ()) -> bytes:
    """The client API's OpenAPI document (served at /openapi.json on the gateway's port).
    ``served``: the model names each endpoint serves (``"models"``: all of them), given as
    examples. Paths are listed with /v1; the same routes answer without it."""
    _, components = msgspec.json.schema_components(_STRUCTS, ref_template=REF)
    components.update(_request_schemas())
    doc = {
        "openapi": "3.1.0",
        "info": {
            "title": "pllm gateway API",
            "version": "1",
            "description": "OpenAI-compatible API (and Anthropic's /v1/messages). Every path "
            "is also served without the /v1 prefix. Bodies are JSON objects nested at most "
            f"{validation.MAX_JSON_DEPTH} levels deep, with arrays of at most "
            f"{validation.MAX_ARRAY_ITEMS} items.",
        },
        "paths": _paths(served),
        "components": {"schemas": components, "securitySchemes": security_schemes()},
        "security": [{"bearer": []}, {"apiKey": []}],
    }
    return _encode(doc)


def served_models(state: AppState) -> Served:
    """Which models each endpoint can serve, for :func:`main_document`'s examples."""
    engine = state.engine
    groups = sorted(state.registry.groups)
    served: list[tuple[str, tuple[str, ...]]] = [("models", tuple(groups))]
    for endpoint in Endpoint:
        able = tuple(
            g
            for g in groups
            if len(engine.unsupported.get((g, endpoint), ())) < engine.sizes.get(g, 0)
        )
        served.append((endpoint.value, able))
    return tuple(served)


# ---------------------------------------------------------------- handlers for the main app


async def openapi_json(state: AppState, req: Request, call: Call) -> None:
    await req.respond(200, main_document(served_models(state)))


async def swagger(state: AppState, req: Request, call: Call) -> None:
    await req.respond(
        200, swagger_html("/openapi.json", title="pllm gateway API"), content_type=HTML
    )


async def swagger_file(state: AppState, req: Request, call: Call) -> None:
    """``/swagger/<file>``: one of :data:`SWAGGER_ASSETS`, else 404."""
    asset = swagger_asset(req.path.rsplit("/", 1)[-1])
    if asset is None:
        raise GatewayError(404, f"Invalid URL (GET {req.path})", code="unknown_url")
    await req.respond(200, asset[0], content_type=asset[1], extra=SWAGGER_CACHE)
