"""Responses request -> chat completion request: fixtures per mapping, and the 400s."""

from __future__ import annotations

from typing import Any

import pytest

from pllm.errors import GatewayError
from pllm.providers.responses.request_to_chat import responses_to_chat_request


def chat(**payload: Any) -> dict[str, Any]:
    return responses_to_chat_request({"model": "m", **payload})


def test_string_input_and_instructions() -> None:
    out = chat(input="Hi", instructions="Be brief.", max_output_tokens=50, temperature=0.2)
    assert out == {
        "model": "m",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        "max_tokens": 50,
        "temperature": 0.2,
    }


def test_message_items_with_parts() -> None:
    out = chat(
        input=[
            {"role": "developer", "content": "Rules."},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {"type": "input_image", "image_url": "https://x/i.png", "detail": "low"},
                ],
            },
            {"role": "assistant", "content": [{"type": "output_text", "text": "A cat."}]},
        ],
        top_p=0.9,
        stream=True,
    )
    assert out["messages"] == [
        {"role": "system", "content": "Rules."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://x/i.png", "detail": "low"}},
            ],
        },
        {"role": "assistant", "content": "A cat."},
    ]
    assert out["top_p"] == 0.9 and out["stream"] is True


def test_function_calls_and_outputs() -> None:
    out = chat(
        input=[
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"type": "function_call", "call_id": "c1", "name": "w", "arguments": '{"c":"P"}'},
            {"type": "function_call", "call_id": "c2", "name": "w", "arguments": '{"c":"R"}'},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            {
                "type": "function_call_output",
                "call_id": "c2",
                "output": [{"type": "input_text", "text": "rain"}],
            },
        ]
    )
    call = {"type": "function", "function": {"name": "w"}}
    assert out["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", **call, "function": {"name": "w", "arguments": '{"c":"P"}'}},
                {"id": "c2", **call, "function": {"name": "w", "arguments": '{"c":"R"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "rain"}]},
    ]


def test_tools_tool_choice_and_formats() -> None:
    params = {"type": "object", "properties": {"c": {"type": "string"}}}
    out = chat(
        input="x",
        tools=[{"type": "function", "name": "w", "description": "d", "parameters": params}],
        tool_choice={"type": "function", "name": "w"},
        parallel_tool_calls=False,
        text={"format": {"type": "json_schema", "name": "s", "schema": params, "strict": True}},
        reasoning={"effort": "low"},
    )
    assert out["tools"] == [
        {"type": "function", "function": {"name": "w", "description": "d", "parameters": params}}
    ]
    assert out["tool_choice"] == {"type": "function", "function": {"name": "w"}}
    assert out["parallel_tool_calls"] is False
    assert out["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "s", "schema": params, "strict": True},
    }
    assert out["reasoning_effort"] == "low"
    assert chat(input="x", text={"format": {"type": "json_object"}})["response_format"] == {
        "type": "json_object"
    }
    assert "response_format" not in chat(input="x", text={"format": {"type": "text"}})
    assert chat(input="x", tool_choice="required")["tool_choice"] == "required"


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({"previous_response_id": "resp_1"}, "previous_response_id"),
        ({"store": True}, "store"),
        ({"background": True}, "background"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"tools": [{"type": "file_search", "vector_store_ids": []}]}, "tools[0].type"),
        ({"tool_choice": {"type": "web_search_preview"}}, "tool_choice"),
        ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
        ({"input": [{"role": "user", "content": [{"type": "input_file"}]}]}, None),
    ],
)
def test_what_needs_openai_is_a_400_naming_it(payload: dict[str, Any], param: str | None) -> None:
    with pytest.raises(GatewayError) as e:
        chat(**{"input": "x", **payload})
    assert e.value.status == 400
    assert e.value.code == "unsupported_parameter"
    if param is not None:
        assert e.value.param == param
        assert param.split("[")[0] in e.value.message or "tool" in e.value.message


def test_store_false_and_background_false_pass() -> None:
    assert chat(input="x", store=False, background=False)["messages"] == [
        {"role": "user", "content": "x"}
    ]
