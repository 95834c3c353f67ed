import asyncio
from typing import final

__all__ = [
    "CancelOnDone",
    "HttpClient",
    "InvalidUpstreamRequest",
    "SseParser",
    "UpstreamBodyTooLarge",
    "UpstreamConnectError",
    "UpstreamError",
    "UpstreamProtocolError",
    "UpstreamResponse",
    "UpstreamTimeoutError",
    "__version__",
]

__version__: str

class UpstreamError(Exception): ...
class UpstreamConnectError(UpstreamError): ...
class UpstreamTimeoutError(UpstreamError): ...
class UpstreamProtocolError(UpstreamError): ...
class UpstreamBodyTooLarge(UpstreamError): ...
class InvalidUpstreamRequest(UpstreamError): ...

@final
class SseParser:
    def __init__(self) -> None: ...
    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]: ...
    def has_pending(self) -> bool: ...

@final
class CancelOnDone:
    def __call__(self, fut: asyncio.Future[UpstreamResponse]) -> None: ...

@final
class UpstreamResponse:
    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> list[tuple[str, str]]: ...
    @property
    def body(self) -> bytes | None: ...
    @property
    def truncated(self) -> bool: ...
    def start_stream(self, sse: bool) -> None: ...
    def poll(self) -> list[tuple[str | None, bytes]] | None: ...
    def wait(self) -> asyncio.Future[None]: ...
    def close(self) -> None: ...

@final
class HttpClient:
    def __new__(
        cls,
        event_loop: asyncio.AbstractEventLoop,
        *,
        pool_idle_timeout: float = 90.0,
        pool_max_idle_per_host: int = 1024,
        worker_threads: int = 1,
    ) -> HttpClient: ...
    def wake_fd(self) -> int: ...
    def drain(self) -> None: ...
    def send(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        connect_timeout: float,
        first_byte_timeout: float,
        chunk_timeout: float,
        read_body: bool,
        max_body_bytes: int,
    ) -> asyncio.Future[UpstreamResponse]: ...
    def close(self) -> None: ...
