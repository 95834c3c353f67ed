"""The Python request path alone: requests through the ASGI app in process, no sockets.

Drives ``pllm.app`` directly (lifespan, then N chat completions, plain and streamed, on the
in-process ``mock`` with no delays or an OpenAI-format ``--upstream``; master key on; access
log with ``--access-log``) and prints the event-loop thread's CPU time per request. Without
the network and Granian, what remains is the gateway's own Python work: parse, authenticate,
gate, route, forward, respond or relay, report, account. Run it with each build's interpreter
to compare two versions of the code (a few per cent, where the load benchmark drifts by
tens), or count instructions, which do not drift at all, with callgrind (the difference of
two runs of different lengths is the cost of the extra requests):

    .venv/bin/python benches/inproc.py
    /path/to/other/.venv/bin/python benches/inproc.py
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python benches/inproc.py --rounds 1 -n 1300 --kinds reply
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

KEY = "sk-inproc"


def config(data_dir: str, upstream: str | None = None, access_log: bool = False) -> str:
    # The in-process mock, or an OpenAI-format upstream (e.g. benches/mock_upstream.py's nginx).
    params = {"model": "mock/m"}
    if upstream is not None:
        params = {"model": "openai/bench", "api_base": upstream, "api_key": "sk-upstream"}
    return json.dumps(
        {
            "model_list": [{"model_name": "m", "litellm_params": params}],
            "general_settings": {"master_key": KEY, "data_dir": data_dir, "access_log": access_log},
        }
    )


async def drive(app: Any, n: int, stream: bool) -> float:
    body = json.dumps(
        {"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
    ).encode()
    headers = [
        (b"authorization", f"Bearer {KEY}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": headers}
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if not pending:
            await never.wait()  # the disconnect watch waits here; no client leaves
        return pending.pop()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message

    start = time.thread_time()
    for _ in range(n):
        pending = [{"type": "http.request", "body": body, "more_body": False}]
        await app(dict(scope), receive, send)
    return (time.thread_time() - start) / n * 1e6


async def main(rounds: int, n: int, kinds: str, upstream: str | None, access_log: bool) -> None:
    from pllm.app import build_app
    from pllm.config import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_text(config(tmp, upstream, access_log))
        app = build_app(load_settings(str(path)))
        startup = iter([{"type": "lifespan.startup"}])

        async def lifespan_receive() -> dict[str, Any]:
            return next(startup, {"type": "lifespan.shutdown"})

        async def lifespan_send(message: dict[str, Any]) -> None:
            pass

        life = asyncio.ensure_future(app({"type": "lifespan"}, lifespan_receive, lifespan_send))
        await asyncio.sleep(0.5)
        for stream in [k == "stream" for k in kinds.split(",")]:
            await drive(app, n // 10, stream)  # warm-up
            runs = [await drive(app, n, stream) for _ in range(rounds)]
            kind = "stream" if stream else "reply "
            print(
                f"{kind}: median {statistics.median(runs):.1f} CPU µs per request "
                f"(rounds: {', '.join(f'{r:.1f}' for r in runs)})"
            )
        await life


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("-n", type=int, default=3000)
    parser.add_argument("--kinds", default="reply,stream", help="reply, stream or both")
    parser.add_argument("--upstream", help="an OpenAI-format api_base instead of the mock")
    parser.add_argument("--access-log", action="store_true", help="write the access log too")
    args = parser.parse_args()
    import logging

    logging.disable(logging.CRITICAL)
    asyncio.run(main(args.rounds, args.n, args.kinds, args.upstream, args.access_log))
