"""The spend record: what one request used and cost. It is the spool's line format too."""

from __future__ import annotations

import msgspec


class SpendRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    """One request. ``request_id`` is the idempotency key: writing a record twice is a no-op."""

    request_id: str
    ts: float  # UNIX seconds when the request arrived
    endpoint: str  # "chat", "completions", "embeddings", "messages"
    status: int
    latency_ms: float
    key_id: str | None = None
    user_id: str | None = None
    group_ids: tuple[str, ...] = ()
    model: str | None = None
    deployment: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost: float = 0.0
    ttft_ms: float | None = None
    attempts: int = 1
    streamed: bool = False
    cache_hit: bool = False
    error: str | None = None

    def entities(self) -> list[str]:
        """The daily-counter rows this record adds to."""
        out = ["all"]
        if self.key_id is not None:
            out.append(f"key:{self.key_id}")
        if self.user_id is not None:
            out.append(f"user:{self.user_id}")
        out.extend(f"group:{g}" for g in self.group_ids)
        if self.model is not None:
            out.append(f"model:{self.model}")
        return out
