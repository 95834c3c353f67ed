"""Pure translators between OpenAI's Chat Completions and Amazon Bedrock's Converse API
(every model family on Bedrock), and Bedrock's embedding models, named by direction, one
responsibility per module: requests, whole replies, streams (a stateful class fed one
ConverseStream event at a time, the binary framing decoded in Rust), embeddings and errors.
No I/O here; the codec (``codec.py``) and SigV4 signing (``signing.py``) sit beside them.
"""

from pllm.providers.bedrock.embeddings import (
    bedrock_to_openai_embeddings,
    openai_to_bedrock_embeddings_request,
)
from pllm.providers.bedrock.errors import bedrock_error, map_bedrock_error
from pllm.providers.bedrock.request_to_bedrock import openai_to_bedrock_request
from pllm.providers.bedrock.response_from_bedrock import bedrock_to_openai_response
from pllm.providers.bedrock.stream_from_bedrock import BedrockToOpenAIStream

__all__ = [
    "BedrockToOpenAIStream",
    "bedrock_error",
    "bedrock_to_openai_embeddings",
    "bedrock_to_openai_response",
    "map_bedrock_error",
    "openai_to_bedrock_embeddings_request",
    "openai_to_bedrock_request",
]
