"""Many slow streams at once: how many concurrent SSE streams one gateway worker holds.

The gateway runs with the shipped defaults (`pllm serve`, one worker, no backpressure or
`max_in_flight` set) pinned to CPU 1; a slow upstream (20 chunks, one a second, then `[DONE]`)
and the client share CPU 0. The client opens N streams, ramped evenly over R seconds, holds
them all, and records each one's time to first byte, whether it completed (every chunk and
`[DONE]`) and how it failed otherwise. The gateway's peak RSS (whole process tree) is sampled.

    .bench-venv/bin/python benches/slow_streams.py --streams 9000 --ramp 20
    .bench-venv/bin/python benches/slow_streams.py --streams 5000,9000 --ramp 10   # several runs

Results: printed, and appended to benches/results/slow_streams.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import procs

BENCHES = Path(__file__).resolve().parent
ROOT = BENCHES.parent
PLLM = ROOT / ".venv" / "bin" / "pllm"
CLIENT_CPU, TARGET_CPU = 0, 1
MIB = 1024 * 1024

_UPSTREAM = r"""
import asyncio, json, resource, sys
from aiohttp import web
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
CHUNKS, GAP = int(sys.argv[2]), float(sys.argv[3])
async def chat(request):
    await request.read()
    resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await resp.prepare(request)
    head = {"id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": 0, "model": "slow"}
    for i in range(CHUNKS):
        delta = {"index": 0, "delta": {"content": f" tok{i}"}, "finish_reason": None}
        await resp.write(b"data: " + json.dumps({**head, "choices": [delta]}).encode() + b"\n\n")
        await asyncio.sleep(GAP)
    usage = {"prompt_tokens": 5, "completion_tokens": CHUNKS, "total_tokens": 5 + CHUNKS}
    last = json.dumps({**head, "choices": [], "usage": usage}).encode()
    await resp.write(b"data: " + last + b"\n\n")
    await resp.write(b"data: [DONE]\n\n")
    return resp
app = web.Application()
app.router.add_post("/v1/chat/completions", chat)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), backlog=4096, print=None)
"""


async def one_stream(session: Any, url: str, body: bytes, chunks: int, out: dict[str, Any]) -> None:
    start = time.perf_counter()
    try:
        async with session.post(url, data=body) as resp:
            if resp.status != 200:
                out["error"] = f"HTTP {resp.status}"
                return
            seen = b""
            async for piece in resp.content.iter_any():
                if "ttfb" not in out:
                    out["ttfb"] = time.perf_counter() - start
                seen = (seen + piece)[-64:]
                out["data"] = out.get("data", 0) + piece.count(b"data:")
            if not seen.rstrip().endswith(b"data: [DONE]") or out["data"] < chunks + 1:
                out["error"] = "incomplete"
    except Exception as e:  # every failure is a result here
        out["error"] = type(e).__name__


async def run_client(url: str, streams: int, ramp: float, chunks: int) -> list[dict[str, Any]]:
    import aiohttp

    body = json.dumps(
        {"model": "slow", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    ).encode()
    results: list[dict[str, Any]] = [{} for _ in range(streams)]
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=60, sock_read=60)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = []
        start = time.perf_counter()
        for i in range(streams):
            delay = start + ramp * i / streams - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one_stream(session, url, body, chunks, results[i])))
        await asyncio.gather(*tasks)
    return results


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


def wait_listening(proc: procs.Proc, port: int, timeout: float) -> None:
    """Until the port accepts connections (a request to the slow upstream takes 20 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited:\n{proc.log_tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{proc.name} not listening after {timeout} s:\n{proc.log_tail()}")


def measure(streams: int, ramp: float, chunks: int, gap: float, workdir: Path) -> dict[str, Any]:
    group = procs.ProcGroup()
    try:
        up_port, gw_port = procs.free_port(), procs.free_port()
        upstream = group.spawn(
            "upstream",
            [sys.executable, "-c", _UPSTREAM, str(up_port), str(chunks), str(gap)],
            cpu=CLIENT_CPU,
            log=workdir / "upstream.log",
        )
        config = workdir / "gateway.yaml"
        config.write_text(
            json.dumps(
                {
                    "model_list": [
                        {
                            "model_name": "slow",
                            "litellm_params": {
                                "model": "openai/slow",
                                "api_base": f"http://127.0.0.1:{up_port}/v1",
                                "api_key": "sk-upstream",
                                # The upstream pauses `gap` between chunks by design.
                                "stream_timeout": 60,
                            },
                        }
                    ],
                    "general_settings": {"data_dir": str(workdir / "data")},
                }
            )
        )
        argv = [str(PLLM), "serve", "--config", str(config), "--host", "127.0.0.1"]
        argv += ["--port", str(gw_port), "--admin-port", "0"]
        gateway = group.spawn("gateway", argv, cpu=TARGET_CPU, log=workdir / "gateway.log")
        wait_listening(upstream, up_port, 20)
        wait_listening(gateway, gw_port, 30)
        time.sleep(1)
        idle = procs.tree_rss_bytes(gateway.pid)
        url = f"http://127.0.0.1:{gw_port}/v1/chat/completions"
        os.sched_setaffinity(0, {CLIENT_CPU})
        with procs.RssSampler(gateway.pid) as rss:
            started = time.perf_counter()
            results = asyncio.run(run_client(url, streams, ramp, chunks))
            elapsed = time.perf_counter() - started
        errors: dict[str, int] = {}
        for r in results:
            if "error" in r:
                errors[r["error"]] = errors.get(r["error"], 0) + 1
        ttfb = sorted(r["ttfb"] * 1000 for r in results if "ttfb" in r and "error" not in r)
        with gateway.log.open("rb") as log:
            shed_lines = sum(line.count(b"at capacity") for line in log)
        return {
            "streams": streams,
            "ramp_s": ramp,
            "chunks": chunks,
            "gap_s": gap,
            "completed": streams - sum(errors.values()),
            "errors": errors,
            "ttfb_p50_ms": percentile(ttfb, 50),
            "ttfb_p99_ms": percentile(ttfb, 99),
            "elapsed_s": round(elapsed, 1),
            "rss_idle_mib": round(idle / MIB, 1),
            "rss_peak_mib": round(rss.peak / MIB, 1),
            "capacity_log_lines": shed_lines,
        }
    finally:
        group.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="9000", help="comma-separated stream counts")
    parser.add_argument("--ramp", type=float, default=20.0, help="seconds to open them all")
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between chunks")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    runs = []
    for n in (int(x) for x in args.streams.split(",")):
        with tempfile.TemporaryDirectory(prefix="pllm-slow-", ignore_cleanup_errors=True) as tmp:
            result = measure(n, args.ramp, args.chunks, args.gap, Path(tmp))
        result["date"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        with contextlib.suppress(Exception):
            result["commit"] = subprocess.run(
                ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
        print(json.dumps(result), flush=True)
        runs.append(result)
    out = BENCHES / "results" / "slow_streams.json"
    previous = json.loads(out.read_text()) if out.exists() else []
    out.write_text(json.dumps(previous + runs, indent=2) + "\n")


if __name__ == "__main__":
    main()
