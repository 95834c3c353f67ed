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
    principal = call.principal
    data = [_model_card(state, name) for name in state.registry.groups if principal.may_use(name)]
    await req.respond(200, _encode({"object": "list", "data": data}))


async def get_model(state: AppState, req: Request, call: Call) -> None:
    name = req.path.split("/models/", 1)[1]
    if name not in state.registry.groups or not call.principal.may_use(name):
        raise GatewayError(
            404,
            f"The model '{name}' does not exist",
            param="model",
            code="model_not_found",
        )
    await req.respond(200, _encode(_model_card(state, name)))
