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

from pllm.call import Call
from pllm.errors import GatewayError
from pllm.http import Request

if TYPE_CHECKING:
    from pllm.state import AppState

REF = "#/components/schemas/{name}"
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


class _Open(msgspec.Struct, kw_only=True):
    """Documented fields; others are passed through to the provider."""


class ChatMessage(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class StreamOptions(_Open):
    include_usage: bool = False


class ChatCompletionRequest(_Open):
    model: str
    messages: list[ChatMessage]
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    n: int | None = None
    stop: str | list[str] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    user: str | None = None


class CompletionRequest(_Open):
    model: str
    # A string, or an array of strings or of token ids
    prompt: str | list[Any]
    stream: bool = False
    max_tokens: int | None = None
    temperature: float | None = None


class EmbeddingRequest(_Open):
    model: str
    # A string, or an array of strings or of token ids
    input: str | list[Any]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None


class Usage(_Open):
    prompt_tokens: int
    total_tokens: int
    completion_tokens: int = 0


class ChatChoice(_Open):
    index: int
    message: ChatMessage
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


class AnthropicMessagesRequest(_Open):
    model: str
    messages: list[dict[str, Any]]
    max_tokens: int
    system: str | list[dict[str, Any]] | None = None
    stream: bool = False
    temperature: float | None = None
    tools: list[dict[str, Any]] | None = None


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


class Status(_Open):
    status: str


_STRUCTS: tuple[type, ...] = (
    ChatCompletionRequest, ChatCompletion, CompletionRequest, Completion, EmbeddingRequest,
    EmbeddingList, ModelList, Model, AnthropicMessagesRequest, AnthropicMessage, TokenCount,
    Error, Status,
)  # fmt: skip


def _ref(kind: type) -> dict[str, str]:
    return {"$ref": REF.format(name=kind.__name__)}


def _json(kind: type, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(kind)}}}


_ERRORS = {
    "400": _json(Error, "Invalid request"),
    "401": _json(Error, "Missing or invalid API key"),
    "403": _json(Error, "The key may not use this model"),
    "429": _json(Error, "Rate limit or budget exceeded"),
    "5XX": _json(Error, "Upstream or gateway failure"),
}
_SSE = {"text/event-stream": {"schema": {"type": "string"}}}


def _post(kind: type, result: type, summary: str, tag: str, streams: bool) -> dict[str, Any]:
    ok = _json(result)
    if streams:
        ok["content"] = {**ok["content"], **_SSE}
        ok["description"] = "The result, or server-sent events when `stream` is true"
    return {
        "post": {
            "summary": summary,
            "tags": [tag],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(kind)}},
            },
            "responses": {"200": ok, **_ERRORS},
        }
    }


def _get(result: type, summary: str, tag: str, *, secured: bool = True) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": {"200": _json(result)}}
    if secured:
        op["responses"].update({"401": _ERRORS["401"]})
    else:
        op["security"] = []
    return {"get": op}


def _paths() -> dict[str, Any]:
    model = {"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}
    one_model = _get(Model, "A model by name", "Models")
    one_model["get"]["parameters"] = [model]
    one_model["get"]["responses"]["404"] = _json(Error, "No such model")
    metrics = _get(
        Status, "Prometheus metrics (text exposition format)", "Operations", secured=False
    )
    metrics["get"]["responses"]["200"] = {
        "description": "OK",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
    return {
        "/v1/chat/completions": _post(
            ChatCompletionRequest, ChatCompletion, "Create a chat completion", "OpenAI", True
        ),
        "/v1/completions": _post(
            CompletionRequest, Completion, "Create a text completion", "OpenAI", True
        ),
        "/v1/embeddings": _post(
            EmbeddingRequest, EmbeddingList, "Create embeddings", "OpenAI", False
        ),
        "/v1/models": _get(ModelList, "List the model names this gateway serves", "Models"),
        "/v1/models/{model}": one_model,
        "/v1/messages": _post(
            AnthropicMessagesRequest,
            AnthropicMessage,
            "Create a message (Anthropic's API; errors in Anthropic's shape)",
            "Anthropic",
            True,
        ),
        "/v1/messages/count_tokens": _post(
            AnthropicMessagesRequest,
            TokenCount,
            "Count the input tokens of a message (anthropic deployments)",
            "Anthropic",
            False,
        ),
        "/health": _get(Status, "Liveness probe", "Operations", secured=False),
        "/ready": _get(Status, "Readiness probe (503 while starting)", "Operations", secured=False),
        "/metrics": metrics,
        "/health/deployments": _get(
            Status, "Health score, circuit state and load of every deployment", "Operations"
        ),
    }


def security_schemes() -> dict[str, Any]:
    return {
        "bearer": {"type": "http", "scheme": "bearer", "description": "A key or a JWT"},
        "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
    }


@functools.cache
def main_document() -> bytes:
    """The client API's OpenAPI document (served at /openapi.json on the gateway's port).
    Paths are listed with /v1; the same routes answer without it."""
    _, components = msgspec.json.schema_components(_STRUCTS, ref_template=REF)
    doc = {
        "openapi": "3.1.0",
        "info": {
            "title": "pllm gateway API",
            "version": "1",
            "description": "OpenAI-compatible API (and Anthropic's /v1/messages). Every path "
            "is also served without the /v1 prefix.",
        },
        "paths": _paths(),
        "components": {"schemas": components, "securitySchemes": security_schemes()},
        "security": [{"bearer": []}, {"apiKey": []}],
    }
    return _encode(doc)


# ---------------------------------------------------------------- handlers for the main app


async def openapi_json(state: AppState, req: Request, call: Call) -> None:
    await req.respond(200, main_document())


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
