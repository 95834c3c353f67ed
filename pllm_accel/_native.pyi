import asyncio
from collections.abc import Sequence
from typing import Literal, final

__all__ = [
    "CancelOnDone",
    "HttpClient",
    "InvalidUpstreamRequest",
    "Limiter",
    "NoDeploymentAvailable",
    "Router",
    "SseParser",
    "Target",
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
class NoDeploymentAvailable(Exception): ...

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
    @property
    def saw_done(self) -> bool: ...
    @property
    def usage(self) -> tuple[int, int, int] | None: ...
    @property
    def fault(self) -> Literal["malformed", "in_band_error"] | None: ...
    def poll(self) -> list[tuple[str | None, bytes]] | None: ...
    def poll_framed(self) -> bytes | None: ...
    def wait(self) -> asyncio.Future[None]: ...
    def close(self) -> None: ...

@final
class Target:
    def __new__(cls, method: str, url: str, headers: list[tuple[str, str]]) -> Target: ...

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
        target: Target,
        body: bytes,
        *,
        request_id: str,
        connect_timeout: float,
        first_byte_timeout: float,
        chunk_timeout: float,
        max_body_bytes: int,
        relay: Literal["none", "raw", "events", "openai", "openai-strip-usage"] = "none",
    ) -> asyncio.Future[UpstreamResponse]: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...

@final
class Router:
    def __new__(
        cls,
        groups: list[tuple[str, str, list[tuple[float, int, int | None, int | None, int | None]]]],
        *,
        consecutive_failures: int = 5,
        failure_rate: float = 0.5,
        min_requests: int = 10,
        failure_window: float = 30.0,
        base_ejection: float = 5.0,
        max_ejection: float = 300.0,
        half_open_successes: int = 2,
        max_ejected_percent: float = 50.0,
        exploration: float = 0.05,
    ) -> Router: ...
    def pick(self, group: str, exclude: list[int], tokens: int) -> int: ...
    def report(
        self,
        deployment: int,
        outcome: Literal["success", "failure", "rate_limited", "neutral"],
        latency_ms: float = 0.0,
        ttft_ms: float = 0.0,
        tokens_used: int = 0,
        tokens_estimated: int = 0,
        retry_after: float = 0.0,
    ) -> None: ...
    def health(
        self,
    ) -> list[tuple[int, str, float, str, int, int, int, float | None]]: ...
    @property
    def ejections_total(self) -> int: ...

@final
class Limiter:
    def __new__(cls) -> Limiter: ...
    def acquire(
        self,
        entities: Sequence[tuple[str, int | None, int | None, int | None]],
        tokens: int,
        now: float | None = None,
    ) -> int | tuple[str, Literal["rpm", "tpm", "parallel"], float]: ...
    def release(self, ticket: int, tokens_used: int = 0, now: float | None = None) -> bool: ...
    def in_flight(self, entity: str) -> int: ...
    def in_flight_total(self) -> int: ...
    def tracked(self) -> int: ...
