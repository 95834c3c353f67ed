"""``Service``: a thing tests start and stop (a fake upstream, a gateway process), and use as
``with Thing(...) as thing:``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class Service(ABC):
    @abstractmethod
    def start(self) -> Self:
        """Start; returns once the service answers."""

    @abstractmethod
    def stop(self) -> None:
        """Stop; does nothing if it is not running."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
