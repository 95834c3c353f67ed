"""The OpenAI-compatible endpoints: chat completions, completions, embeddings, models.

The model calls are read, checked and handed to the request path (:func:`pllm.pipeline.serve`)
in OpenAI's format; the model list is answered here.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pllm.api.model_call import model_call
from pllm.api.validation import check_chat, check_completion, check_embeddings
from pllm.call import Call
from pllm.errors import GatewayError
from pllm.http import Request
from pllm.providers.codec import Endpoint
from pllm.providers.surface import OPENAI
from pllm.state import AppState

_encode = msgspec.json.Encoder().encode


def _embeddings(payload: dict[str, Any]) -> tuple[str, bool]:
    return check_embeddings(payload), False


chat_completions = model_call(OPENAI, Endpoint.CHAT, check_chat)
completions = model_call(OPENAI, Endpoint.COMPLETIONS, check_completion)
embeddings = model_call(OPENAI, Endpoint.EMBEDDINGS, _embeddings)


def _model_card(state: AppState, name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": state.created, "owned_by": "pllm"}


async def list_models(state: AppState, req: Request, call: Call) -> None:
    """The models configured by name, then one entry per wildcard pattern (``openai/*``):
    any name it matches is served, passed upstream as asked."""
    principal = call.principal
    registry = state.registry
    names = [*registry.explicit(), *state.auto_routers, *registry.wildcards()]
    data = [_model_card(state, name) for name in names if principal.may_use(name)]
    await req.respond(200, _encode({"object": "list", "data": data}))


async def get_model(state: AppState, req: Request, call: Call) -> None:
    """A configured name, or a name a wildcard serves."""
    name = req.path.split("/models/", 1)[1]
    known = state.registry.find(name) is not None or name in state.auto_routers
    if not known or not call.principal.may_use(name):
        raise GatewayError(
            404,
            f"The model '{name}' does not exist",
            param="model",
            code="model_not_found",
        )
    await req.respond(200, _encode(_model_card(state, name)))
