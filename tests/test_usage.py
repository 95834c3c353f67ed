from __future__ import annotations

from pllm.usage import Usage, usage_of_reply


def test_usage_of_reply() -> None:
    assert usage_of_reply(
        b'{"usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}'
    ) == Usage(3, 4, 7)
    assert usage_of_reply(b'{"choices": []}') is None
    assert usage_of_reply(b"not json") is None
