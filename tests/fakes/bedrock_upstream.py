"""A fake Bedrock runtime for end-to-end tests.

``FakeBedrock`` runs on ``127.0.0.1`` (random port) in a background thread and speaks the wire
format as AWS documents it: ``POST /model/<model id>/converse`` (JSON),
``/converse-stream`` (``application/vnd.amazon.eventstream`` frames with correct CRCs) and
``/invoke`` (Titan and Cohere embedding models). Every request must be signed with SigV4 for
service ``bedrock`` in ``region`` by one of ``credentials`` (access key id -> (secret, session
token or None)): the signature is recomputed with the secret (``bedrock_wire.verify_sigv4``),
and a request signed otherwise gets Bedrock's 403 ``InvalidSignatureException`` (an unknown key
``UnrecognizedClientException``). The model id must come URL-encoded in the path (``%3A``).

Like the real API it refuses fields it does not know, empty text, turns that do not
alternate (or start with the assistant), tool blocks without ``toolConfig``, tool results that
do not answer the previous turn's tool uses one for one, and images that are not base64 of a
known format.

Behaviour by model: an ordinary model answers ``REPLY`` (one event per word when streaming);
with tools (and a last user turn without tool results), a text and a tool use of the first
(or the chosen) tool with ``TOOL_ARGS``; after a tool result, a text quoting it; with images,
``REPLY`` and how many it saw; ``maxTokens`` below the word count cuts the answer
(``max_tokens``). Model ids containing ``cached``: cache reads and writes in the usage;
``throttled``: 429 ``ThrottlingException``; ``too-long``: 400 ``ValidationException`` about
the input's length; ``not-ready``: 429 ``ModelNotReadyException``; ``guardrail``: stopped by
a guardrail; ``stream-exception``: one event, then a ``throttlingException`` frame;
``stream-corrupt``: one event, then a frame whose CRC is wrong; ``reasoning``: a reasoning
block first.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aiohttp import web

from .bedrock_wire import (
    REPLY,
    TOOL_ARGS,
    converse_reply,
    error_headers,
    event_frame,
    exception_frame,
    reasoning_block,
    stream_events,
    text_block,
    tool_use_block,
    usage,
    verify_sigv4,
)
from .gemini_upstream import words_in
from .openai_wire import fake_embedding
from .recording_server import RecordingServer, request_index

__all__ = ["REPLY", "TOOL_ARGS", "FakeBedrock"]

_FIELDS = {
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "additionalModelRequestFields",
    "guardrailConfig",
    "performanceConfig",
    "requestMetadata",
    "promptVariables",
    "additionalModelResponseFieldPaths",
}
_CONFIG_FIELDS = {"maxTokens", "temperature", "topP", "stopSequences"}
_BLOCKS = {"text", "image", "document", "toolUse", "toolResult", "reasoningContent", "cachePoint"}
_IMAGE_FORMATS = {"png", "jpeg", "gif", "webp"}


def error(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status, headers=error_headers(error_type))


def _check_block(block: Any, where: str) -> str | None:
    if not isinstance(block, dict) or len(block) != 1 or not block.keys() <= _BLOCKS:
        return f"{where}: a content block needs exactly one of {sorted(_BLOCKS)}"
    if "text" in block and not (isinstance(block["text"], str) and block["text"].strip()):
        return f"{where}: The text field in the ContentBlock object is blank."
    image = block.get("image")
    if image is not None:
        if image.get("format") not in _IMAGE_FORMATS:
            return f"{where}.image.format: must be one of {sorted(_IMAGE_FORMATS)}"
        source = image.get("source") or {}
        try:
            base64.b64decode(source.get("bytes", ""), validate=True)
        except binascii.Error:
            return f"{where}.image.source.bytes: not base64"
    use = block.get("toolUse")
    if use is not None and not (use.get("toolUseId") and use.get("name") and "input" in use):
        return f"{where}.toolUse: toolUseId, name and input are required"
    return None


def check_converse(body: Any) -> str | None:
    """What the real Converse API would reject in a request body, or None."""
    if not isinstance(body, dict):
        return "Malformed input request, please reformat your input and try again."
    unknown = body.keys() - _FIELDS
    if unknown:
        return f"Unknown field(s): {sorted(unknown)}"
    config = body.get("inferenceConfig") or {}
    if config.keys() - _CONFIG_FIELDS:
        return f"inferenceConfig: unknown field(s) {sorted(config.keys() - _CONFIG_FIELDS)}"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if messages[0].get("role") != "user":
        return (
            "A conversation must start with a user message. Try again with a conversation "
            "that starts with a user message."
        )
    uses: list[str] = []
    tool_blocks = False
    for i, m in enumerate(messages):
        if i and m.get("role") == messages[i - 1].get("role"):
            return "A conversation must alternate between user and assistant roles."
        content = m.get("content")
        if (
            m.get("role") not in ("user", "assistant")
            or not isinstance(content, list)
            or not content
        ):
            return f"messages.{i}: role must be user or assistant and content non-empty"
        for j, block in enumerate(content):
            problem = _check_block(block, f"messages.{i}.content.{j}")
            if problem:
                return problem
        answers = [b["toolResult"]["toolUseId"] for b in content if "toolResult" in b]
        if answers and sorted(answers) != sorted(uses):
            return (
                f"The number of toolResult blocks at messages.{i}.content exceeds the number of "
                "toolUse blocks of previous turn."
            )
        uses = [b["toolUse"]["toolUseId"] for b in content if "toolUse" in b]
        tool_blocks = tool_blocks or bool(uses or answers)
    tools = (body.get("toolConfig") or {}).get("tools")
    if tool_blocks and not tools:
        return (
            "The toolConfig field must be defined when using toolUse and toolResult content blocks."
        )
    for spec in tools or ():
        s = spec.get("toolSpec")
        if s is None and "cachePoint" not in spec:
            return "toolConfig.tools: each tool needs a toolSpec"
        if s is not None and not (s.get("name") and "json" in (s.get("inputSchema") or {})):
            return "toolConfig.tools.toolSpec: name and inputSchema.json are required"
    for block in body.get("system") or ():
        if not block.keys() <= {"text", "cachePoint", "guardContent"}:
            return "system: only text, cachePoint and guardContent blocks"
    return None


class FakeBedrock(RecordingServer):
    """See the module doc. ``root_url`` is a deployment's ``aws_bedrock_runtime_endpoint``."""

    def __init__(
        self,
        *,
        credentials: dict[str, tuple[str, str | None]],
        region: str = "us-east-1",
        reply_text: str = REPLY,
    ) -> None:
        super().__init__("127.0.0.1", 0, startup_timeout=5.0)
        self.credentials = credentials
        self.region = region
        self.reply_text = reply_text

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_route("*", "/{tail:.*}", self._dispatch)

    def _json(self, request: web.Request) -> Any:
        with self.lock:
            return self.requests[request_index(request)].json

    def _auth_problem(self, request: web.Request) -> web.Response | None:
        with self.lock:
            recorded = self.requests[request_index(request)]
        secrets = {k: secret for k, (secret, _) in self.credentials.items()}
        tokens = {k: token for k, (_, token) in self.credentials.items() if token}
        problem = verify_sigv4(
            method=request.method,
            raw_path=request.raw_path.partition("?")[0],
            headers=recorded.headers,
            body=recorded.body,
            secrets=secrets,
            region=self.region,
            session_tokens=tokens,
        )
        if problem is None:
            return None
        kind = (
            "UnrecognizedClientException"
            if "security token" in problem
            else "InvalidSignatureException"
        )
        return error(403, kind, problem)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        segments = request.raw_path.partition("?")[0].strip("/").split("/")
        if request.method != "POST" or len(segments) != 3 or segments[0] != "model":
            return error(404, "UnknownOperationException", f"{request.method} {request.raw_path}")
        if ":" in segments[1] or "/" in request.path.removeprefix("/model/").rpartition("/")[0]:
            return error(400, "ValidationException", "The model id must be URL-encoded")
        denied = self._auth_problem(request)
        if denied is not None:
            return denied
        model, operation = request.path.removeprefix("/model/").rpartition("/")[::2]
        body = self._json(request)
        if operation == "invoke":
            return self._invoke(model, body)
        if operation not in ("converse", "converse-stream"):
            return error(404, "UnknownOperationException", f"no operation {operation}")
        problem = check_converse(body)
        if problem is not None:
            return error(400, "ValidationException", problem)
        if "throttled" in model:
            return error(
                429, "ThrottlingException", "Too many requests, please wait before trying again."
            )
        if "not-ready" in model:
            return error(
                429, "ModelNotReadyException", "Model is not ready to serve inference requests."
            )
        if "too-long" in model:
            return error(400, "ValidationException", "Input is too long for requested model.")
        full = self._answer(model, body)
        if operation == "converse":
            return web.json_response(full)
        return await self._stream(request, model, full)

    def _answer(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        last = body["messages"][-1]
        results = [b["toolResult"] for b in last["content"] if "toolResult" in b]
        config = body.get("toolConfig") or {}
        specs = [t["toolSpec"] for t in config.get("tools", []) if "toolSpec" in t]
        choice = config.get("toolChoice") or {}
        images = sum(1 for b in last["content"] if "image" in b)
        blocks: list[dict[str, Any]] = []
        stop = "end_turn"
        if results:
            text = f"The tool said: {results[0]['content'][0].get('text')}"
        elif specs and last["role"] == "user":
            name = (choice.get("tool") or {}).get("name") or specs[0]["name"]
            text, stop = "Let me check.", "tool_use"
            blocks.append(tool_use_block(f"tooluse_{request_count(self)}", name, TOOL_ARGS))
        else:
            text = self.reply_text + (f" I see {images} images." if images else "")
        words = text.split(" ")
        limit = (body.get("inferenceConfig") or {}).get("maxTokens")
        if limit is not None and len(words) > limit:
            words, blocks, stop = words[:limit], [], "max_tokens"
        if "guardrail" in model:
            stop = "guardrail_intervened"
        blocks.insert(0, text_block(" ".join(words)))
        if "reasoning" in model:
            blocks.insert(0, reasoning_block("Thinking it over.", "c2lnbmF0dXJl"))
        prompt = words_in(body["messages"]) + words_in(body.get("system"))
        output = len(words) + (8 if len(blocks) > 1 else 0)
        cached = "cached" in model
        use = usage(
            prompt, output, cache_read=5 if cached else None, cache_write=2 if cached else None
        )
        return converse_reply(blocks, stop, use)

    async def _stream(
        self, request: web.Request, model: str, full: dict[str, Any]
    ) -> web.StreamResponse:
        frames = [event_frame(name, payload) for name, payload in stream_events(full)]
        if "stream-exception" in model:
            frames = [
                frames[0],
                frames[1],
                exception_frame("throttlingException", "Too many tokens, please wait."),
            ]
        elif "stream-corrupt" in model:
            bad = bytearray(frames[1])
            bad[-1] ^= 0xFF
            frames = [frames[0], bytes(bad), *frames[2:]]
        response = web.StreamResponse(
            headers={"content-type": "application/vnd.amazon.eventstream"}
        )
        await response.prepare(request)
        for data in frames:
            if not await self._send(request, response, data, content=True):
                return response
        return await self._finish(request, response)

    def _invoke(self, model: str, body: Any) -> web.Response:
        if not isinstance(body, dict):
            return error(400, "ValidationException", "Malformed input request")
        if "titan-embed" in model:
            if set(body) - {"inputText", "dimensions", "normalize", "embeddingTypes"}:
                return error(400, "ValidationException", f"extraneous key(s) {sorted(body)}")
            text = body.get("inputText")
            if not isinstance(text, str) or not text:
                return error(400, "ValidationException", "inputText is required")
            vector = fake_embedding(text, body.get("dimensions") or 8)
            return web.json_response(
                {"embedding": vector, "inputTextTokenCount": len(text.split())}
            )
        if "cohere.embed" in model:
            texts, input_type = body.get("texts"), body.get("input_type")
            if not isinstance(texts, list) or not texts or not isinstance(input_type, str):
                return error(400, "ValidationException", "texts and input_type are required")
            vectors = [fake_embedding(t, 8) for t in texts]
            return web.json_response(
                {
                    "id": "emb-1",
                    "embeddings": vectors,
                    "texts": texts,
                    "response_type": "embeddings_floats",
                }
            )
        return error(400, "ValidationException", f"The fake cannot invoke {model}")


def request_count(server: RecordingServer) -> int:
    with server.lock:
        return len(server.requests)
