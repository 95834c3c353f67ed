"""OpenAI chat requests -> Converse bodies, against the shapes of AWS's Converse API reference
(messages/content blocks, system, inferenceConfig, toolConfig/toolSpec/toolChoice,
additionalModelRequestFields), each checked by the fake runtime's request validation."""

from __future__ import annotations

from typing import Any

import pytest

from pllm.errors import GatewayError
from pllm.providers.bedrock import openai_to_bedrock_request
from tests.fakes.bedrock_upstream import check_converse

CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
PIXEL = "iVBORw0KGgo="
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}


def convert(payload: dict[str, Any], model: str = CLAUDE) -> dict[str, Any]:
    out = openai_to_bedrock_request(payload, model)
    assert check_converse(out) is None, check_converse(out)
    return out


def test_messages_system_and_inference_config() -> None:
    out = convert(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Be kind."}]},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": [{"type": "text", "text": "Again"}]},
            ],
            "max_completion_tokens": 64,
            "temperature": 0.2,
            "top_p": 0.9,
            "stop": ["END", ""],
            "user": "u-1",
            "logit_bias": {"1": 2},
            "n": 1,
        }
    )
    assert out == {
        "messages": [
            {"role": "user", "content": [{"text": "Hi"}]},
            {"role": "assistant", "content": [{"text": "Hello!"}]},
            {"role": "user", "content": [{"text": "Again"}]},
        ],
        "system": [{"text": "Be brief."}, {"text": "Be kind."}],
        "inferenceConfig": {
            "maxTokens": 64,
            "temperature": 0.2,
            "topP": 0.9,
            "stopSequences": ["END"],
        },
    }
    assert convert({"messages": [{"role": "user", "content": "x"}], "stop": "STOP"})[
        "inferenceConfig"
    ] == {"stopSequences": ["STOP"]}


def test_only_a_system_prompt_is_the_users_turn_and_empty_text_is_dropped() -> None:
    out = convert({"messages": [{"role": "system", "content": "Say hi"}]})
    assert out == {"messages": [{"role": "user", "content": [{"text": "Say hi"}]}]}
    out = convert(
        {
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": ""},
                {"role": "user", "content": [{"type": "text", "text": ""}, "b"]},
            ]
        }
    )
    # The empty assistant turn is gone; the two user turns merge (Converse alternates).
    assert out["messages"] == [{"role": "user", "content": [{"text": "a"}, {"text": "b"}]}]


def test_images_and_documents() -> None:
    out = convert(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Look"},
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/png;base64,{PIXEL}"},
                        },
                        {"type": "image_url", "image_url": "data:image/webp;base64,UklGRg=="},
                        {"type": "image_url", "image_url": {"url": "s3://bucket/cat.jpg"}},
                        {
                            "type": "file",
                            "file": {"file_data": "data:application/pdf;base64,JVBERi0="},
                        },
                    ],
                }
            ]
        }
    )
    assert out["messages"][0]["content"][1:] == [
        {"image": {"format": "png", "source": {"bytes": PIXEL}}},
        {"image": {"format": "webp", "source": {"bytes": "UklGRg=="}}},
        {"image": {"format": "jpeg", "source": {"s3Location": {"uri": "s3://bucket/cat.jpg"}}}},
        {"document": {"format": "pdf", "name": "document 1", "source": {"bytes": "JVBERi0="}}},
    ]


@pytest.mark.parametrize(
    "url",
    [
        "https://img.example/cat.png",
        "data:image/png,notbase64",
        "data:image/tiff;base64,AAAA",
    ],
)
def test_images_bedrock_cannot_take_are_refused(url: str) -> None:
    with pytest.raises(GatewayError) as e:
        openai_to_bedrock_request(
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}
                ]
            },
            CLAUDE,
        )
    assert e.value.status == 400


def test_tools_tool_choice_and_a_tool_round_trip() -> None:
    history = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "tooluse_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
                },
                {
                    "id": "tooluse_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "tooluse_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "tooluse_2", "content": [{"type": "text", "text": "21C"}]},
    ]
    out = convert({"messages": history, "tools": [WEATHER], "tool_choice": "required"})
    assert out["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "Get the weather",
                    "inputSchema": {"json": WEATHER["function"]["parameters"]},
                }
            }
        ],
        "toolChoice": {"any": {}},
    }
    assert out["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"text": "Checking."},
                {
                    "toolUse": {
                        "toolUseId": "tooluse_1",
                        "name": "get_weather",
                        "input": {"location": "Paris"},
                    }
                },
                {"toolUse": {"toolUseId": "tooluse_2", "name": "get_weather", "input": {}}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "18C"}]}},
                {"toolResult": {"toolUseId": "tooluse_2", "content": [{"text": "21C"}]}},
            ],
        },
    ]
    named = {"type": "function", "function": {"name": "get_weather"}}
    assert convert({"messages": history, "tools": [WEATHER], "tool_choice": named})["toolConfig"][
        "toolChoice"
    ] == {"tool": {"name": "get_weather"}}
    assert "toolChoice" not in convert({"messages": history, "tools": [WEATHER]})["toolConfig"]
    # Without tools (or with tool_choice "none") the history's functions are declared bare.
    for extra in ({}, {"tools": [WEATHER], "tool_choice": "none"}):
        bare = convert({"messages": history, **extra})["toolConfig"]
        assert bare == {
            "tools": [
                {
                    "toolSpec": {
                        "name": "get_weather",
                        "inputSchema": {"json": {"type": "object", "properties": {}}},
                    }
                }
            ]
        }
    # tool_choice "none" without tool history: no toolConfig at all.
    plain = convert({"messages": history[:1], "tools": [WEATHER], "tool_choice": "none"})
    assert "toolConfig" not in plain


@pytest.mark.parametrize(
    "call",
    [
        {"id": "t", "type": "function", "function": {"name": "f", "arguments": "{not json"}},
        {"id": "t", "type": "function", "function": {"name": "f", "arguments": "[1]"}},
        {"type": "function", "function": {"name": "f", "arguments": "{}"}},
    ],
)
def test_bad_tool_calls_are_the_clients_error(call: dict[str, Any]) -> None:
    with pytest.raises(GatewayError) as e:
        openai_to_bedrock_request(
            {
                "messages": [
                    {"role": "user", "content": "x"},
                    {"role": "assistant", "tool_calls": [call]},
                ]
            },
            CLAUDE,
        )
    assert e.value.status == 400


def test_claude_only_fields_and_pass_through_settings() -> None:
    payload: dict[str, Any] = {
        "messages": [{"role": "user", "content": "x"}],
        "top_k": 5,
        "reasoning_effort": "medium",
        "guardrailConfig": {"guardrailIdentifier": "g", "guardrailVersion": "1"},
        "performanceConfig": {"latency": "optimized"},
        "additionalModelRequestFields": {"anthropic_beta": ["x"]},
    }
    out = convert(payload)
    assert out["additionalModelRequestFields"] == {
        "anthropic_beta": ["x"],
        "top_k": 5,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
    }
    assert out["guardrailConfig"] == payload["guardrailConfig"]
    assert out["performanceConfig"] == {"latency": "optimized"}
    thinking = {"type": "enabled", "budget_tokens": 3000}
    assert (
        convert({**payload, "thinking": thinking})["additionalModelRequestFields"]["thinking"]
        == thinking
    )
    # Other families get no Claude fields.
    nova = convert({**payload, "additionalModelRequestFields": None}, "us.amazon.nova-pro-v1:0")
    assert "additionalModelRequestFields" not in nova


def test_cache_control_becomes_cache_points_and_thinking_blocks_go_back() -> None:
    out = convert(
        {
            "messages": [
                {"role": "system", "content": "Long rules", "cache_control": {"type": "ephemeral"}},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Doc", "cache_control": {"type": "ephemeral"}},
                        {"type": "text", "text": "Q"},
                    ],
                },
                {
                    "role": "assistant",
                    "content": "A",
                    "thinking_blocks": [
                        {"type": "thinking", "thinking": "Hmm", "signature": "sig"}
                    ],
                },
                {"role": "user", "content": "More"},
            ]
        }
    )
    assert out["system"] == [{"text": "Long rules"}, {"cachePoint": {"type": "default"}}]
    assert out["messages"][0]["content"] == [
        {"text": "Doc"},
        {"cachePoint": {"type": "default"}},
        {"text": "Q"},
    ]
    assert out["messages"][1]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "Hmm", "signature": "sig"}}},
        {"text": "A"},
    ]


def test_unknown_roles_are_refused() -> None:
    with pytest.raises(GatewayError):
        openai_to_bedrock_request({"messages": [{"role": "critic", "content": "x"}]}, CLAUDE)
