"""The per-request access log, kept off the response path.

A line is encoded with msgspec into a buffer and the buffer is written to stderr in one
``write`` at most every ``flush_interval`` seconds (or once it passes ``max_buffer`` bytes),
so a request pays about a microsecond for its log line instead of a formatted, flushed stdlib
logging record. The format matches :mod:`pllm.observability.logging`: one JSON object a line
with ``ts``, ``level``, ``logger``, ``msg`` and the request's fields.
"""

from __future__ import annotations

import asyncio
import os
import time

import msgspec


class AccessRecord(msgspec.Struct, omit_defaults=True):
    ts: str
    level: str
    logger: str
    msg: str
    request_id: str
    method: str
    path: str
    status: int
    duration_ms: float
    model: str | None = None
    deployment: str | None = None
    stream: bool | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    # Who made the request: ids only, never a key or token.
    key_id: str | None = None
    user_id: str | None = None
    error: str | None = None


_encode = msgspec.json.Encoder().encode


class AccessLog:
    def __init__(
        self, fd: int = 2, flush_interval: float = 0.1, max_buffer: int = 64 * 1024
    ) -> None:
        self._fd = fd
        self._interval = flush_interval
        self._max = max_buffer
        self._lines: list[bytes] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None
        self._second = -1
        self._second_text = ""

    def timestamp(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            # Formatting the date once a second, not once a request.
            self._second = second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._second_text}.{int((now - second) * 1000):03d}Z"

    def write(self, record: AccessRecord) -> None:
        line = _encode(record)
        self._lines.append(line)
        self._size += len(line) + 1
        if self._size >= self._max:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._timer = loop.call_later(self._interval, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._lines:
            return
        data = b"\n".join(self._lines) + b"\n"
        self._lines.clear()
        self._size = 0
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._fd, view)
            except InterruptedError:
                continue
            except OSError:
                return  # stderr is gone; losing log lines must not break requests
            view = view[written:]
