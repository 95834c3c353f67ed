from __future__ import annotations

from pllm.usage import Usage, usage_of_chunk, usage_of_reply


def test_usage_of_reply() -> None:
    assert usage_of_reply(
        b'{"usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}'
    ) == Usage(3, 4, 7)
    assert usage_of_reply(b'{"choices": []}') is None
    assert usage_of_reply(b"not json") is None


def test_usage_of_chunk_tells_the_usage_only_chunk() -> None:
    usage_only = (
        b'{"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}'
    )
    assert usage_of_chunk(usage_only) == (Usage(1, 2, 3), True)
    content = b'{"choices": [{"delta": {"content": "usage"}}], "usage": null}'
    assert usage_of_chunk(content) == (None, False)
    mistral_style = b'{"choices": [{"delta": {}}], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}'
    assert usage_of_chunk(mistral_style) == (Usage(1, 1, 2), False)
    assert usage_of_chunk(b'{"choices": [{"delta": {"content": "x"}}]}') == (None, False)


def test_null_usage_is_not_decoded_whatever_the_spacing() -> None:
    assert usage_of_chunk(b'{"choices": [], "usage" : null}') == (None, False)
    assert usage_of_chunk(b'{"choices":[],"usage":null}') == (None, False)
