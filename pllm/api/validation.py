"""Checks on the request fields the gateway reads or types, and limits on the shape of every
model-call body; every other field passes through to the provider.

Each checked field is declared once, as a :class:`Field` that carries both its check and its
JSON Schema: the ``check_*`` functions enforce the fields of their endpoint (:data:`CHAT`,
:data:`COMPLETION`, :data:`EMBEDDINGS`, :data:`MESSAGES`) and :mod:`pllm.api.openapi` writes
the same declarations into the OpenAPI document, so the two cannot disagree. A wrong type or
an out-of-range number is a 400 naming the parameter, as OpenAI answers, before anything is
routed or reserved; ``null`` is the same as leaving an optional field out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pllm.errors import GatewayError, bad_request

# ---------------------------------------------------------------- the limits

INT32_MAX = 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_MODEL_CHARS = 256
# Anthropic's documented cap on a request's messages, the largest of the providers'.
MAX_MESSAGES = 100_000
MAX_TOOLS = 1_024
# Tool parameter schemas nest a dozen levels; 64 is far from that and from the ~1,000 at
# which decoding and re-encoding a body would run out of recursion.
MAX_JSON_DEPTH = 64
# The longest legitimate arrays are prompts given as token ids (a million-token context).
MAX_ARRAY_ITEMS = 1 << 20

# check(body, name, value): raises a 400 for a value it refuses (never called with None);
# it may write the value back to body normalised (2.0 as 2).
Check = Callable[[dict[str, Any], str, Any], None]


@dataclass(frozen=True, slots=True)
class Field:
    """A request field: ``check`` raises a 400 for a value it refuses, and ``schema`` is the
    JSON Schema of exactly the values it accepts."""

    check: Check
    schema: dict[str, Any]
    description: str = ""
    # The check also applies the shape limits inside the value (messages do, in the loop
    # they need anyway).
    walks: bool = False


@dataclass(frozen=True, slots=True)
class Request:
    """An endpoint's body: its checked fields, the required ones among them, and rules
    across fields (JSON Schema, for the document; the check function enforces them)."""

    fields: Mapping[str, Field]
    required: tuple[str, ...]
    rules: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- errors


def _type_error(param: str, expected: str) -> GatewayError:
    return bad_request(
        f"Invalid type for '{param}': expected {expected}.", param=param, code="invalid_type"
    )


def _missing(param: str) -> GatewayError:
    return bad_request(f"Missing required parameter: '{param}'.", param=param)


def _too_many(param: str, limit: int, got: int) -> GatewayError:
    return bad_request(
        f"Invalid '{param}': array too long. Expected an array with maximum length {limit}, "
        f"but got an array with length {got} instead.",
        param=param,
        code="array_above_max_length",
    )


def _empty(param: str) -> GatewayError:
    return bad_request(
        f"Invalid '{param}': empty array. Expected an array with minimum length 1.",
        param=param,
        code="empty_array",
    )


# ---------------------------------------------------------------- field kinds

_NULL = {"type": "null"}


def integer(ge: int, le: int, description: str = "") -> Field:
    def check(body: dict[str, Any], name: str, v: Any) -> None:
        # Not isinstance: True is an int to Python, not to JSON. And 2.0 is an integer to
        # JSON Schema, so it is accepted, as 2.
        t = type(v)
        if t is not int:
            if t is not float or not v.is_integer():
                raise _type_error(name, "an integer")
            body[name] = v = int(v)  # what a provider that wants an integer reads
        if v < ge:
            raise bad_request(
                f"Invalid '{name}': integer below minimum value. Expected a value >= {ge}, "
                f"but got {v} instead.",
                param=name,
                code="integer_below_min_value",
            )
        if v > le:
            raise bad_request(
                f"Invalid '{name}': integer above maximum value. Expected a value <= {le}, "
                f"but got {v} instead.",
                param=name,
                code="integer_above_max_value",
            )

    return Field(check, {"type": "integer", "minimum": ge, "maximum": le}, description)


def number(description: str = "") -> Field:
    def check(body: dict[str, Any], name: str, v: Any) -> None:
        t = type(v)
        if t is not float and t is not int:
            raise _type_error(name, "a number")

    return Field(check, {"type": "number"}, description)


def boolean(description: str = "") -> Field:
    def check(body: dict[str, Any], name: str, v: Any) -> None:
        if type(v) is not bool:
            raise _type_error(name, "a boolean")

    return Field(check, {"type": "boolean"}, description)


def string(description: str = "") -> Field:
    def check(body: dict[str, Any], name: str, v: Any) -> None:
        if type(v) is not str:
            raise _type_error(name, "a string")

    return Field(check, {"type": "string"}, description)


def one_of(*values: str, description: str = "") -> Field:
    def check(body: dict[str, Any], name: str, v: Any) -> None:
        if v not in values or type(v) is not str:
            listed = " or ".join(f"'{x}'" for x in values)
            raise bad_request(f"'{name}' must be {listed}.", param=name)

    return Field(check, {"type": "string", "enum": list(values)}, description)


def an_object(description: str = "", schema: dict[str, Any] | None = None) -> Field:
    def check(body: dict[str, Any], name: str, v: Any) -> None:
        if type(v) is not dict:
            raise _type_error(name, "an object")

    return Field(check, schema or {"type": "object"}, description)


def alternatives(expected: str, description: str, *options: dict[str, Any]) -> Field:
    """A value of one of a few JSON types (``options``, each ``{"type": …}``)."""
    names = {"string": str, "object": dict, "array": list}
    kinds = tuple(names[o["type"]] for o in options)

    def check(body: dict[str, Any], name: str, v: Any) -> None:
        if type(v) not in kinds:
            raise _type_error(name, expected)

    return Field(check, {"anyOf": list(options)}, description)


def _model(payload: dict[str, Any]) -> str:
    model = payload.get("model")
    if model is None:
        raise bad_request(
            "You must provide a model parameter.", param="model", code="missing_model"
        )
    if type(model) is not str or not model:
        raise _type_error("model", "a non-empty string")
    if len(model) > MAX_MODEL_CHARS:
        raise bad_request(
            f"Invalid 'model': string too long. Expected a string with maximum length "
            f"{MAX_MODEL_CHARS}, but got a string with length {len(model)} instead.",
            param="model",
            code="string_above_max_length",
        )
    return model


def _checked_first(body: dict[str, Any], name: str, v: Any) -> None:
    """Every check_* reads the model (_model) before any other field."""


MODEL = Field(
    _checked_first,
    {"type": "string", "minLength": 1, "maxLength": MAX_MODEL_CHARS},
    "A model name this gateway serves (GET /v1/models lists them).",
)

# ---------------------------------------------------------------- messages, tools, prompts

_CONTENT = {"anyOf": [{"type": "string"}, {"type": "array"}, _NULL]}


def _messages(*, openai: bool) -> Check:
    def check(body: dict[str, Any], name: str, messages: Any) -> None:
        if type(messages) is not list:
            raise _type_error(name, "an array")
        if openai and not messages:
            raise _empty(name)
        if len(messages) > MAX_MESSAGES:
            raise _too_many(name, MAX_MESSAGES, len(messages))
        for i, m in enumerate(messages):
            # The common message, a role and a text: nothing in it to look into.
            if (
                type(m) is dict
                and len(m) == 2
                and type(m.get("content")) is str
                and type(m.get("role")) is str
            ):
                continue
            _message(name, i, m, openai)

    return check


def _message(name: str, i: int, m: Any, openai: bool) -> None:
    if type(m) is not dict or (openai and type(m.get("role")) is not str):
        expected = "an object with a string 'role'" if openai else "an object"
        raise _type_error(f"{name}[{i}]", expected)
    content = m.get("content")
    if content is not None and type(content) is not str and type(content) is not list:
        raise _type_error(f"{name}[{i}].content", "a string, an array or null")
    _nesting(name, m, 3)


CHAT_MESSAGES = Field(
    _messages(openai=True),
    {
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_MESSAGES,
        "items": {
            "type": "object",
            "required": ["role"],
            "properties": {
                "role": {
                    "type": "string",
                    "description": "system, developer, user, assistant or tool: passed on as "
                    "given, for the provider to check.",
                },
                "content": _CONTENT,
            },
        },
    },
    "The conversation so far. Fields of a message other than role and content (name, "
    "tool_calls, tool_call_id, …) pass through unchecked.",
    walks=True,
)
# Anthropic's Messages API: pllm.api.anthropic.check_messages also requires at least one
# message, each with role user or assistant (the document says so below; /count_tokens does
# not check them).
MESSAGES_API_MESSAGES = Field(
    _messages(openai=False),
    {
        "type": "array",
        "maxItems": MAX_MESSAGES,
        "items": {"type": "object", "properties": {"content": _CONTENT}},
    },
    walks=True,
)


def _tools(body: dict[str, Any], name: str, tools: Any) -> None:
    if type(tools) is not list:
        raise _type_error(name, "an array")
    if len(tools) > MAX_TOOLS:
        raise _too_many(name, MAX_TOOLS, len(tools))
    for i, tool in enumerate(tools):
        if type(tool) is not dict:
            raise _type_error(f"{name}[{i}]", "an object")


TOOLS = Field(
    _tools,
    {"type": "array", "maxItems": MAX_TOOLS, "items": {"type": "object"}},
    "Passed on as given.",
)


def _strings(body: dict[str, Any], name: str, v: Any) -> None:
    if type(v) is not list or any(type(s) is not str for s in v):
        raise _type_error(name, "an array of strings")


def _stop(body: dict[str, Any], name: str, v: Any) -> None:
    if type(v) is not str:
        _strings(body, name, v)


STOP = Field(
    _stop,
    {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
)
STOP_SEQUENCES = Field(_strings, {"type": "array", "items": {"type": "string"}})

_TOKEN = {"type": "integer", "minimum": 0, "maximum": INT32_MAX}


def _token(t: Any) -> bool:
    return (type(t) is int or (type(t) is float and t.is_integer())) and 0 <= t <= INT32_MAX


def _text_or_tokens(body: dict[str, Any], name: str, v: Any) -> None:
    if type(v) is str:
        return
    ok = (
        type(v) is list
        and bool(v)
        and (
            all(type(s) is str for s in v)
            or all(_token(t) for t in v)
            or all(type(a) is list and all(_token(t) for t in a) for a in v)
        )
    )
    if not ok:
        raise _type_error(
            name,
            "a string, an array of strings, an array of token ids or an array of token-id arrays",
        )


TEXT_OR_TOKENS_SCHEMA = {
    "anyOf": [
        {"type": "string"},
        {"type": "array", "minItems": 1, "items": {"type": "string"}},
        {"type": "array", "minItems": 1, "items": _TOKEN},
        {"type": "array", "minItems": 1, "items": {"type": "array", "items": _TOKEN}},
    ]
}


def _stream_options(body: dict[str, Any], name: str, v: Any) -> None:
    if type(v) is not dict:
        raise _type_error(name, "an object")
    if "include_usage" in v and type(v["include_usage"]) is not bool:
        raise _type_error(f"{name}.include_usage", "a boolean")


STREAM_OPTIONS = Field(
    _stream_options,
    {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
    "Only with stream: true.",
)
# Stated for the document; check_chat and check_completion enforce it.
_STREAM_OPTIONS_NEED_STREAM = {
    "if": {"required": ["stream_options"], "properties": {"stream_options": {"type": "object"}}},
    "then": {"required": ["stream"], "properties": {"stream": {"const": True}}},
}

# ---------------------------------------------------------------- the endpoints

_SAMPLING: dict[str, Field] = {
    "stream": boolean("Server-sent events instead of one JSON reply."),
    "temperature": number(),
    "top_p": number(),
    "frequency_penalty": number(),
    "presence_penalty": number(),
    "max_tokens": integer(1, INT32_MAX, "The reply's token cap (reserved against tpm limits)."),
    "n": integer(1, INT32_MAX),
    "seed": integer(INT64_MIN, INT64_MAX),
    "stop": STOP,
    "user": string(),
    "stream_options": STREAM_OPTIONS,
}

CHAT = Request(
    {
        "model": MODEL,
        "messages": CHAT_MESSAGES,
        **_SAMPLING,
        "max_completion_tokens": integer(1, INT32_MAX),
        "top_logprobs": integer(0, INT32_MAX),
        "tools": TOOLS,
        "tool_choice": alternatives(
            "a string or an object", "", {"type": "string"}, {"type": "object"}
        ),
        "response_format": an_object(),
    },
    ("model", "messages"),
    _STREAM_OPTIONS_NEED_STREAM,
)
COMPLETION = Request(
    {
        "model": MODEL,
        "prompt": Field(_text_or_tokens, TEXT_OR_TOKENS_SCHEMA),
        **_SAMPLING,
    },
    ("model", "prompt"),
    _STREAM_OPTIONS_NEED_STREAM,
)
EMBEDDINGS = Request(
    {
        "model": MODEL,
        "input": Field(_text_or_tokens, TEXT_OR_TOKENS_SCHEMA),
        "encoding_format": one_of("float", "base64"),
        "dimensions": integer(1, INT32_MAX),
        "user": string(),
    },
    ("model", "input"),
)
# Anthropic's Messages API (/v1/messages and /v1/messages/count_tokens): the fields whose
# type the gateway relies on; pllm.api.anthropic checks the rest of /v1/messages.
MESSAGES = Request(
    {
        "model": MODEL,
        "messages": MESSAGES_API_MESSAGES,
        "max_tokens": integer(1, INT32_MAX),
        "stream": boolean(),
        "system": alternatives("a string or an array", "", {"type": "string"}, {"type": "array"}),
        "temperature": number(),
        "top_p": number(),
        "stop_sequences": STOP_SEQUENCES,
        "tools": TOOLS,
    },
    ("model",),
)

# ---------------------------------------------------------------- shape limits


def _too_deep(param: str) -> GatewayError:
    return bad_request(
        f"Invalid '{param}': nested deeper than {MAX_JSON_DEPTH} levels of objects and arrays.",
        param=param,
        code="json_too_deep",
    )


def _nesting(param: str, value: Any, depth: int) -> None:
    """Refuses containers deeper than MAX_JSON_DEPTH and arrays longer than MAX_ARRAY_ITEMS
    inside ``value``, a container at ``depth`` (the body itself is 1). Level by level rather
    than recursively: a call per container costs more than the loop."""
    level = [value]
    while True:
        below = []
        for container in level:
            for v in container.values() if type(container) is dict else container:
                t = type(v)
                if t is dict:
                    below.append(v)
                elif t is list:
                    if len(v) > MAX_ARRAY_ITEMS:
                        raise _too_many(param, MAX_ARRAY_ITEMS, len(v))
                    below.append(v)
        if not below:
            return
        if depth >= MAX_JSON_DEPTH:
            raise _too_deep(param)
        depth += 1
        level = below


def check_shape(payload: dict[str, Any]) -> None:
    """The depth and array limits on a whole JSON body (the admin API's too)."""
    for name, value in payload.items():
        t = type(value)
        if t is dict or t is list:
            if t is list and len(value) > MAX_ARRAY_ITEMS:
                raise _too_many(name, MAX_ARRAY_ITEMS, len(value))
            _nesting(name, value, 2)


def check_fields(payload: dict[str, Any], request: Request) -> None:
    """``request``'s fields present in ``payload``, and the shape limits, in one pass."""
    fields = request.fields
    for name, value in payload.items():
        f = fields.get(name)
        if f is not None and value is not None:
            f.check(payload, name, value)
            if f.walks:
                continue
        t = type(value)
        if t is dict or t is list:
            if t is list and len(value) > MAX_ARRAY_ITEMS:
                raise _too_many(name, MAX_ARRAY_ITEMS, len(value))
            _nesting(name, value, 2)


def _required(payload: dict[str, Any], request: Request) -> str:
    model = _model(payload)
    for name in request.required:
        if payload.get(name) is None:
            raise _missing(name)
    return model


def _stream(payload: dict[str, Any]) -> bool:
    stream = payload.get("stream") is True
    if payload.get("stream_options") is not None and not stream:
        raise bad_request(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    return stream


def check_chat(payload: dict[str, Any]) -> tuple[str, bool]:
    model = _required(payload, CHAT)
    check_fields(payload, CHAT)
    return model, _stream(payload)


def check_completion(payload: dict[str, Any]) -> tuple[str, bool]:
    model = _required(payload, COMPLETION)
    check_fields(payload, COMPLETION)
    return model, _stream(payload)


def check_embeddings(payload: dict[str, Any]) -> str:
    model = _required(payload, EMBEDDINGS)
    check_fields(payload, EMBEDDINGS)
    return model


def require_model(payload: dict[str, Any]) -> str:
    """The model of a Messages API call (``/v1/messages``, ``/v1/messages/count_tokens``),
    after the checks of :data:`MESSAGES`: :mod:`pllm.api.anthropic` calls this first."""
    model = _model(payload)
    check_fields(payload, MESSAGES)
    return model
