"""OpenAI chat request -> Anthropic Messages request, on fixtures written from both APIs' docs."""

from __future__ import annotations

from typing import Any

import pytest

from pllm.errors import GatewayError
from pllm.providers.anthropic import openai_to_anthropic_request

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}


def test_plain_request_with_system_sampling_stop_and_user() -> None:
    req = {
        "model": "claude",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hello"},
        ],
        "max_tokens": 100,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": "END",
        "user": "user-42",
        "stream": True,
        "stream_options": {"include_usage": True},
        "presence_penalty": 0.5,  # no Anthropic equivalent: dropped
        "logprobs": False,
    }
    assert openai_to_anthropic_request(req, "claude-sonnet-4-5") == {
        "model": "claude-sonnet-4-5",
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "Hello"}],
        "max_tokens": 100,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "user-42"},
        "stream": True,
    }


def test_max_tokens_defaults_per_model_and_max_completion_tokens_wins() -> None:
    msgs = [{"role": "user", "content": "x"}]
    assert (
        openai_to_anthropic_request({"messages": msgs}, "claude-sonnet-4-5")["max_tokens"] == 64000
    )
    assert (
        openai_to_anthropic_request({"messages": msgs}, "claude-3-haiku-20240307")["max_tokens"]
        == 4096
    )
    assert openai_to_anthropic_request({"messages": msgs}, "claude-opus-4-1")["max_tokens"] == 32000
    req = {"messages": msgs, "max_tokens": 5, "max_completion_tokens": 9}
    assert openai_to_anthropic_request(req, "claude-sonnet-4-5")["max_tokens"] == 9


def test_system_parts_and_several_system_messages_become_blocks() -> None:
    req = {
        "messages": [
            {
                "role": "system",
                "content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}],
            },
            {"role": "developer", "content": "C"},
            {"role": "user", "content": "hi"},
        ]
    }
    out = openai_to_anthropic_request(req, "m")
    assert out["system"] == [
        {"type": "text", "text": "A"},
        {"type": "text", "text": "B"},
        {"type": "text", "text": "C"},
    ]


def test_images_by_url_and_base64_data_url() -> None:
    req = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"},
                    },
                ],
            }
        ]
    }
    assert openai_to_anthropic_request(req, "m")["messages"][0]["content"] == [
        {"type": "text", "text": "What is in these?"},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
    ]


def test_malformed_data_url_is_a_400() -> None:
    req = {
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:nope"}}]}
        ]
    }
    with pytest.raises(GatewayError) as e:
        openai_to_anthropic_request(req, "m")
    assert e.value.status == 400


def test_tools_tool_calls_and_results_with_merged_turns() -> None:
    req: dict[str, Any] = {
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location":"Rome"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {
                "role": "tool",
                "tool_call_id": "call_2",
                "content": [{"type": "text", "text": "22C"}],
            },
            {"role": "user", "content": "Thanks, and?"},
        ],
        "tools": [WEATHER_TOOL],
        "tool_choice": "required",
        "parallel_tool_calls": False,
    }
    out = openai_to_anthropic_request(req, "m")
    assert out["tools"] == [
        {
            "name": "get_weather",
            "description": "Get the current weather in a given location",
            "input_schema": WEATHER_TOOL["function"]["parameters"],
        }
    ]
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert out["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "call_1",
                    "name": "get_weather",
                    "input": {"location": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": "call_2",
                    "name": "get_weather",
                    "input": {"location": "Rome"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "call_2",
                    "content": [{"type": "text", "text": "22C"}],
                },
                {"type": "text", "text": "Thanks, and?"},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    req = {
        "messages": [{"role": "user", "content": "x"}],
        "tools": [WEATHER_TOOL],
        "tool_choice": choice,
    }
    assert openai_to_anthropic_request(req, "m")["tool_choice"] == expected


def test_reasoning_effort_enables_thinking_within_max_tokens() -> None:
    req = {
        "messages": [{"role": "user", "content": "x"}],
        "reasoning_effort": "medium",
        "max_tokens": 1000,
    }
    out = openai_to_anthropic_request(req, "m")
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert out["max_tokens"] > 4096


def test_bad_tool_arguments_and_n_are_400s() -> None:
    bad = {
        "messages": [
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{nope"}}
                ],
            }
        ]
    }
    with pytest.raises(GatewayError):
        openai_to_anthropic_request(bad, "m")
    with pytest.raises(GatewayError):
        openai_to_anthropic_request({"messages": [{"role": "user", "content": "x"}], "n": 2}, "m")
