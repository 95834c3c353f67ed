"""Pure translators between OpenAI's Chat Completions and Gemini's ``generateContent`` wire
format (shared by Google AI Studio and Vertex AI), named by direction, one responsibility per
module: requests, whole replies, streams (a stateful class fed one parsed SSE event at a time),
embeddings and errors. No I/O here; the codec (``codec.py``) and the per-request targets
(``targets.py``) sit beside them.
"""

from pllm.providers.gemini.embeddings import (
    gemini_to_openai_embeddings,
    openai_to_gemini_embeddings_request,
)
from pllm.providers.gemini.errors import map_google_error
from pllm.providers.gemini.request_to_gemini import openai_to_gemini_request
from pllm.providers.gemini.response_from_gemini import gemini_to_openai_response
from pllm.providers.gemini.stream_from_gemini import GeminiToOpenAIStream

__all__ = [
    "GeminiToOpenAIStream",
    "gemini_to_openai_embeddings",
    "gemini_to_openai_response",
    "map_google_error",
    "openai_to_gemini_embeddings_request",
    "openai_to_gemini_request",
]
