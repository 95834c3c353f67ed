from __future__ import annotations

from typing import Any

import pytest

from pllm.api import validation
from pllm.api.validation import check_chat, check_completion, check_embeddings, require_model
from pllm.errors import GatewayError

OK_MSGS = [{"role": "user", "content": "x"}]


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({"messages": OK_MSGS}, "model"),
        ({"model": "", "messages": OK_MSGS}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": {}}, "messages"),
        ({"model": "m", "messages": ["hi"]}, "messages[0]"),
        ({"model": "m", "messages": OK_MSGS, "stream": 1}, "stream"),
        (
            {"model": "m", "messages": OK_MSGS, "stream_options": {"include_usage": True}},
            "stream_options",
        ),
        ({"model": "m", "messages": OK_MSGS, "n": True}, "n"),
        ({"model": "m", "messages": OK_MSGS, "top_p": "1"}, "top_p"),
    ],
)
def test_chat_rejects_with_the_parameter_named(payload: dict[str, Any], param: str) -> None:
    with pytest.raises(GatewayError) as e:
        check_chat(payload)
    assert e.value.status == 400 and e.value.param == param


def test_chat_accepts_and_reports_streaming() -> None:
    assert check_chat({"model": "m", "messages": OK_MSGS}) == ("m", False)
    payload = {
        "model": "m",
        "messages": OK_MSGS,
        "stream": True,
        "stream_options": {},
        "x": object(),
    }
    assert check_chat(payload) == ("m", True)


def test_completion_and_embeddings_inputs() -> None:
    assert check_completion({"model": "m", "prompt": ["a", "b"]}) == ("m", False)
    for good in ("a", ["a", "b"], [1, 2], [[1, 2], [3]]):
        assert check_embeddings({"model": "m", "input": good}) == "m"
    for bad in (None, 5, [], ["a", 1], [True]):
        with pytest.raises(GatewayError):
            check_embeddings({"model": "m", "input": bad})
    with pytest.raises(GatewayError):
        check_embeddings({"model": "m", "input": "a", "encoding_format": "int8"})


def test_integers_have_real_ranges_and_json_schema_integers() -> None:
    payload: dict[str, Any] = {"model": "m", "messages": OK_MSGS, "max_tokens": 16.0, "n": 2.0}
    check_chat(payload)
    # 16.0 is an integer to JSON Schema: accepted, and passed on as 16.
    assert payload["max_tokens"] == 16 and type(payload["max_tokens"]) is int
    for name, value, code in [
        ("max_tokens", 0, "integer_below_min_value"),
        ("max_tokens", 2**31, "integer_above_max_value"),
        ("max_completion_tokens", 10**40, "integer_above_max_value"),
        ("seed", -(2**63) - 1, "integer_below_min_value"),
        ("top_logprobs", -1, "integer_below_min_value"),
        ("max_tokens", 1.5, "invalid_type"),
        ("max_tokens", True, "invalid_type"),
    ]:
        with pytest.raises(GatewayError) as e:
            check_chat({"model": "m", "messages": OK_MSGS, name: value})
        assert (e.value.param, e.value.code) == (name, code)


def test_messages_shapes() -> None:
    multimodal = {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": "data:,"}}],
        "name": "x",
    }
    assert check_chat({"model": "m", "messages": [multimodal]}) == ("m", False)
    with pytest.raises(GatewayError) as e:
        check_chat({"model": "m", "messages": [*OK_MSGS, {"role": "user", "content": 5}]})
    assert e.value.param == "messages[1].content"
    deep: Any = "x"
    for _ in range(validation.MAX_JSON_DEPTH):
        deep = [deep]
    with pytest.raises(GatewayError) as e:
        check_chat({"model": "m", "messages": [{"role": "user", "content": deep}]})
    assert (e.value.param, e.value.code) == ("messages", "json_too_deep")


def test_shape_limits_reach_every_field() -> None:
    deep: Any = {}  # the body is level 1, "anything" level 2: 63 objects fill the limit
    for _ in range(validation.MAX_JSON_DEPTH - 2):
        deep = {"a": deep}
    check_chat({"model": "m", "messages": OK_MSGS, "anything": deep})
    with pytest.raises(GatewayError) as e:
        check_chat({"model": "m", "messages": OK_MSGS, "anything": {"a": deep}})
    assert (e.value.param, e.value.code) == ("anything", "json_too_deep")
    with pytest.raises(GatewayError) as e:
        check_embeddings(
            {"model": "m", "input": "x", "x": [[0] * (validation.MAX_ARRAY_ITEMS + 1)]}
        )
    assert (e.value.param, e.value.code) == ("x", "array_above_max_length")


def test_text_or_tokens_and_stream_options() -> None:
    for bad in ([], [[True]], [-1], [2**31], [["a"]]):
        with pytest.raises(GatewayError):
            check_completion({"model": "m", "prompt": bad})
    assert check_completion({"model": "m", "prompt": [[]]}) == ("m", False)
    with pytest.raises(GatewayError) as e:
        check_chat(
            {
                "model": "m",
                "messages": OK_MSGS,
                "stream": True,
                "stream_options": {"include_usage": 1},
            }
        )
    assert e.value.param == "stream_options.include_usage"


def test_messages_api_fields() -> None:
    assert require_model({"model": "m", "messages": [{"role": "user", "content": "x"}]}) == "m"
    for fields in ({"max_tokens": 10**20}, {"system": 5}, {"stop_sequences": [1]}, {"tools": {}}):
        with pytest.raises(GatewayError):
            require_model({"model": "m", **fields})
