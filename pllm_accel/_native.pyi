import asyncio
from collections.abc import Sequence
from typing import ClassVar, Literal, final

__all__ = [
    "CancelOnDone",
    "DeploymentHealth",
    "EventStreamParser",
    "HttpClient",
    "InvalidUpstreamRequest",
    "Limiter",
    "NoDeploymentAvailable",
    "Refusal",
    "Router",
    "SseEvent",
    "SseParser",
    "StreamBatch",
    "StreamUsage",
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

class UpstreamTimeoutError(UpstreamError):
    phase: Literal["connect", "first_byte", "between_chunks"]

class UpstreamProtocolError(UpstreamError): ...
class UpstreamBodyTooLarge(UpstreamError): ...
class InvalidUpstreamRequest(UpstreamError): ...

class NoDeploymentAvailable(Exception):
    reason: Literal["unknown_group", "ejected", "saturated", "exhausted"]
    retry_after: float

@final
class SseEvent:
    def __new__(cls, event: str | None, data: bytes) -> SseEvent: ...
    @property
    def event(self) -> str | None: ...
    @property
    def data(self) -> bytes: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class SseParser:
    def __init__(self) -> None: ...
    def feed(self, chunk: bytes) -> list[SseEvent]: ...
    def has_pending(self) -> bool: ...

@final
class EventStreamParser:
    def __init__(self) -> None: ...
    def feed(self, chunk: bytes) -> list[SseEvent]: ...
    def has_pending(self) -> bool: ...

@final
class StreamBatch:
    @property
    def out(self) -> bytes: ...
    @property
    def events(self) -> tuple[SseEvent, ...]: ...
    def __bool__(self) -> bool: ...

@final
class StreamUsage:
    @property
    def prompt_tokens(self) -> int: ...
    @property
    def completion_tokens(self) -> int: ...
    @property
    def total_tokens(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class CancelOnDone:
    def __call__(self, fut: asyncio.Future[UpstreamResponse]) -> None: ...

@final
class UpstreamResponse:
    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> dict[str, str]: ...
    @property
    def body(self) -> bytes | None: ...
    @property
    def truncated(self) -> bool: ...
    @property
    def saw_done(self) -> bool: ...
    @property
    def usage(self) -> StreamUsage | None: ...
    @property
    def fault(self) -> Literal["malformed", "in_band_error"] | None: ...
    def poll(self) -> StreamBatch | None: ...
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
        relay: Literal[
            "none", "events", "tap", "openai", "openai-strip-usage", "eventstream"
        ] = "none",
        tap: Sequence[str] = (),
        traceparent: str | None = None,
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
    def reconfigure(
        self,
        groups: list[
            tuple[str, str, list[tuple[int, tuple[float, int, int | None, int | None, int | None]]]]
        ],
    ) -> None: ...
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
    def health(self) -> list[DeploymentHealth]: ...
    @property
    def ejections_total(self) -> int: ...

@final
class Limiter:
    def __new__(cls, shared: str | None = None, worker: int = 0) -> Limiter: ...
    def acquire(
        self,
        entities: Sequence[tuple[str, int | None, int | None, int | None]],
        tokens: int,
        now: float | None = None,
    ) -> int | Refusal: ...
    def release(self, ticket: int, tokens_used: int = 0, now: float | None = None) -> bool: ...
    def in_flight(self, entity: str) -> int: ...
    def in_flight_total(self) -> int: ...
    def tracked(self) -> int: ...
    def forget_worker(self, worker: int) -> int: ...

@final
class Refusal:
    @property
    def entity(self) -> str: ...
    @property
    def kind(self) -> Literal["rpm", "tpm", "parallel"]: ...
    @property
    def retry_after(self) -> float: ...
    def __eq__(self, other: object, /) -> bool: ...
    __hash__: ClassVar[None]  # type: ignore[assignment]

@final
class DeploymentHealth:
    @property
    def deployment(self) -> int: ...
    @property
    def group(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def state(self) -> Literal["closed", "cooling_down", "open", "half_open"]: ...
    @property
    def in_flight(self) -> int: ...
    @property
    def consecutive_failures(self) -> int: ...
    @property
    def ejections(self) -> int: ...
    @property
    def ttft_ms(self) -> float | None: ...
