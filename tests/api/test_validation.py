from __future__ import annotations

from typing import Any

import pytest

from pllm.api.validation import check_chat, check_completion, check_embeddings
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
