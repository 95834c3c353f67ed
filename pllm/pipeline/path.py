"""The request path of every model call, top to bottom.

The API handlers parse and validate a request and hand it here with its surface (the client's
format: OpenAI, or Anthropic's Messages) and endpoint. From then on every call, streaming or
not, whichever provider serves it, goes through the same steps:

1. **model**     the model group must exist (404 otherwise);
2. **gate**      the principal may use it; its key/user/group limits give a ticket and its
                 budgets a reservation of the maximum cost (403/429 otherwise) — before any
                 queueing, so a request over its limits never waits for a slot;
   **cache**     (``litellm_settings.cache``) only now, once the request is known to be
                 allowed, the response cache is consulted: a hit is answered from it (cost 0,
                 no tokens against tpm) and skips the steps up to 7;
3. **admit**     load shedding: a slot among ``max_in_flight``, or a short queue, or 503;
4. **route**     pick a deployment and forward the request to it (:mod:`.forward`: the codec
                 builds it, the native client or an in-process target sends it, the head of
                 the answer is read), retried and fallen back by :class:`RoutingEngine` until
                 one answers or the error is final;
5. **respond**   a whole reply goes back with its cost; a stream is relayed event by event
                 (:mod:`.relay`), and a client that leaves cancels it;
6. **report**    the router learns how the response went (health, latency, tokens);
7. **release**   the gate's ticket and reservation are settled with the actual usage and cost;
8. **account**   once the exchange is over, whatever its outcome, the app calls
                 :func:`account`: the spend record and the request counter.

Authentication happens before the handler (the app resolves the credential into
``call.principal``), so an unauthenticated request never reaches this module.
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING, Any

from pllm.call import Call
from pllm.http import Request
from pllm.observability.metrics import Labels
from pllm.pipeline.disconnect import DisconnectWatch
from pllm.pipeline.embed import embed
from pllm.pipeline.forward import Reply, Streaming, forward, forward_traced
from pllm.pipeline.relay import relay
from pllm.providers.codec import Endpoint
from pllm.providers.surface import OPENAI, Surface
from pllm.routing.engine import BROKEN_STREAM, Outcome, Routed
from pllm.tenancy.gate import Holds, LeasePending
from pllm.usage import prompt_tokens_estimate, reply_cap

if TYPE_CHECKING:
    from pllm.cache.entry import Entry
    from pllm.cache.service import Plan
    from pllm.state import AppState


async def serve(
    state: AppState,
    req: Request,
    call: Call,
    surface: Surface,
    endpoint: Endpoint,
    model: str,
    payload: dict[str, Any],
    *,
    stream: bool,
) -> None:
    """Serves one validated model call; raises the :class:`GatewayError` the client sees
    when nothing has been sent yet."""
    if (auto := state.auto_routers.get(model)) is not None:
        model = auto.choose(payload, state.engine.group_health)  # an auto_router/ name
    state.registry.group(model)  # 1. model
    call.model = model
    call.stream = stream
    prompt, cap = prompt_tokens_estimate(req.headers), reply_cap(payload)
    tokens = prompt + (cap or 0)
    try:
        holds = _admit(state, call, model, prompt, cap)  # 2. gate
    except LeasePending as pending:
        # Workers or instances share the budget and this process's lease of it is short: a
        # refill is asked for; once it is in, a second refusal is final.
        await pending.wait()
        try:
            holds = _admit(state, call, model, prompt, cap)
        except LeasePending as again:
            raise again.refusal() from None
    plan = None
    try:
        if state.cache is not None and surface is OPENAI:  # after the gate, never before
            plan = state.cache.plan(call, endpoint.value, model, payload, req.headers)
            if plan is not None and (entry := await _lookup(state, req, call, plan)) is not None:
                await state.cache.answer(req, call, plan, entry, stream)
                return
        if not state.admission.try_acquire():  # 3. admit
            await state.admission.acquire(req)
        try:
            if not stream:
                await _answer(state, req, call, surface, endpoint, payload, tokens, plan)
                return
            # A stream ends early, and cancels its upstream request, when the client leaves.
            with DisconnectWatch(req.receive) as watch:
                await _answer(state, req, call, surface, endpoint, payload, tokens, plan)
            if watch.fired:
                req.error = "client_disconnected"
            elif plan is not None and req.error is None and state.cache is not None:
                await state.cache.put(plan, None, call.usage)  # a stream that completed
        finally:
            state.admission.release()
    finally:
        if plan is not None and plan.embed_cost:  # the semantic cache's embedding
            call.cost = (call.cost or 0.0) + plan.embed_cost
        # 7. release; a cache hit used no tokens
        state.gate.release(holds, None if call.cache_hit else call.usage, call.cost)


async def _lookup(state: AppState, req: Request, call: Call, plan: Plan) -> Entry | None:
    cache = state.cache
    assert cache is not None
    model = cache.settings.embedding_model
    if plan.semantic is None or model is None:
        return await cache.find(plan)
    return await cache.find(plan, functools.partial(embed, state, req, call, plan, model))


async def _answer(
    state: AppState,
    req: Request,
    call: Call,
    surface: Surface,
    endpoint: Endpoint,
    payload: dict[str, Any],
    tokens: int,
    plan: Plan | None,
) -> None:
    # 4. route: pick → forward, retried and fallen back until a deployment answers.
    attempt = functools.partial(
        forward if state.tracing is None else functools.partial(forward_traced, state.tracing),
        state.http_client(),
        req,
        call,
        surface,
        endpoint=endpoint,
        payload=payload,
        max_response_bytes=state.settings.general.max_response_body_bytes,
    )
    try:
        routed = await state.engine.route(call, endpoint, tokens, attempt)
    finally:
        req.extra_headers = _served_headers(call)
        if plan is not None:
            req.extra_headers += plan.miss_headers()
    outcome: Outcome = "neutral"
    try:
        answer = routed.result
        if isinstance(answer, Reply):  # 5. respond
            call.usage = answer.usage
            cost = _settle_cost(state, call, routed)
            extra = (("x-pllm-cost", repr(round(cost, 10))),) if cost is not None else ()
            await req.respond(200, answer.body, extra=extra)
            outcome = "success"
            if plan is not None and state.cache is not None:
                await state.cache.put(plan, answer.body, answer.usage)
        else:  # 5. relay
            tap = state.cache.collect(plan) if plan is not None and state.cache else None
            await relay(req, call, answer, surface, tap)
            outcome = "failure" if req.error in BROKEN_STREAM else "success"
    finally:
        if call.cost is None:  # a stream's usage is known once it ended (or was cut)
            _settle_cost(state, call, routed)
        state.engine.finish(routed, call, tokens, outcome)  # 6. report


def _admit(state: AppState, call: Call, model: str, prompt: int, cap: int | None) -> Holds:
    if state.tracing is None:
        return state.gate.admit(call.principal, model, prompt, cap)
    return state.tracing.gate(state.gate.admit, call.principal, model, prompt, cap)


def _settle_cost(state: AppState, call: Call, routed: Routed[Reply | Streaming]) -> float | None:
    """The call's cost from the serving deployment's price and the usage, once both are
    known (USD)."""
    price, usage = state.engine.price(routed), call.usage
    if price is not None and usage is not None:
        call.cost = price.cost(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens())
    return call.cost


def _served_headers(call: Call) -> list[tuple[bytes, bytes]]:
    """Which model group served a fallback, and how many attempts were made."""
    headers: list[tuple[bytes, bytes]] = []
    if call.served_by is not None and call.served_by != call.model:
        headers.append((b"x-pllm-model", call.served_by.encode()))
    if call.attempts > 1:
        headers.append((b"x-pllm-attempts", str(call.attempts).encode()))
    return headers


def account(state: AppState, req: Request, call: Call) -> None:
    """8. account: metrics and the spend record, once the exchange is over."""
    model = call.model
    if model is None:
        return
    metrics = state.metrics
    # Labelled by the group: names a wildcard serves are chosen by clients, and one label
    # value each would grow the metrics without bound (the spend record keeps the name).
    resolved = state.registry.find(model)
    if resolved is not None:
        model = resolved.group
    labels = (("model", model), ("status", str(req.status)))
    metrics.inc("pllm_requests_total", labels)
    now = time.perf_counter()
    metrics.observe("gen_ai_server_request_duration_seconds", labels, now - req.started_at)
    if call.stream and call.upstream_head_at is not None:
        ttft = call.upstream_head_at - req.started_at
        metrics.observe("gen_ai_server_time_to_first_token_seconds", (("model", model),), ttft)
    usage = call.usage
    if usage is not None and not call.cache_hit:
        token_labels = _TOKEN_LABELS.get(model) or _token_labels(model)
        metrics.inc("gen_ai_client_token_usage_total", token_labels[0], usage.prompt_tokens)
        metrics.inc("gen_ai_client_token_usage_total", token_labels[1], usage.completion_tokens)
        if cached := usage.cached_tokens():
            metrics.inc("gen_ai_client_token_usage_total", token_labels[2], cached)
    if call.cost:
        metrics.inc("pllm_spend_cost_usd_total", (("model", model),), call.cost)
    state.accounting.record(req, call, req.path.removeprefix("/v1/").lstrip("/"))


_TOKEN_LABELS: dict[str, tuple[Labels, Labels, Labels]] = {}


def _token_labels(model: str) -> tuple[Labels, Labels, Labels]:
    # Built once per model, not per request.
    if len(_TOKEN_LABELS) >= 10_000:  # wildcard-served names are client-chosen: bounded
        _TOKEN_LABELS.clear()
    m = ("model", model)
    made = (
        (m, ("gen_ai_token_type", "input")),
        (m, ("gen_ai_token_type", "output")),
        (m, ("gen_ai_token_type", "cached_input")),
    )
    _TOKEN_LABELS[model] = made
    return made
