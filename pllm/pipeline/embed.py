"""The semantic cache's embedding call: the request's text, embedded by the configured
``embedding_model`` through the same route as any embeddings request (its deployments,
retries, health), on behalf of the caller; its cost is added to the request's.

A failure is not the client's: the semantic lookup is skipped (a miss) with a log line that
names the error code, never the text.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

import msgspec

from pllm.call import Call
from pllm.errors import GatewayError
from pllm.http import Request
from pllm.pipeline.forward import Reply, forward
from pllm.providers.codec import Endpoint
from pllm.providers.surface import OPENAI
from pllm.routing.engine import Outcome

if TYPE_CHECKING:
    from pllm.cache.service import Plan
    from pllm.state import AppState

log = logging.getLogger("pllm.cache")


class _Item(msgspec.Struct):
    embedding: list[float]


class _Embeddings(msgspec.Struct):
    data: list[_Item]


_decode = msgspec.json.Decoder(_Embeddings).decode


async def embed(
    state: AppState, req: Request, call: Call, plan: Plan, model: str, text: str
) -> list[float] | None:
    inner = Call()
    inner.principal = call.principal
    inner.model = model
    payload = {"model": model, "input": text}
    attempt = functools.partial(
        forward,
        state.http_client(),
        req,
        inner,
        OPENAI,
        endpoint=Endpoint.EMBEDDINGS,
        payload=payload,
        max_response_bytes=state.settings.general.max_response_body_bytes,
    )
    tokens = len(text) // 4 + 1
    try:
        routed = await state.engine.route(inner, Endpoint.EMBEDDINGS, tokens, attempt)
    except GatewayError as e:
        log.warning("semantic cache: the embedding failed", extra={"fields": {"code": e.code}})
        return None
    outcome: Outcome = "failure"
    try:
        reply = routed.result
        if not isinstance(reply, Reply):
            return None
        inner.usage = reply.usage
        price = state.engine.price(routed)
        if price is not None and reply.usage is not None:
            plan.embed_cost += price.cost(reply.usage.prompt_tokens, 0, 0)
        try:
            vector = _decode(reply.body).data[0].embedding
        except (msgspec.DecodeError, msgspec.ValidationError, IndexError):
            log.warning("semantic cache: the embedding reply is not an embedding")
            return None
        outcome = "success"
        return vector
    finally:
        state.engine.finish(routed, inner, tokens, outcome)
