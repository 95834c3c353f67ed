"""OpenAI embeddings <-> Google's: ``batchEmbedContents`` (Google AI Studio) and ``predict``
(Vertex AI), one input a request item either way.

Google embeds text only: token arrays are refused. AI Studio reports no token counts, so its
usage is estimated (about four characters a token), which is what the price table bills.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import msgspec

from pllm.errors import bad_request
from pllm.usage import Usage

_encode = msgspec.json.Encoder().encode


def _texts(payload: dict[str, Any]) -> list[str]:
    value = payload["input"]
    texts = [value] if isinstance(value, str) else value
    if not all(isinstance(t, str) for t in texts):
        raise bad_request("Gemini embedding models take text inputs, not tokens.", param="input")
    return texts


def openai_to_gemini_embeddings_request(payload: dict[str, Any], model: str) -> dict[str, Any]:
    """The ``batchEmbedContents`` body for an OpenAI embeddings request to ``model``."""
    dimensions = payload.get("dimensions")
    name = f"models/{model}"
    items: list[dict[str, Any]] = []
    for text in _texts(payload):
        item: dict[str, Any] = {"model": name, "content": {"parts": [{"text": text}]}}
        if dimensions is not None:
            item["outputDimensionality"] = dimensions
        items.append(item)
    return {"requests": items}


def openai_to_vertex_embeddings_request(payload: dict[str, Any]) -> dict[str, Any]:
    """The ``predict`` body of a Vertex AI text embedding model."""
    out: dict[str, Any] = {"instances": [{"content": t} for t in _texts(payload)]}
    dimensions = payload.get("dimensions")
    if dimensions is not None:
        out["parameters"] = {"outputDimensionality": dimensions}
    return out


class _Values(msgspec.Struct):
    values: list[float] = []


class _BatchReply(msgspec.Struct):
    embeddings: list[_Values]


class _Statistics(msgspec.Struct):
    token_count: int = 0


class _VertexEmbedding(msgspec.Struct):
    values: list[float] = []
    statistics: _Statistics | None = None


class _Prediction(msgspec.Struct):
    embeddings: _VertexEmbedding


class _PredictReply(msgspec.Struct):
    predictions: list[_Prediction]


_decode_batch = msgspec.json.Decoder(_BatchReply).decode
_decode_predict = msgspec.json.Decoder(_PredictReply).decode


def _reply(vectors: list[list[float]], model: str, fmt: Any, prompt: int) -> tuple[bytes, Usage]:
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode()
            if fmt == "base64"
            else v,
        }
        for i, v in enumerate(vectors)
    ]
    usage = {"prompt_tokens": prompt, "total_tokens": prompt}
    body = {"object": "list", "data": data, "model": model, "usage": usage}
    return _encode(body), Usage(prompt, 0, prompt)


def gemini_to_openai_embeddings(
    body: bytes, payload: dict[str, Any], model: str
) -> tuple[bytes, Usage]:
    """The OpenAI embeddings reply for a ``batchEmbedContents`` reply (raises msgspec errors
    for a body that is not one)."""
    vectors = [e.values for e in _decode_batch(body).embeddings]
    estimate = sum((len(t) + 3) // 4 for t in _texts(payload))
    return _reply(vectors, model, payload.get("encoding_format"), estimate)


def vertex_to_openai_embeddings(
    body: bytes, payload: dict[str, Any], model: str
) -> tuple[bytes, Usage]:
    """The OpenAI embeddings reply for a Vertex ``predict`` reply."""
    predictions = _decode_predict(body).predictions
    vectors = [p.embeddings.values for p in predictions]
    tokens = sum(
        p.embeddings.statistics.token_count for p in predictions if p.embeddings.statistics
    )
    return _reply(vectors, model, payload.get("encoding_format"), tokens)
