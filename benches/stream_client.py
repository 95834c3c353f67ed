"""Streaming load client: N concurrent SSE chat completions for a fixed time, JSON result.

Run pinned to the client core (`taskset -c 0`). Every worker opens one stream after the
other on a shared keep-alive pool; the clock stops at the deadline and streams still open
then are cancelled (their chunks so far count, the streams do not).

Output (stdout, one JSON object): streams completed, streams/s, chunks/s (`data:` lines),
TTFT and whole-stream percentiles in ms, data lines per stream, errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from dataclasses import dataclass, field

import aiohttp
import uvloop

_DATA = b"data:"


@dataclass
class Tally:
    ttft: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    data_lines: list[int] = field(default_factory=list)
    chunks: int = 0
    errors: int = 0
    first_error: str = ""

    def error(self, what: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or what


async def one_stream(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], tally: Tally
) -> None:
    start = time.perf_counter()
    first: float | None = None
    lines = 0
    # Keep the last 4 bytes of the previous read: a `data:` split across two reads is then
    # found once, and a 4-byte tail can never hold a whole one to count twice.
    tail = b""
    async with session.post(url, data=body, headers=headers) as resp:
        if resp.status != 200:
            text = (await resp.read())[:200].decode(errors="replace")
            tally.error(f"HTTP {resp.status}: {text}")
            return
        async for chunk in resp.content.iter_any():
            found = (tail + chunk).count(_DATA)
            if found:
                first = first or time.perf_counter()
                lines += found
                tally.chunks += found
            tail = chunk[-4:]
    end = time.perf_counter()
    if first is None:
        tally.error("stream without data: lines")
        return
    tally.ttft.append(first - start)
    tally.total.append(end - start)
    tally.data_lines.append(lines)


async def worker(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    tally: Tally,
) -> None:
    while True:
        try:
            await one_stream(session, url, body, headers, tally)
        except aiohttp.ClientError as exc:
            tally.error(f"{type(exc).__name__}: {exc}")
            # A refused or reset connection fails in microseconds; do not spin on it.
            await asyncio.sleep(0.01)


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000, 3)


async def run(
    url: str, model: str, auth: str, concurrency: int, duration: float
) -> dict[str, object]:
    body = json.dumps(
        {
            "model": model,
            "messages": [{"role": "user", "content": "Count to fifty."}],
            "stream": True,
        }
    ).encode()
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = f"Bearer {auth}"
    tally = Tally()
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [
            asyncio.create_task(worker(session, url, body, headers, tally))
            for _ in range(concurrency)
        ]
        start = time.perf_counter()
        await asyncio.sleep(duration)
        elapsed = time.perf_counter() - start
        # Snapshot before cancelling: anything that lands after the deadline is not counted.
        streams, chunks = len(tally.total), tally.chunks
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return {
        "concurrency": concurrency,
        "seconds": round(elapsed, 3),
        "streams": streams,
        "streams_per_s": round(streams / elapsed, 1),
        "chunks_per_s": round(chunks / elapsed, 1),
        "ttft_p50_ms": _pct(tally.ttft[:streams], 50),
        "ttft_p99_ms": _pct(tally.ttft[:streams], 99),
        "total_p50_ms": _pct(tally.total[:streams], 50),
        "total_p99_ms": _pct(tally.total[:streams], 99),
        "data_lines_per_stream": (statistics.mean(tally.data_lines[:streams]) if streams else None),
        "errors": tally.errors,
        "first_error": tally.first_error,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="full chat completions URL")
    parser.add_argument("--model", default="bench-stream")
    parser.add_argument("--auth", default="", help="bearer token (empty: no header)")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds")
    args = parser.parse_args()
    result = uvloop.run(run(args.url, args.model, args.auth, args.concurrency, args.duration))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
