"""The nginx mock upstream: fixed OpenAI and Anthropic replies, streamed and not.

OpenAI: a chat completion and a `chat.completion.chunk` SSE stream. Anthropic (for the
`pllm-claude` target, which reaches it through an `anthropic/` deployment): a Messages
response and a Messages SSE stream with the same 50 words.

nginx is the cheapest server available, so the upstream costs the target core nothing and
takes as little as possible from the client core.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

CREATED = 1764400000
STREAM_WORDS = 50
# Size of the reference measurements' non-streaming body; keeps numbers comparable.
CHAT_BODY_SIZE = 357


def _compact(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _padded(render: Callable[[str], bytes]) -> bytes:
    """`render(text)` with the text padded so that the body is exactly CHAT_BODY_SIZE bytes."""
    base = "Hello from the mock upstream."
    pad = CHAT_BODY_SIZE - len(render(base))
    if pad < 0:
        raise ValueError("body template is larger than CHAT_BODY_SIZE")
    return render(base + "." * pad)


def chat_completion_body() -> bytes:
    """A `chat.completion` with `usage`, padded to exactly CHAT_BODY_SIZE bytes."""

    def render(content: str) -> bytes:
        return _compact(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion",
                "created": CREATED,
                "model": "bench",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 14, "completion_tokens": 12, "total_tokens": 26},
                "system_fingerprint": None,
            }
        ).encode()

    return _padded(render)


def stream_body() -> bytes:
    """50 `chat.completion.chunk` events, one word each, a usage chunk, then [DONE]."""

    def chunk(choices: list[object], **extra: object) -> str:
        obj = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": "bench",
            "choices": choices,
            **extra,
        }
        return f"data: {_compact(obj)}\n\n"

    events = []
    for i in range(STREAM_WORDS):
        delta = {"content": f"word{i} "}
        if i == 0:
            delta = {"role": "assistant", **delta}
        last = i == STREAM_WORDS - 1
        events.append(
            chunk([{"index": 0, "delta": delta, "finish_reason": "stop" if last else None}])
        )
    usage = {"prompt_tokens": 14, "completion_tokens": STREAM_WORDS, "total_tokens": 64}
    events.append(chunk([], usage=usage))
    events.append("data: [DONE]\n\n")
    return "".join(events).encode()


# data: lines a client sees from the mock stream: the words, the usage chunk, [DONE].
STREAM_DATA_LINES = STREAM_WORDS + 2


def anthropic_message_body() -> bytes:
    """An Anthropic Messages response (`type: message`), padded to CHAT_BODY_SIZE bytes."""

    def render(text: str) -> bytes:
        return _compact(
            {
                "id": "msg_bench",
                "type": "message",
                "role": "assistant",
                "model": "bench",
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 14, "output_tokens": 12},
            }
        ).encode()

    return _padded(render)


def anthropic_stream_body() -> bytes:
    """An Anthropic Messages stream as the API documents it: `message_start`, one text
    block (`content_block_start`, a `ping`, 50 `text_delta`s with the OpenAI stream's
    words, `content_block_stop`), `message_delta` (stop reason, output tokens),
    `message_stop`. Each event is an `event:` line and a `data:` line."""

    def event(name: str, **payload: object) -> str:
        return f"event: {name}\ndata: {_compact({'type': name, **payload})}\n\n"

    start = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "bench",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 14, "output_tokens": 1},
    }
    events = [
        event("message_start", message=start),
        event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        event("ping"),
    ]
    events += [
        event("content_block_delta", index=0, delta={"type": "text_delta", "text": f"word{i} "})
        for i in range(STREAM_WORDS)
    ]
    events += [
        event("content_block_stop", index=0),
        event(
            "message_delta",
            delta={"stop_reason": "end_turn", "stop_sequence": None},
            usage={"output_tokens": STREAM_WORDS},
        ),
        event("message_stop"),
    ]
    return "".join(events).encode()


def _nginx_literal(body: bytes) -> str:
    text = body.decode()
    # Inside an nginx quoted string these would be escapes or variables; the bodies are
    # generated here, so refuse rather than escape.
    for bad in ("'", "\\", "$"):
        if bad in text:
            raise ValueError(f"mock body contains {bad!r}")
    return f"'{text}'"


def _json_location(path: str, body: bytes) -> str:
    """A route answered from memory by `return 200`."""
    return f"""\
        location = {path} {{
            default_type application/json;
            return 200 {_nginx_literal(body)};
        }}
"""


def _sse_location(path: str, file: Path) -> str:
    """A route answered with `file` as an event stream. nginx's static handler refuses POST,
    hence the `error_page 405` hop, which re-enters as GET on an internal location."""
    internal = f"/_{file.name}"
    return f"""\
        location = {path} {{
            error_page 405 =200 {internal};
            return 405;
        }}
        location = {internal} {{
            internal;
            default_type text/event-stream;
            alias {file};
        }}
"""


def write_nginx(workdir: Path, port: int) -> Path:
    """Write the bodies and an nginx.conf under `workdir`; returns the conf path.

    The JSON replies are answered from memory. The streams (7 and 9 KB) are over nginx's 4 KiB
    limit on a config string, so they are files.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    routes = [
        ("/v1/chat/completions", "chat_completion.json", chat_completion_body()),
        ("/stream/v1/chat/completions", "stream.sse", stream_body()),
        ("/anthropic/v1/messages", "message.json", anthropic_message_body()),
        ("/anthropic-stream/v1/messages", "anthropic_stream.sse", anthropic_stream_body()),
    ]
    locations = ""
    for path, name, body in routes:
        file = workdir / name
        file.write_bytes(body)
        streamed = name.endswith(".sse")
        locations += _sse_location(path, file) if streamed else _json_location(path, body)
    conf = workdir / "nginx.conf"
    # One process (master_process off): it serves on the CPU it is pinned to and, unlike a
    # worker, does not switch to `nobody`, who could not read the 0700 temp dir.
    # keepalive_requests is raised because nginx's default (1000) would close pooled proxy
    # connections mid-run and measure reconnects instead of requests.
    conf.write_text(
        f"""\
master_process off;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
worker_rlimit_nofile 16384;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    sendfile on;
    open_file_cache max=16;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
{locations}\
        location / {{ return 404; }}
    }}
}}
"""
    )
    return conf


def nginx_argv(conf: Path) -> list[str]:
    return ["nginx", "-p", str(conf.parent), "-c", str(conf)]
