"""OpenAI chat requests -> Gemini generateContent bodies, against the shapes of Google's API
reference (contents/parts, systemInstruction, tools/functionDeclarations, toolConfig,
generationConfig)."""

from __future__ import annotations

from typing import Any

import pytest

from pllm.errors import GatewayError
from pllm.providers.gemini import openai_to_gemini_request
from tests.fakes.gemini_upstream import check_gemini

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
            "additionalProperties": False,
        },
    },
}


def req(messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"model": "g", "messages": messages, **extra}


def gemini(payload: dict[str, Any], model: str = "gemini-2.5-flash") -> dict[str, Any]:
    body = openai_to_gemini_request(payload, model)
    # Every body is one the fake (written from Google's reference) accepts.
    assert check_gemini(body) is None, check_gemini(body)
    return body


def test_system_and_turns() -> None:
    body = gemini(
        req(
            [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Be kind."}]},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
            ]
        )
    )
    assert body == {
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Be kind."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello!"}]},
            {"role": "user", "parts": [{"text": "Weather?"}]},
        ],
    }


def test_consecutive_user_turns_merge_and_empty_text_is_dropped() -> None:
    body = gemini(
        req(
            [
                {"role": "user", "content": "a"},
                {"role": "user", "content": ""},
                {"role": "user", "content": [{"type": "text", "text": "b"}]},
                {"role": "assistant", "content": ""},
                {"role": "user", "content": "c"},
            ]
        )
    )
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "a"}, {"text": "b"}, {"text": "c"}]}
    ]


def test_a_lone_system_prompt_becomes_the_user_turn() -> None:
    body = gemini(req([{"role": "system", "content": "Say hi."}]))
    assert body == {"contents": [{"role": "user", "parts": [{"text": "Say hi."}]}]}


def test_images_audio_and_files() -> None:
    body = gemini(
        req(
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://x.example/cat.webp?s=1"},
                        },
                        {
                            "type": "image_url",
                            "image_url": {"url": "gs://b/o", "format": "image/gif"},
                        },
                        {"type": "input_audio", "input_audio": {"data": "UklG", "format": "mp3"}},
                        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE"}},
                        {
                            "type": "file",
                            "file": {
                                "file_id": "https://generativelanguage.googleapis.com/v1beta/files/abc"
                            },
                        },
                    ],
                }
            ]
        )
    )
    assert body["contents"][0]["parts"] == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBOR"}},
        {"fileData": {"mimeType": "image/webp", "fileUri": "https://x.example/cat.webp?s=1"}},
        {"fileData": {"mimeType": "image/gif", "fileUri": "gs://b/o"}},
        {"inlineData": {"mimeType": "audio/mp3", "data": "UklG"}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}},
        {
            "fileData": {
                "mimeType": "application/pdf",
                "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc",
            }
        },
    ]


def test_a_bad_data_url_is_the_clients_error() -> None:
    with pytest.raises(GatewayError) as e:
        openai_to_gemini_request(
            req(
                [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "data:x"}}],
                    }
                ]
            ),
            "gemini-2.5-flash",
        )
    assert e.value.status == 400 and e.value.code == "invalid_image_url"


def test_tools_calls_and_parallel_results() -> None:
    body = gemini(
        req(
            [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {
                                "name": "get_weather",
                                "arguments": '{"location":"Paris"}',
                            },
                        },
                        {
                            "id": "call_2__thought__c2ln",
                            "type": "function",
                            "function": {"name": "get_time", "arguments": ""},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
                {
                    "role": "tool",
                    "tool_call_id": "call_2__thought__c2ln",
                    "content": [{"type": "text", "text": "noon"}],
                },
                {"role": "user", "content": "Thanks"},
            ],
            tools=[WEATHER, {**WEATHER, "function": {"name": "get_time"}}, {"googleSearch": {}}],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
        )
    )
    assert body["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                {"functionCall": {"name": "get_weather", "args": {"location": "Paris"}}},
                {"functionCall": {"name": "get_time", "args": {}}, "thoughtSignature": "c2ln"},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"content": "18C"}}},
                {"functionResponse": {"name": "get_time", "response": {"content": "noon"}}},
                {"text": "Thanks"},
            ],
        },
    ]
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Get the weather",
                    "parametersJsonSchema": WEATHER["function"]["parameters"],
                },
                {"name": "get_time"},
            ]
        },
        {"googleSearch": {}},
    ]
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }


@pytest.mark.parametrize(
    ("choice", "mode"), [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")]
)
def test_tool_choice_modes(choice: str, mode: str) -> None:
    body = gemini(req([{"role": "user", "content": "x"}], tools=[WEATHER], tool_choice=choice))
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": mode}}


def test_a_tool_result_for_no_call_is_refused() -> None:
    with pytest.raises(GatewayError) as e:
        openai_to_gemini_request(
            req(
                [
                    {"role": "user", "content": "x"},
                    {"role": "tool", "tool_call_id": "nope", "content": "1"},
                ]
            ),
            "gemini-2.5-flash",
        )
    assert e.value.status == 400 and "name" in e.value.message


def test_arguments_that_are_not_an_object_are_refused() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}
    with pytest.raises(GatewayError):
        openai_to_gemini_request(
            req([{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [call]}]),
            "gemini-2.5-flash",
        )


def test_generation_config() -> None:
    body = gemini(
        req(
            [{"role": "user", "content": "x"}],
            temperature=0.2,
            top_p=0.9,
            top_k=40,
            max_tokens=100,
            max_completion_tokens=200,
            stop="END",
            n=2,
            seed=7,
            presence_penalty=0.1,
            frequency_penalty=0.3,
            user="u-1",
            logit_bias={"1": 2},
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert body["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "topK": 40,
        "presencePenalty": 0.1,
        "frequencyPenalty": 0.3,
        "seed": 7,
        "maxOutputTokens": 200,
        "candidateCount": 2,
        "stopSequences": ["END"],
    }
    assert set(body) == {"contents", "generationConfig"}


def test_json_modes() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "additionalProperties": False,
    }
    body = gemini(
        req(
            [{"role": "user", "content": "x"}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "s", "schema": schema, "strict": True},
            },
        )
    )
    assert body["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }
    body = gemini(req([{"role": "user", "content": "x"}], response_format={"type": "json_object"}))
    assert body["generationConfig"] == {"responseMimeType": "application/json"}
    body = gemini(req([{"role": "user", "content": "x"}], response_format={"type": "text"}))
    assert "generationConfig" not in body


@pytest.mark.parametrize(
    ("model", "effort", "thinking"),
    [
        ("gemini-2.5-flash", "low", {"thinkingBudget": 1024, "includeThoughts": True}),
        ("gemini-2.5-flash", "high", {"thinkingBudget": 4096, "includeThoughts": True}),
        ("gemini-2.5-flash", "none", {"thinkingBudget": 0, "includeThoughts": False}),
        ("gemini-2.5-pro", "none", {"thinkingBudget": 128, "includeThoughts": True}),
        ("gemini-2.5-flash-lite", "minimal", {"thinkingBudget": 512, "includeThoughts": True}),
        ("gemini-3-pro-preview", "medium", {"thinkingLevel": "high", "includeThoughts": True}),
        ("gemini-3-pro-preview", "low", {"thinkingLevel": "low", "includeThoughts": True}),
    ],
)
def test_reasoning_effort_is_a_thinking_config(
    model: str, effort: str, thinking: dict[str, Any]
) -> None:
    body = gemini(req([{"role": "user", "content": "x"}], reasoning_effort=effort), model)
    assert body["generationConfig"] == {"thinkingConfig": thinking}


def test_explicit_thinking_budget_and_passthrough_settings() -> None:
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    body = gemini(
        req(
            [{"role": "user", "content": "x"}],
            thinking={"type": "enabled", "budget_tokens": 333},
            safety_settings=safety,
            cached_content="cachedContents/abc",
        )
    )
    assert body["generationConfig"] == {
        "thinkingConfig": {"thinkingBudget": 333, "includeThoughts": True}
    }
    assert body["safetySettings"] == safety
    assert body["cachedContent"] == "cachedContents/abc"


def test_unknown_role_is_refused() -> None:
    with pytest.raises(GatewayError):
        openai_to_gemini_request(req([{"role": "critic", "content": "x"}]), "gemini-2.5-flash")
