from __future__ import annotations

import asyncio
import json
import os

from pllm.observability.access_log import AccessLog, AccessRecord


def record(i: int) -> AccessRecord:
    return AccessRecord(
        ts="t",
        level="info",
        logger="pllm.access",
        msg="request",
        request_id=f"r{i}",
        method="POST",
        path="/v1/x",
        status=200,
        duration_ms=1.5,
    )


def read_lines(fd: int) -> list[dict[str, object]]:
    os.set_blocking(fd, False)
    try:
        data = os.read(fd, 1 << 20)
    except BlockingIOError:
        return []
    return [json.loads(line) for line in data.splitlines()]


def test_lines_are_buffered_then_flushed_by_the_timer() -> None:
    r, w = os.pipe()

    async def scenario() -> tuple[list[dict[str, object]], list[dict[str, object]]]:
        log = AccessLog(fd=w, flush_interval=0.05)
        log.write(record(1))
        log.write(record(2))
        before = read_lines(r)
        await asyncio.sleep(0.1)
        return before, read_lines(r)

    before, after = asyncio.run(scenario())
    assert before == []
    assert [x["request_id"] for x in after] == ["r1", "r2"]
    assert after[0]["logger"] == "pllm.access" and "model" not in after[0]
    os.close(r)
    os.close(w)


def test_a_full_buffer_is_written_at_once() -> None:
    r, w = os.pipe()
    log = AccessLog(fd=w, max_buffer=300)
    for i in range(3):
        log.write(record(i))
    assert len(read_lines(r)) >= 2
    log.flush()
    os.close(r)
    os.close(w)


def test_timestamp_has_milliseconds() -> None:
    ts = AccessLog().timestamp()
    assert len(ts) == 24 and ts.endswith("Z") and ts[19] == "."
