"""The admin API's route table: what a route is, how a path finds it, how inputs are read.

Every route is declared once, with the Structs of its body, query and response; the
dispatcher, the guard-walk test and the OpenAPI document all read the same table, so a new
route cannot be served without being documented and guarded.
"""

from __future__ import annotations

import functools
import math
import re
import urllib.parse
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import msgspec

from pllm.api.validation import check_shape
from pllm.errors import GatewayError, bad_request
from pllm.http import Request
from pllm.store.engine import Store

# Admin payloads are a few hundred bytes; anything near this is not a management call.
MAX_BODY_BYTES = 1024 * 1024

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made an admin call: ``master``, an admin ``key`` (its id) or a ``jwt`` (its user)."""

    kind: str
    id: str | None = None


LOCAL = Caller("local")


@dataclass(slots=True)
class Reply:
    status: int
    payload: Any
    # Raw bytes with their content type, for the documentation routes.
    raw: bytes | None = None
    content_type: bytes = b"application/json"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class Call:
    """One admin request as a handler sees it."""

    req: Request
    opened: Store | None
    params: dict[str, str]
    caller: Caller
    query_string: bytes = b""

    @property
    def store(self) -> Store:
        if self.opened is None:
            raise store_unavailable()
        return self.opened

    async def body(self, kind: type[T]) -> T:
        raw = await self.req.read_body(MAX_BODY_BYTES)
        if not raw.strip():
            raw = b"{}"  # a body whose every field is optional may be left out
        try:
            value = _decode_body(raw)
        except msgspec.ValidationError as e:
            raise invalid(e) from None
        except (msgspec.DecodeError, RecursionError) as e:
            # RecursionError: nested about a thousand levels deep, past what the decoder takes.
            reason = str(e) if isinstance(e, msgspec.DecodeError) else "nested too deeply"
            raise bad_request(
                f"We could not parse the JSON body of your request ({reason}).",
                code="invalid_json",
            ) from None
        if type(value) is dict:
            check_shape(value)
        try:
            return msgspec.convert(value, kind)
        except msgspec.ValidationError as e:
            raise invalid(e) from None

    def query(self, kind: type[T]) -> T:
        raw: dict[str, Any] = {}
        kinds = _query_kinds(cast(Hashable, kind))
        # Latin-1 throughout maps bytes to characters one to one, raw or percent-encoded,
        # so each part's bytes can then be read as the UTF-8 they must be.
        text = self.query_string.decode("latin-1")
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, encoding="latin-1")
        for name, value in pairs:
            try:
                key, text = name.encode("latin-1").decode(), value.encode("latin-1").decode()
            except UnicodeDecodeError:
                raise bad_request(
                    "The query string is not UTF-8 (percent-encoded or not).",
                    code="invalid_query",
                ) from None
            raw[key] = _query_value(text, kinds.get(key))
        try:
            return msgspec.convert(raw, kind)
        except msgspec.ValidationError as e:
            raise invalid(e, where="query parameter") from None


def _number(text: str) -> float | int:
    """A JSON number with a fraction or exponent: an integer when it is one (2.0 is an
    integer to JSON Schema, so to the document too); never infinite."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("Number out of range")
    return int(value) if value.is_integer() else value


_decode_body = msgspec.json.Decoder(float_hook=_number).decode

_INTEGER = re.compile(r"-?[0-9]{1,20}")


@functools.cache
def _query_kinds(kind: Hashable) -> dict[str, str]:
    """How each query parameter of ``kind`` is read from its text: "int" or "bool" (others
    are strings; msgspec parses dates and checks enums, lengths and patterns)."""
    info = msgspec.inspect.type_info(kind)
    assert isinstance(info, msgspec.inspect.StructType)
    out: dict[str, str] = {}
    for f in info.fields:
        options = f.type.types if isinstance(f.type, msgspec.inspect.UnionType) else (f.type,)
        for t in options:
            if isinstance(t, msgspec.inspect.IntType):
                out[f.encode_name] = "int"
            elif isinstance(t, msgspec.inspect.BoolType):
                out[f.encode_name] = "bool"
    return out


def _query_value(text: str, kind: str | None) -> Any:
    """The value of one query parameter, read as its schema says: an integer is digits with an
    optional minus (2.0 and 1e3 are not), a boolean true or false; anything else is a 400 from
    msgspec, which sees the text."""
    if kind == "int" and _INTEGER.fullmatch(text):
        return int(text)
    if kind == "bool" and text in ("true", "false"):
        return text == "true"
    return text


def store_unavailable() -> GatewayError:
    return GatewayError(
        503,
        "The database is unavailable; nothing was changed. Retry shortly.",
        code="store_unavailable",
        type="service_unavailable",
    )


Handler = Callable[[Call], Awaitable[Reply]]

# Most admin handlers read one input (a body, a query or the path's id), pass it with the
# store to one service function and answer its result; these build such a handler, so a
# route names only the service function and the Struct it reads.


def reads_body(kind: type[T], op: Callable[[Store, T], Awaitable[Any]]) -> Handler:
    """The body as ``kind``; 201, as these handlers create."""

    async def handler(call: Call) -> Reply:
        return Reply(201, await op(call.store, await call.body(kind)))

    return handler


def reads_query(kind: type[T], op: Callable[[Store, T], Awaitable[Any]]) -> Handler:
    """The query string as ``kind``."""

    async def handler(call: Call) -> Reply:
        return Reply(200, await op(call.store, call.query(kind)))

    return handler


def reads_id(op: Callable[[Store, str], Awaitable[Any]]) -> Handler:
    """The path's ``{id}``."""

    async def handler(call: Call) -> Reply:
        return Reply(200, await op(call.store, call.params["id"]))

    return handler


def reads_id_and_body(
    kind: type[T], op: Callable[[Store, str, T], Awaitable[Any]], *, status: int = 200
) -> Handler:
    """The path's ``{id}`` and the body as ``kind``."""

    async def handler(call: Call) -> Reply:
        body = await call.body(kind)
        return Reply(status, await op(call.store, call.params["id"], body))

    return handler


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # "/admin/keys/{id}"
    handler: Handler
    summary: str
    tag: str
    body: type | None = None
    query: type | None = None
    response: type | None = None
    status: int = 200
    # Documentation and the health probe answer without a credential.
    guarded: bool = True
    description: str = ""
    # Statuses beyond those the document derives from the rest (400 for a body or query, 404
    # for a path with an id, 401/403/503 when guarded, …): 404 where a body or query names
    # something that may not exist.
    errors: tuple[int, ...] = ()
    # The media types of a reply that is not ``response``'s JSON (the documentation routes).
    media: tuple[str, ...] = ()
    # Refusals answered in ``response``'s shape rather than as an error: (status, why).
    refusals: tuple[tuple[int, str], ...] = ()
    segments: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(self.path.strip("/").split("/")))

    @property
    def path_params(self) -> list[str]:
        return [s[1:-1] for s in self.segments if s.startswith("{")]

    def match(self, parts: Sequence[str]) -> dict[str, str] | None:
        if len(parts) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for want, got in zip(self.segments, parts, strict=True):
            if want.startswith("{"):
                if not got:
                    return None
                params[want[1:-1]] = got  # ASGI paths arrive percent-decoded
            elif want != got:
                return None
        return params


def patch_route(
    path: str,
    kind: type[T],
    op: Callable[[Store, str, T], Awaitable[Any]],
    summary: str,
    tag: str,
    response: type,
) -> Route:
    """``PATCH path`` (``…/{id}``) with a ``kind`` body, whose fields default to UNSET."""
    return Route(
        "PATCH",
        path,
        reads_id_and_body(kind, op),
        summary,
        tag,
        body=kind,
        response=response,
        description="Fields left out are unchanged; a field sent as null is cleared.",
    )


class Router:
    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(routes)
        seen: set[tuple[str, str]] = set()
        for r in self.routes:
            if (r.method, r.path) in seen:
                raise ValueError(f"route declared twice: {r.method} {r.path}")
            seen.add((r.method, r.path))

    def resolve(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        parts = path.strip("/").split("/")
        matched: list[tuple[Route, dict[str, str]]] = []
        for route in self.routes:
            params = route.match(parts)
            if params is not None:
                matched.append((route, params))
        if not matched:
            raise GatewayError(404, f"Invalid URL ({method} {path})", code="unknown_url")
        # A literal segment beats a parameter: /admin/keys/x/revoke is never {id}=x/….
        matched.sort(key=lambda m: len(m[1]))
        fewest = len(matched[0][1])
        for route, params in matched:
            if len(params) == fewest and route.method == method:
                return route, params
        allowed = sorted({r.method for r, p in matched if len(p) == fewest})
        raise GatewayError(
            405,
            f"Method {method} not allowed for {path}",
            code="method_not_allowed",
            headers=(("allow", ", ".join(allowed)),),
        )


_AT = re.compile(r" - at `\$(.*)`$")
_UNKNOWN = re.compile(r"unknown field `([^`]+)`")
_MISSING = re.compile(r"missing required field `([^`]+)`")


def _join(base: str | None, name: str) -> str:
    return name if base is None else f"{base}.{name}"


def invalid(err: msgspec.ValidationError, *, where: str = "field") -> GatewayError:
    """A 400 that names the offending field, from msgspec's message."""
    text = str(err)
    at = _AT.search(text)
    # "$.limits.rpm" -> "limits.rpm", "$.models[0]" -> "models[0]", "$" -> None
    base = at.group(1).removeprefix(".") or None if at else None
    unknown = _UNKNOWN.search(text)
    if unknown is not None:
        name = _join(base, unknown.group(1))
        return bad_request(f"Unknown {where} '{name}'.", param=name, code="unknown_field")
    missing = _MISSING.search(text)
    if missing is not None:
        name = _join(base, missing.group(1))
        return bad_request(f"Missing required {where} '{name}'.", param=name, code="missing_field")
    message = _AT.sub("", text)
    if base is None:
        return bad_request(f"Invalid request: {message}.", code="invalid_request")
    return bad_request(f"Invalid {where} '{base}': {message}.", param=base, code="invalid_field")
