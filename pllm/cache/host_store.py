"""The `local` cache shared by the workers of one host (``pllm serve --workers N``).

One file per entry in the supervisor's shared directory (``/dev/shm`` where Linux has it, so
in memory): a lookup is an ``open`` and a ``read``, a store a write and a ``rename`` (readers
never see half an entry), and every worker sees every other's entries at once. A file holds
its header (when it expires, its model and storage key) and the value.

The bound in bytes is kept by a sweep every ``SWEEP_INTERVAL`` in worker 0 only: expired
entries go first, then the least recently used (a hit refreshes the file's modification
time) until the total is under ``max_bytes``. Between two sweeps the directory can outgrow
the bound by what the workers store meanwhile; an entry larger than the whole bound is never
stored. A sweep stats every file but opens only those it evicts (~1 µs a file: 10 ms a
second for 10,000 entries).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import struct
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("pllm.cache")

_HEAD = struct.Struct("<dHH")  # expires at (epoch seconds), model length, key length
SWEEP_INTERVAL = 1.0


def _file_name(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:40]


class HostStore:
    kind = "local"

    def __init__(
        self,
        directory: str,
        max_bytes: int,
        *,
        sweeper: bool,
        on_evict: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        # Only one worker sweeps (and starts the task); every one reads and stores.
        self._sweeper = sweeper
        self._on_evict = on_evict
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self.entries = 0
        self.bytes = 0

    async def get(self, key: str) -> bytes | None:
        path = self.directory / _file_name(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        entry = _decode(data)
        if entry is None or entry[2] != key:
            return None  # a torn or foreign file: a miss, replaced by the next store
        expires, _, _, value = entry
        if expires <= self._clock():
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        with contextlib.suppress(OSError):
            os.utime(path, (expires, self._clock()))  # recently used, for the sweep
        return value

    async def set(self, key: str, value: bytes, ttl: float, model: str) -> None:
        raw_model, raw_key = model.encode()[:65535], key.encode()
        now = self._clock()
        expires = now + ttl
        head = _HEAD.pack(expires, len(raw_model), len(raw_key))
        data = head + raw_model + raw_key + value
        if len(data) > self.max_bytes:
            return
        if self._sweeper and self._task is None:
            self.start()  # on the serving loop, once something is stored
        path = self.directory / _file_name(key)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            partial.write_bytes(data)
            os.utime(partial, (expires, now))
            partial.replace(path)
        except OSError as e:
            log.warning(f"cache entry not stored: {e.strerror or e}")
            with contextlib.suppress(OSError):
                partial.unlink()

    async def delete(self, key: str) -> None:
        with contextlib.suppress(OSError):
            (self.directory / _file_name(key)).unlink()

    async def clear(self, prefix: str, suffix: str = "") -> int:
        cleared = 0
        for path in self.directory.iterdir():
            entry = _read(path)
            if entry is not None and entry[2].startswith(prefix) and entry[2].endswith(suffix):
                with contextlib.suppress(OSError):
                    path.unlink()
                    cleared += 1
        return cleared

    def stats(self) -> dict[str, int]:
        """As of the latest sweep (in the sweeping worker; 0 in the others)."""
        return {"entries": self.entries, "bytes": self.bytes, "max_bytes": self.max_bytes}

    def start(self) -> None:
        if self._sweeper and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.sweep)
            except OSError as e:
                log.warning(f"cache sweep failed: {e.strerror or e}")
            await asyncio.sleep(SWEEP_INTERVAL)

    def sweep(self) -> None:
        """Drops expired entries, then the least recently used until the total fits the
        bound. Reads no file but those it evicts: a file's access time is when it expires
        and its modification time when it was last used (both set by this module)."""
        now = self._clock()
        held: list[tuple[float, int, str]] = []  # (last used, size, path)
        with os.scandir(self.directory) as it:
            for item in it:
                if item.name.endswith(".tmp"):
                    continue
                try:
                    st = item.stat()
                except OSError:
                    continue
                if st.st_atime <= now:
                    with contextlib.suppress(OSError):
                        os.unlink(item.path)
                    continue
                held.append((st.st_mtime, st.st_size, item.path))
        total = sum(size for _, size, _ in held)
        if total > self.max_bytes:
            held.sort()
            while held and total > self.max_bytes:
                _, size, path = held.pop(0)
                entry = _read(Path(path))
                with contextlib.suppress(OSError):
                    os.unlink(path)
                total -= size
                if self._on_evict is not None and entry is not None:
                    self._on_evict(entry[1])
        self.entries, self.bytes = len(held), total

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def _read(path: Path) -> tuple[float, str, str, bytes] | None:
    try:
        return _decode(path.read_bytes())
    except OSError:
        return None


def _decode(data: bytes) -> tuple[float, str, str, bytes] | None:
    """(expires, model, key, value) of a file's bytes; None when it is not one of ours."""
    if len(data) < _HEAD.size:
        return None
    expires, model_len, key_len = _HEAD.unpack_from(data)
    start = _HEAD.size
    end = start + model_len + key_len
    if len(data) < end:
        return None
    try:
        model = data[start : start + model_len].decode()
        key = data[start + model_len : end].decode()
    except UnicodeDecodeError:
        return None
    return expires, model, key, data[end:]
