"""Gemini wire format for the fake upstream, written from Google's API reference
(``generateContent``, ``streamGenerateContent``, ``batchEmbedContents``, Vertex ``predict``):
reply objects, SSE events and error bodies.

Pure functions with no server state; ``gemini_upstream.FakeGemini`` sends what they build and
tests use them as fixtures.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "GOOGLE_STATUS",
    "REPLY",
    "TOOL_ARGS",
    "candidate",
    "error_body",
    "function_call_part",
    "reply",
    "sse",
    "stream_events",
    "text_part",
    "usage_metadata",
]

REPLY = "Hello from fake Gemini"
"""The text of every ordinary answer."""

TOOL_ARGS: dict[str, Any] = {"location": "Paris", "unit": "celsius"}
"""The arguments of every function call the fake makes."""

MODEL_VERSION = "gemini-fake-001"

GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def text_part(text: str, *, thought: bool = False) -> dict[str, Any]:
    return {"text": text, "thought": True} if thought else {"text": text}


def function_call_part(
    name: str, args: dict[str, Any], signature: str | None = None
) -> dict[str, Any]:
    part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
    if signature is not None:
        part["thoughtSignature"] = signature
    return part


def candidate(
    parts: list[dict[str, Any]], finish: str | None = "STOP", index: int = 0
) -> dict[str, Any]:
    out: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": index}
    if finish is not None:
        out["finishReason"] = finish
    return out


def usage_metadata(
    prompt: int, candidates: int, *, cached: int = 0, thoughts: int = 0
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if cached:
        out["cachedContentTokenCount"] = cached
    if thoughts:
        out["thoughtsTokenCount"] = thoughts
    return out


def reply(
    candidates: list[dict[str, Any]],
    usage: dict[str, Any],
    response_id: str = "fake-response-1",
    prompt_feedback: dict[str, Any] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "candidates": candidates,
        "usageMetadata": usage,
        "modelVersion": MODEL_VERSION,
        "responseId": response_id,
    }
    if prompt_feedback is not None:
        out["promptFeedback"] = prompt_feedback
    if not candidates:
        del out["candidates"]
    return out


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    kind = GOOGLE_STATUS.get(status, "INTERNAL")
    return {"error": {"code": status, "message": message or f"fake {kind}", "status": kind}}


def sse(payload: dict[str, Any]) -> bytes:
    """One event as Gemini frames it: a ``data:`` line and CRLF line ends."""
    return b"data: " + json.dumps(payload).encode() + b"\r\n\r\n"


def stream_events(full: dict[str, Any]) -> list[dict[str, Any]]:
    """The stream of a finished reply: one event per word of each text part (thoughts first,
    as Gemini sends them), one per function call; the finish reason on the last; every event
    with the usage so far, as Gemini reports it."""
    events: list[dict[str, Any]] = []
    usage = full["usageMetadata"]
    pieces: list[tuple[int, dict[str, Any]]] = []
    for c in full.get("candidates", []):
        for part in c["content"]["parts"]:
            if "text" in part:
                words = part["text"].split(" ")
                for i, w in enumerate(words):
                    pieces.append((c["index"], {**part, "text": w if i == 0 else " " + w}))
            else:
                pieces.append((c["index"], part))
    base = {k: v for k, v in full.items() if k != "candidates"}
    for n, (index, part) in enumerate(pieces):
        running = {**usage, "candidatesTokenCount": n + 1, "totalTokenCount": None}
        running = {k: v for k, v in running.items() if v is not None}
        events.append(
            {**base, "candidates": [candidate([part], None, index)], "usageMetadata": running}
        )
    finished = full.get("candidates", [])
    for c in finished:
        # The finish reason comes with the last piece of each candidate, as Gemini sends it.
        own = [e for e in events if e["candidates"][0]["index"] == c["index"]]
        if own:
            own[-1]["candidates"][0]["finishReason"] = c["finishReason"]
        else:
            events.append({**base, "candidates": [candidate([], c["finishReason"], c["index"])]})
    if not finished:
        events.append(base)  # a blocked prompt: one event with the promptFeedback
    events[-1]["usageMetadata"] = usage
    return events
