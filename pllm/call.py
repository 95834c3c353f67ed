"""What the gateway decides and measures while it serves one model call.

Kept apart from the HTTP exchange (:class:`pllm.http.Request`): the request path fills it in
(who is calling, which model, which deployment served, what it used and cost), the access log
and the spend record read it. Each field has one writer, named beside it.
"""

from __future__ import annotations

from pllm.principal import OPEN, Principal
from pllm.usage import Usage


class Call:
    __slots__ = (
        "attempts",
        "cache_hit",
        "cost",
        "deadline",
        "deployment",
        "model",
        "principal",
        "served_by",
        "stream",
        "upstream_head_at",
        "usage",
    )

    def __init__(self) -> None:
        # The app, from the credential (OPEN when no master key is configured).
        self.principal: Principal = OPEN
        # The pipeline, once the model group is known: what the client asked for.
        self.model: str | None = None
        self.stream = False
        # The router, per attempt: the deployment tried last, the group it belongs to (a
        # fallback's name when one served), how many attempts were made, and by when
        # (perf_counter) a response must have started (``router_settings.timeout``).
        self.deployment: str | None = None
        self.served_by: str | None = None
        self.attempts = 0
        self.deadline: float | None = None
        # The forward step: when the upstream's response head arrived (time to first byte).
        self.upstream_head_at: float | None = None
        # The pipeline, from the reply or the stream: tokens used and their cost in USD.
        self.usage: Usage | None = None
        self.cost: float | None = None
        # The response cache: answered from a cached entry.
        self.cache_hit = False
