from __future__ import annotations

from pllm.usage import Usage, usage_of_reply


def test_usage_of_reply() -> None:
    assert usage_of_reply(
        b'{"usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}'
    ) == Usage(3, 4, 7)
    assert usage_of_reply(b'{"choices": []}') is None
    assert usage_of_reply(b"not json") is None


def test_the_reply_cap_is_read_from_every_api_s_name() -> None:
    from pllm.usage import reply_cap

    assert reply_cap({"max_tokens": 7}) == 7
    assert reply_cap({"max_completion_tokens": 8, "max_tokens": 7}) == 8
    assert reply_cap({"max_output_tokens": 9}) == 9  # the Responses API
    assert reply_cap({"max_tokens": True}) is None
    assert reply_cap({}) is None
