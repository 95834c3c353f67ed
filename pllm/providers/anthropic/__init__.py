"""Pure translators between OpenAI's Chat Completions and Anthropic's Messages wire formats.

Named by direction, one responsibility per module: requests, whole replies, streams (stateful
classes fed one parsed SSE event at a time), usage and errors. No I/O here.
"""

from pllm.providers.anthropic.request_to_anthropic import openai_to_anthropic_request
from pllm.providers.anthropic.request_to_openai import anthropic_to_openai_request
from pllm.providers.anthropic.response_from_anthropic import anthropic_to_openai_response
from pllm.providers.anthropic.response_to_anthropic import openai_to_anthropic_response
from pllm.providers.anthropic.stream_from_anthropic import AnthropicToOpenAIStream
from pllm.providers.anthropic.stream_to_anthropic import OpenAIToAnthropicStream

__all__ = [
    "AnthropicToOpenAIStream",
    "OpenAIToAnthropicStream",
    "anthropic_to_openai_request",
    "anthropic_to_openai_response",
    "openai_to_anthropic_request",
    "openai_to_anthropic_response",
]
