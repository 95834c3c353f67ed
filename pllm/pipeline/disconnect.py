"""Cancels a handler when its client disconnects, so the upstream request is cancelled too.

While a stream is relayed nothing else reads the ASGI ``receive`` channel; a background task
waits on it for ``http.disconnect`` and cancels the handler's task. The handler's ``finally``
blocks then close the upstream body, which closes the upstream connection.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from pllm.http import Receive


class DisconnectWatch:
    __slots__ = ("_handler", "_watcher", "fired")

    def __init__(self, receive: Receive) -> None:
        self.fired = False
        task = asyncio.current_task()
        assert task is not None, "DisconnectWatch needs a running task"
        self._handler = task
        self._watcher = asyncio.ensure_future(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.fired = True
                self._handler.cancel()
                return

    def __enter__(self) -> DisconnectWatch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        self._watcher.cancel()
        if self.fired and exc_type is asyncio.CancelledError:
            # Our own cancellation: swallow it and keep the task's cancel count balanced.
            self._handler.uncancel()
            return True
        return False
