"""OpenAI's Responses API payloads as OpenAI sends them (for the fake OpenAI upstream)."""

from __future__ import annotations

from typing import Any


def function_call(resp_id: str, name: str) -> dict[str, Any]:
    return {
        "id": f"fc_{resp_id}",
        "type": "function_call",
        "status": "completed",
        "arguments": '{"city":"Paris"}',
        "call_id": f"call_{resp_id}",
        "name": name,
    }


def _usage(usage: dict[str, int]) -> dict[str, Any]:
    return {
        "input_tokens": usage["prompt_tokens"],
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": usage["completion_tokens"],
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage["total_tokens"],
    }


def response(
    body: dict[str, Any],
    resp_id: str,
    created: int,
    output: list[dict[str, Any]],
    usage: dict[str, int] | None,
) -> dict[str, Any]:
    """A Responses object with the fields OpenAI sends, in its order."""
    done = usage is not None
    return {
        "id": resp_id,
        "object": "response",
        "created_at": created,
        "status": "completed" if done else "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body["model"],
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "store": body.get("store", True),
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": _usage(usage) if usage is not None else None,
        "user": None,
        "metadata": {},
    }


def stream_events(
    body: dict[str, Any],
    resp_id: str,
    created: int,
    pieces: list[str],
    usage: dict[str, int],
    call: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    """The events of a streamed answer (the last one's ``response`` is the whole reply)."""
    head = response(body, resp_id, created, [], None)
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": head},
        {"type": "response.in_progress", "response": head},
    ]
    if call is not None:
        item: dict[str, Any] = call
        events.append({"type": "response.output_item.added", "output_index": 0,
                       "item": {**call, "status": "in_progress", "arguments": ""}})  # fmt: skip
        events.append({"type": "response.function_call_arguments.delta", "item_id": call["id"],
                       "output_index": 0, "delta": call["arguments"]})  # fmt: skip
        events.append({"type": "response.function_call_arguments.done", "item_id": call["id"],
                       "output_index": 0, "arguments": call["arguments"]})  # fmt: skip
    else:
        msg_id = f"msg_{resp_id}"
        text = "".join(pieces)
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
        item = {"id": msg_id, "type": "message", "status": "completed", "content": [part],
                "role": "assistant"}  # fmt: skip
        where = {"item_id": msg_id, "output_index": 0, "content_index": 0}
        events.append({"type": "response.output_item.added", "output_index": 0,
                       "item": {**item, "status": "in_progress", "content": []}})  # fmt: skip
        events.append({"type": "response.content_part.added", **where,
                       "part": {**part, "text": ""}})  # fmt: skip
        events += [{"type": "response.output_text.delta", **where, "delta": p, "logprobs": []}
                   for p in pieces]  # fmt: skip
        events.append({"type": "response.output_text.done", **where, "text": text,
                       "logprobs": []})  # fmt: skip
        events.append({"type": "response.content_part.done", **where, "part": part})
    events.append({"type": "response.output_item.done", "output_index": 0, "item": item})
    final = response(body, resp_id, created, [item], usage)
    events.append({"type": "response.completed", "response": final})
    for n, event in enumerate(events):
        event["sequence_number"] = n
    return events
