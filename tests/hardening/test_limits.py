"""Limits on everything a client controls, against a running gateway: each is a 4xx with an
OpenAI-shaped error that names the limit, on both listeners, and the request just under a
limit still works."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

from pllm.api import limits, validation
from tests.e2e.gateway import GatewayProcess
from tests.hardening.listeners import wait_for_admin

KEY = "sk-limits-master"
CONFIG = f"""
model_list:
  - model_name: mock
    litellm_params:
      model: mock/pllm-mock
general_settings:
  master_key: {KEY}
  data_dir: DATA
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    work = tmp_path_factory.mktemp("limits")
    with GatewayProcess(CONFIG.replace("DATA", str(work / "data")), work) as gw:
        yield wait_for_admin(gw)


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        sent = [("authorization", f"Bearer {KEY}"), *(headers or [])]
        if body is not None:
            sent += [("content-type", "application/json"), ("content-length", str(len(body)))]
        for name, value in sent:
            conn.putheader(name, value)
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, json.loads(data) if data.startswith(b"{") else {}
    finally:
        conn.close()


def chat(gateway: GatewayProcess, path: str = "/v1/chat/completions", **fields: Any) -> Any:
    body = {"model": "mock", "messages": [{"role": "user", "content": "hi"}], **fields}
    return request(gateway.port, "POST", path, json.dumps(body).encode())


def error_of(result: tuple[int, dict[str, Any]], status: int, code: str) -> dict[str, Any]:
    got, body = result
    assert got == status, body
    error: dict[str, Any] = body["error"]
    assert error["code"] == code and error["message"], error
    return error


# ---------------------------------------------------------------- the request head


@pytest.mark.parametrize("listener", ["gateway", "admin"])
def test_header_count(gateway: GatewayProcess, listener: str) -> None:
    port = gateway.port if listener == "gateway" else gateway.admin_port
    path = "/v1/models" if listener == "gateway" else "/admin/users"
    # http.client adds host; with authorization that makes MAX_HEADERS in all.
    fill = [(f"x-extra-{i}", "1") for i in range(limits.MAX_HEADERS - 2)]
    assert request(port, "GET", path, headers=fill)[0] == 200
    over = error_of(
        request(port, "GET", path, headers=[*fill, ("x-one-more", "1")]), 431, "too_many_headers"
    )
    assert str(limits.MAX_HEADERS) in over["message"]


@pytest.mark.parametrize("header", ["authorization", "x-api-key"])
def test_credential_size(gateway: GatewayProcess, header: str) -> None:
    big = "sk-" + "a" * limits.MAX_CREDENTIAL_BYTES
    result = request(gateway.port, "GET", "/v1/models", headers=[(header, big)])
    assert error_of(result, 431, "header_too_large")["param"] == header
    result = request(gateway.admin_port, "GET", "/admin/users", headers=[(header, big)])
    assert error_of(result, 431, "header_too_large")["param"] == header


def test_path_and_query_length(gateway: GatewayProcess) -> None:
    long_path = "/v1/models/" + "m" * limits.MAX_PATH_BYTES
    error_of(request(gateway.port, "GET", long_path), 414, "path_too_long")
    assert request(gateway.port, "GET", "/v1/models/" + "m" * 100)[0] == 404
    query = "?q=" + "x" * limits.MAX_QUERY_BYTES
    error_of(request(gateway.port, "GET", "/health" + query), 414, "query_too_long")
    error_of(request(gateway.admin_port, "GET", "/admin/users" + query), 414, "query_too_long")
    assert request(gateway.port, "GET", "/health?q=" + "x" * 1000)[0] == 200


# ---------------------------------------------------------------- the body


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_json_depth(gateway: GatewayProcess) -> None:
    # The body is level 1, so a field can hold MAX_JSON_DEPTH - 1 levels.
    assert chat(gateway, extra=nested(validation.MAX_JSON_DEPTH - 1))[0] == 200
    error = error_of(chat(gateway, extra=nested(validation.MAX_JSON_DEPTH)), 400, "json_too_deep")
    assert error["param"] == "extra"
    error = error_of(
        chat(gateway, tools=[{"function": {"parameters": nested(80)}}]), 400, "json_too_deep"
    )
    assert error["param"] == "tools"


def test_json_nested_past_the_decoder(gateway: GatewayProcess) -> None:
    # msgspec raises RecursionError past ~1,000 levels: a 400, not the catch-all's 500.
    body = b'{"model":"mock","messages":[],"x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert request(gateway.port, "POST", "/v1/chat/completions", body)[0] == 400


def test_array_length(gateway: GatewayProcess) -> None:
    n = validation.MAX_ARRAY_ITEMS
    error = error_of(chat(gateway, extra=[0] * (n + 1)), 400, "array_above_max_length")
    assert error["param"] == "extra" and str(n) in error["message"]
    error = error_of(chat(gateway, extra={"deep": [0] * (n + 1)}), 400, "array_above_max_length")
    assert error["param"] == "extra"


def test_message_and_tool_counts(gateway: GatewayProcess) -> None:
    message = {"role": "user", "content": ""}
    error = error_of(
        chat(gateway, messages=[message] * (validation.MAX_MESSAGES + 1)),
        400,
        "array_above_max_length",
    )
    assert error["param"] == "messages"
    tool = {"type": "function", "function": {"name": "f"}}
    assert chat(gateway, tools=[tool] * validation.MAX_TOOLS)[0] == 200
    error = error_of(
        chat(gateway, tools=[tool] * (validation.MAX_TOOLS + 1)), 400, "array_above_max_length"
    )
    assert error["param"] == "tools"
    anthropic = {"model": "mock", "max_tokens": 5, "messages": [message], "tools": [tool] * 1025}
    status, body = request(gateway.port, "POST", "/v1/messages", json.dumps(anthropic).encode())
    assert status == 400 and body["type"] == "error", body


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"max_tokens": 2**31}, "max_tokens", "integer_above_max_value"),
        ({"max_tokens": 10**30}, "max_tokens", "integer_above_max_value"),
        ({"max_tokens": 0}, "max_tokens", "integer_below_min_value"),
        ({"max_completion_tokens": 10**30}, "max_completion_tokens", "integer_above_max_value"),
        ({"n": -1}, "n", "integer_below_min_value"),
        ({"seed": 2**64}, "seed", "integer_above_max_value"),
        ({"max_tokens": 1.5}, "max_tokens", "invalid_type"),
        ({"stop": 5}, "stop", "invalid_type"),
        ({"tools": 5}, "tools", "invalid_type"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content", "invalid_type"),
        ({"model": "m" * 257}, "model", "string_above_max_length"),
    ],
)
def test_numbers_and_types(
    gateway: GatewayProcess, fields: dict[str, Any], param: str, code: str
) -> None:
    assert error_of(chat(gateway, **fields), 400, code)["param"] == param


def test_an_integral_float_is_an_integer(gateway: GatewayProcess) -> None:
    # JSON Schema counts 16.0 as an integer, so the gateway does too.
    assert chat(gateway, max_tokens=16.0)[0] == 200


@pytest.mark.parametrize(
    "fields",
    [
        {"max_tokens": 10**30},
        {"messages": [{"role": "user", "content": 5}]},
        {"tools": 5},
        {"stop_sequences": 5},
        {"system": 5},
    ],
)
def test_messages_api_refuses_with_its_own_shape(
    gateway: GatewayProcess, fields: dict[str, Any]
) -> None:
    body = {"model": "mock", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    status, reply = request(
        gateway.port, "POST", "/v1/messages", json.dumps({**body, **fields}).encode()
    )
    assert status == 400, reply
    assert reply["type"] == "error" and reply["error"]["type"] == "invalid_request_error"
