"""OpenAI embeddings <-> Bedrock's embedding models, by ``InvokeModel`` (``/model/<id>/invoke``)
with each family's own body:

- Amazon Titan (``amazon.titan-embed-text-v1``, ``-v2:0``): ``{"inputText"}`` (and
  ``dimensions`` on v2), one text a request; the reply's ``inputTextTokenCount`` is the usage.
- Cohere (``cohere.embed-english-v3``, ``-multilingual-v3``, ``cohere.embed-v4:0``):
  ``{"texts", "input_type"}`` (``input_type`` as the client gives it, LiteLLM's extension,
  else ``search_document``; ``output_dimension`` on v4). Cohere reports no token counts, so
  its usage is estimated (about four characters a token), as the price table bills it.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import msgspec

from pllm.errors import bad_request
from pllm.usage import Usage

_encode = msgspec.json.Encoder().encode


def is_titan(model: str) -> bool:
    return "titan-embed" in model


def is_cohere(model: str) -> bool:
    return "cohere.embed" in model


def is_embedding_model(model: str) -> bool:
    return is_titan(model) or is_cohere(model)


def _texts(payload: dict[str, Any]) -> list[str]:
    value = payload["input"]
    texts = [value] if isinstance(value, str) else value
    if not texts or not all(isinstance(t, str) for t in texts):
        raise bad_request("Bedrock embedding models take text inputs, not tokens.", param="input")
    return texts


def openai_to_bedrock_embeddings_request(payload: dict[str, Any], model: str) -> dict[str, Any]:
    """The ``InvokeModel`` body of an OpenAI embeddings request to ``model``."""
    texts = _texts(payload)
    dimensions = payload.get("dimensions")
    if is_titan(model):
        if len(texts) != 1:
            raise bad_request(
                "Titan embedding models embed one text a request: send 'input' as one string.",
                param="input",
            )
        body: dict[str, Any] = {"inputText": texts[0]}
        if dimensions is not None and "v2" in model:
            body["dimensions"] = dimensions
        return body
    input_type = payload.get("input_type")
    body = {
        "texts": texts,
        "input_type": input_type if isinstance(input_type, str) else "search_document",
    }
    if dimensions is not None and "v4" in model:
        body["output_dimension"] = dimensions
    return body


class _TitanReply(msgspec.Struct, rename="camel"):
    embedding: list[float]
    input_text_token_count: int = 0


class _CohereReply(msgspec.Struct):
    # A list of vectors, or (with embedding_types, and from v4) vectors by type.
    embeddings: list[list[float]] | dict[str, list[list[float]]]


_decode_titan = msgspec.json.Decoder(_TitanReply).decode
_decode_cohere = msgspec.json.Decoder(_CohereReply).decode


def _vector(values: list[float], fmt: Any) -> list[float] | str:
    if fmt == "base64":
        return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
    return values


def bedrock_to_openai_embeddings(
    body: bytes, payload: dict[str, Any], model: str
) -> tuple[bytes, Usage]:
    """The OpenAI embeddings reply for an ``InvokeModel`` reply of ``model`` (raises msgspec
    errors for a body that is not one)."""
    if is_titan(model):
        titan = _decode_titan(body)
        vectors, prompt = [titan.embedding], titan.input_text_token_count
    else:
        embeddings = _decode_cohere(body).embeddings
        if isinstance(embeddings, dict):
            embeddings = embeddings.get("float") or next(iter(embeddings.values()), [])
        vectors = embeddings
        prompt = sum((len(t) + 3) // 4 for t in _texts(payload))
    fmt = payload.get("encoding_format")
    data = [
        {"object": "embedding", "index": i, "embedding": _vector(v, fmt)}
        for i, v in enumerate(vectors)
    ]
    usage = {"prompt_tokens": prompt, "total_tokens": prompt}
    out = {"object": "list", "data": data, "model": model, "usage": usage}
    return _encode(out), Usage(prompt, 0, prompt)
