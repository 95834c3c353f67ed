"""Bedrock wire format for the fake upstream and the tests, written from AWS's documentation
of the Converse API (``Converse``, ``ConverseStream``), the event stream encoding
(``application/vnd.amazon.eventstream``) and Signature Version 4: reply objects, stream
events and their binary frames, error replies, and an independent SigV4 verifier.

Pure functions with no server state (hand-written here, not botocore's, so that the
gateway's signatures are checked by a second implementation).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
import zlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

__all__ = [
    "REPLY",
    "TOOL_ARGS",
    "converse_reply",
    "error_headers",
    "event_frame",
    "exception_frame",
    "frame",
    "reasoning_block",
    "stream_events",
    "stream_frames",
    "text_block",
    "tool_use_block",
    "usage",
    "verify_sigv4",
]

REPLY = "Hello from fake Bedrock"
"""The text of every ordinary answer."""

TOOL_ARGS: dict[str, Any] = {"location": "Paris", "unit": "celsius"}
"""The input of every tool use the fake makes."""

_STRING = 7  # the event stream header value type of a string


# --- event stream frames ----------------------------------------------------------------------


def frame(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event stream message: prelude (total length, headers length, prelude CRC32),
    string headers, payload, message CRC32."""
    head = b""
    for name, value in headers.items():
        n, v = name.encode(), value.encode()
        head += bytes([len(n)]) + n + bytes([_STRING]) + struct.pack(">H", len(v)) + v
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + head + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event_frame(event_type: str, payload: dict[str, Any]) -> bytes:
    """A ConverseStream event, padded with a ``p`` field as Bedrock pads its payloads."""
    body = json.dumps({**payload, "p": "abcdefghijklmnopqrstuvwxyzABCDEF"[: 3 + len(event_type)]})
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return frame(headers, body.encode())


def exception_frame(kind: str, message: str) -> bytes:
    """An exception inside the stream (``throttlingException``,
    ``modelStreamErrorException``…)."""
    headers = {
        ":exception-type": kind,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return frame(headers, json.dumps({"message": message}).encode())


# --- Converse replies -------------------------------------------------------------------------


def text_block(text: str) -> dict[str, Any]:
    return {"text": text}


def tool_use_block(tool_use_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"toolUse": {"toolUseId": tool_use_id, "name": name, "input": args}}


def reasoning_block(text: str, signature: str) -> dict[str, Any]:
    return {"reasoningContent": {"reasoningText": {"text": text, "signature": signature}}}


def usage(
    prompt: int, output: int, *, cache_read: int | None = None, cache_write: int | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"inputTokens": prompt, "outputTokens": output}
    if cache_read is not None:
        out["cacheReadInputTokens"] = cache_read
    if cache_write is not None:
        out["cacheWriteInputTokens"] = cache_write
    out["totalTokens"] = prompt + output + (cache_read or 0) + (cache_write or 0)
    return out


def converse_reply(
    blocks: list[dict[str, Any]], stop_reason: str, use: dict[str, Any]
) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": blocks}},
        "stopReason": stop_reason,
        "usage": use,
        "metrics": {"latencyMs": 42},
    }


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def stream_events(reply: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The ConverseStream events of a Converse reply: the text a word a delta, a tool use's
    input in two pieces, reasoning then its signature; the stop, then the metadata."""
    events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
    for i, block in enumerate(reply["output"]["message"]["content"]):
        if "text" in block:
            for piece in _pieces(block["text"]):
                events.append(
                    ("contentBlockDelta", {"contentBlockIndex": i, "delta": {"text": piece}})
                )
        elif "toolUse" in block:
            use = block["toolUse"]
            start = {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}
            events.append(("contentBlockStart", {"contentBlockIndex": i, "start": start}))
            args = json.dumps(use["input"])
            for piece in (args[: len(args) // 2], args[len(args) // 2 :]):
                if piece:
                    delta = {"toolUse": {"input": piece}}
                    events.append(("contentBlockDelta", {"contentBlockIndex": i, "delta": delta}))
        elif "reasoningContent" in block:
            r = block["reasoningContent"]["reasoningText"]
            for delta in ({"text": r["text"]}, {"signature": r["signature"]}):
                events.append(
                    (
                        "contentBlockDelta",
                        {"contentBlockIndex": i, "delta": {"reasoningContent": delta}},
                    )
                )
        events.append(("contentBlockStop", {"contentBlockIndex": i}))
    events.append(("messageStop", {"stopReason": reply["stopReason"]}))
    events.append(("metadata", {"usage": reply["usage"], "metrics": {"latencyMs": 42}}))
    return events


def stream_frames(reply: dict[str, Any]) -> bytes:
    return b"".join(event_frame(name, payload) for name, payload in stream_events(reply))


def error_headers(error_type: str) -> dict[str, str]:
    """The headers of a Bedrock error reply (the type as ``x-amzn-errortype`` sends it)."""
    return {
        "x-amzn-errortype": f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        "x-amzn-requestid": "00000000-0000-4000-8000-000000000000",
    }


# --- SigV4 ------------------------------------------------------------------------------------


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def verify_sigv4(
    *,
    method: str,
    raw_path: str,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Mapping[str, str],
    region: str,
    service: str = "bedrock",
    session_tokens: Mapping[str, str] | None = None,
) -> str | None:
    """What is wrong with a request's SigV4 signature, or None. ``headers`` lower-cased;
    ``secrets``: access key id -> secret key; ``session_tokens``: access key id -> the
    session token its requests must carry (signed)."""
    auth = headers.get("authorization", "")
    algorithm, _, rest = auth.partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        return "the Authorization header is not AWS4-HMAC-SHA256"
    fields = dict(p.strip().partition("=")[::2] for p in rest.split(","))
    try:
        credential, signed, signature = (
            fields["Credential"],
            fields["SignedHeaders"],
            fields["Signature"],
        )
    except KeyError as e:
        return f"the Authorization header lacks {e.args[0]}"
    key_id, date, scope_region, scope_service, terminator = credential.split("/")
    if key_id not in secrets:
        return "The security token included in the request is invalid."
    amz_date = headers.get("x-amz-date", "")
    if not amz_date.startswith(date) or len(amz_date) != 16:
        return "the credential scope's date is not x-amz-date's"
    if (scope_region, scope_service, terminator) != (region, service, "aws4_request"):
        return f"credential scope {scope_region}/{scope_service}/{terminator} is not this service's"
    names = signed.split(";")
    required = {"host", "x-amz-date"}
    token = (session_tokens or {}).get(key_id)
    if token is not None:
        required.add("x-amz-security-token")
        if headers.get("x-amz-security-token") != token:
            return "The security token included in the request is invalid."
    if not required <= set(names) or names != sorted(names):
        return f"SignedHeaders {signed} must list {sorted(required)} (sorted)"
    payload_hash = hashlib.sha256(body).hexdigest()
    sent_hash = headers.get("x-amz-content-sha256")
    if sent_hash is not None and sent_hash != payload_hash:
        return "x-amz-content-sha256 is not the body's hash"
    # A non-S3 path is signed URI-encoded once more than it is sent.
    canonical = "\n".join(
        [
            method,
            quote(raw_path, safe="/~"),
            "",
            "".join(f"{n}:{' '.join(headers.get(n, '').split())}\n" for n in names),
            signed,
            payload_hash,
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(("AWS4" + secrets[key_id]).encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return (
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method."
        )
    return None
