"""A fake Google upstream for end-to-end tests: Gemini on Google AI Studio and on Vertex AI,
and Claude on Vertex AI.

``FakeGemini`` runs on ``127.0.0.1`` (random port) in a background thread and speaks the wire
formats as Google documents them:

* AI Studio: ``POST /v1beta/models/<model>:generateContent``, ``:streamGenerateContent?alt=sse``
  and ``:batchEmbedContents``, authenticated by ``x-goog-api-key`` (a wrong key is Google's 400
  with reason ``API_KEY_INVALID``; none, a 403);
* Vertex AI: ``POST /v1/projects/<p>/locations/<l>/publishers/google/models/<model>:`` the same
  methods and ``:predict`` (embeddings), and ``publishers/anthropic/models/<model>:rawPredict``
  / ``:streamRawPredict`` (Anthropic's Messages body without ``model``, with
  ``anthropic_version``), authenticated by ``Authorization: Bearer`` with a token that
  ``token_ok`` accepts (a ``FakeGoogleToken``'s ``valid``).

Like the real API it refuses fields it does not know, empty parts, a stream request without
``alt=sse``, and function responses that do not answer the previous turn's calls one for one.

Behaviour by model: an ordinary model answers ``REPLY`` (one event per word when streaming);
with function declarations (mode not ``NONE``) and a last user turn without function
responses, a text and a function call of the first (or the only allowed) function with
``TOOL_ARGS`` (Gemini 3 models: with a thought signature); after a function response, a text
quoting it; JSON mode, a JSON object; with ``includeThoughts``, a thought part first;
``maxOutputTokens`` below the word count cuts the answer (``MAX_TOKENS``); ``candidateCount``
candidates. ``cached``: cached tokens in the usage; ``blocked``: the prompt blocked
(``promptFeedback``, no candidates); ``safety``: a candidate stopped by ``SAFETY``;
``error-<status>``: Google's error body; ``stream-error``: one event, then an error event;
``stream-cut``: one event, then the connection closes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .anthropic_wire import message, text_block, usage
from .anthropic_wire import stream_events as anthropic_events
from .gemini_wire import (
    REPLY,
    TOOL_ARGS,
    candidate,
    error_body,
    function_call_part,
    reply,
    sse,
    stream_events,
    text_part,
    usage_metadata,
)
from .openai_wire import fake_embedding
from .recording_server import RecordingServer, request_index

__all__ = ["CLAUDE_REPLY", "REPLY", "TOOL_ARGS", "FakeGemini"]

CLAUDE_REPLY = "Hello from fake Claude on Vertex"

_FIELDS = {
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "generationConfig",
    "safetySettings",
    "cachedContent",
    "labels",
}
_CONFIG_FIELDS = {
    "temperature",
    "topP",
    "topK",
    "maxOutputTokens",
    "candidateCount",
    "stopSequences",
    "presencePenalty",
    "frequencyPenalty",
    "seed",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "thinkingConfig",
}
_DATA_FIELDS = {"text", "inlineData", "fileData", "functionCall", "functionResponse"}
_CLAUDE_FIELDS = {
    "anthropic_version",
    "messages",
    "max_tokens",
    "system",
    "metadata",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "thinking",
}


def _error(status: int, text: str | None = None, reason: str | None = None) -> web.Response:
    body = error_body(status, text)
    if reason is not None:
        body["error"]["details"] = [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}
        ]
    response = web.json_response(body, status=status)
    if status == 429:
        response.headers["retry-after"] = "3"
    return response


def words_in(value: Any) -> int:
    """The words of every ``text`` in a JSON value: the fake's token count."""
    if isinstance(value, list):
        return sum(words_in(v) for v in value)
    if isinstance(value, dict):
        return sum(
            len(v.split()) if k == "text" and isinstance(v, str) else words_in(v)
            for k, v in value.items()
        )
    return 0


def _check_part(part: Any, where: str) -> str | None:
    if not isinstance(part, dict):
        return f"{where}: a part must be an object"
    data = part.keys() & _DATA_FIELDS
    if len(data) != 1:
        return f"{where}: a part needs exactly one data field, got {sorted(part)}"
    unknown = part.keys() - _DATA_FIELDS - {"thought", "thoughtSignature"}
    if unknown:
        return f"Invalid JSON payload received. Unknown name {sorted(unknown)[0]!r} at '{where}'"
    if "text" in part and not part["text"]:
        return f"{where}: Unable to submit request because it has an empty text parameter."
    blob = part.get("inlineData")
    if blob is not None and not (blob.get("mimeType") and blob.get("data")):
        return f"{where}.inlineData: mimeType and data are required"
    file = part.get("fileData")
    if file is not None and not (file.get("mimeType") and file.get("fileUri")):
        return f"{where}.fileData: mimeType and fileUri are required"
    call = part.get("functionCall")
    if call is not None and not isinstance(call.get("args", {}), dict):
        return f"{where}.functionCall.args must be an object"
    return None


def check_gemini(body: Any) -> str | None:
    """What the real API would reject in a generateContent body, or None."""
    if not isinstance(body, dict):
        return "The request body is not valid JSON."
    for name in body:
        if name not in _FIELDS:
            return f"Invalid JSON payload received. Unknown name {name!r}: Cannot find field."
    config = body.get("generationConfig") or {}
    for name in config:
        if name not in _CONFIG_FIELDS:
            return f"Invalid JSON payload received. Unknown name {name!r} at 'generation_config'"
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified"
    calls: list[str] = []
    for i, content in enumerate(contents):
        if content.get("role") not in ("user", "model"):
            return f"contents[{i}].role must be 'user' or 'model'"
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            return (
                f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
            )
        for j, part in enumerate(parts):
            problem = _check_part(part, f"contents[{i}].parts[{j}]")
            if problem:
                return problem
        answers = [p["functionResponse"]["name"] for p in parts if "functionResponse" in p]
        if answers and sorted(answers) != sorted(calls):
            return (
                "Please ensure that the number of function response parts is equal to the "
                "number of function call parts of the function call turn."
            )
        calls = [p["functionCall"]["name"] for p in parts if "functionCall" in p]
    system = body.get("systemInstruction")
    if system is not None and not all("text" in p for p in system.get("parts", [])):
        return "systemInstruction: only text parts"
    return None


class FakeGemini(RecordingServer):
    """See the module doc. ``base_url`` is a ``gemini/`` deployment's ``api_base``;
    ``root_url`` the host a Vertex deployment's ``api_base`` starts with."""

    def __init__(
        self,
        *,
        api_key: str = "gemini-test-key",
        token_ok: Callable[[str], bool] = bool,
        reply_text: str = REPLY,
    ) -> None:
        super().__init__("127.0.0.1", 0, startup_timeout=5.0)
        self.api_key = api_key
        self.token_ok = token_ok
        self.reply_text = reply_text

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1beta"

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_route("*", "/{tail:.*}", self._dispatch)

    def _json(self, request: web.Request) -> Any:
        with self.lock:
            return self.requests[request_index(request)].json

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path, _, method = request.path.rpartition(":")
        segments = path.strip("/").split("/")
        if request.method != "POST" or not method:
            return _error(404, f"Not found: {request.method} {request.path}")
        if segments[:2] == ["v1beta", "models"] and len(segments) == 3:
            key = request.headers.get("x-goog-api-key")
            if not key:
                return _error(403, "Method doesn't allow unregistered callers.")
            if key != self.api_key:
                return _error(
                    400, "API key not valid. Please pass a valid API key.", "API_KEY_INVALID"
                )
            return await self._google(request, segments[2], method)
        if (
            len(segments) == 9
            and segments[0] == "v1"
            and segments[1] == "projects"
            and segments[3] == "locations"
            and segments[5] == "publishers"
            and segments[7] == "models"
        ):
            auth = request.headers.get("authorization", "")
            token = auth.removeprefix("Bearer ")
            if not auth.startswith("Bearer ") or not self.token_ok(token):
                return _error(401, "Request had invalid authentication credentials.")
            if segments[6] == "anthropic":
                return await self._claude(request, segments[8], method)
            if segments[6] == "google":
                return await self._google(request, segments[8], method, vertex=True)
        return _error(404, f"Not found: {request.method} {request.path}")

    async def _google(
        self, request: web.Request, model: str, method: str, *, vertex: bool = False
    ) -> web.StreamResponse:
        body = self._json(request)
        if method == "batchEmbedContents" and not vertex:
            return self._embed(body, model)
        if method == "predict" and vertex:
            return self._predict(body)
        if method not in ("generateContent", "streamGenerateContent"):
            return _error(404, f"Method {method} not found")
        problem = check_gemini(body)
        if problem is not None:
            return _error(400, problem)
        if model.startswith("error-"):
            return _error(int(model.removeprefix("error-")))
        full = self._answer(model, body, request_index(request))
        if method == "generateContent":
            return web.json_response(full)
        if request.query.get("alt") != "sse":
            return _error(400, "The fake only streams Server-Sent Events: add ?alt=sse")
        return await self._stream(request, model, full)

    def _answer(self, model: str, body: dict[str, Any], index: int) -> dict[str, Any]:
        contents = body["contents"]
        last = contents[-1]
        responses = [p["functionResponse"] for p in last["parts"] if "functionResponse" in p]
        declarations = [
            d for t in body.get("tools") or [] for d in t.get("functionDeclarations", [])
        ]
        calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
        config = body.get("generationConfig") or {}
        media = sum(1 for p in last["parts"] if "inlineData" in p or "fileData" in p)
        parts: list[dict[str, Any]] = []
        finish = "STOP"
        if responses:
            text = f"The tool said: {json.dumps(responses[0]['response'])}"
        elif declarations and calling.get("mode", "AUTO") != "NONE" and last["role"] == "user":
            allowed = calling.get("allowedFunctionNames") or [declarations[0]["name"]]
            signature = "c2lnbmF0dXJl" if model.startswith("gemini-3") else None
            text = "Let me check."
            parts.append(function_call_part(allowed[0], TOOL_ARGS, signature))
        elif config.get("responseMimeType") == "application/json":
            text = json.dumps({"answer": self.reply_text})
        else:
            text = self.reply_text + (f" I see {media} images." if media else "")
        words = text.split(" ")
        limit = config.get("maxOutputTokens")
        if model == "safety":
            words, parts, finish = words[:2], [], "SAFETY"
        elif limit is not None and len(words) > limit:
            words, parts, finish = words[:limit], [], "MAX_TOKENS"
        parts.insert(0, text_part(" ".join(words)))
        thoughts = 0
        if (config.get("thinkingConfig") or {}).get("includeThoughts"):
            parts.insert(0, text_part("Thinking about it.", thought=True))
            thoughts = 3
        prompt = words_in(contents) + words_in(body.get("systemInstruction"))
        n = config.get("candidateCount") or 1
        candidates = [candidate(parts, finish, i) for i in range(n)]
        output = n * len(words) + (8 if len(parts) > 1 + bool(thoughts) else 0)
        use = usage_metadata(
            prompt, output, cached=5 if model == "cached" else 0, thoughts=thoughts
        )
        if model == "blocked":
            return reply([], use, f"fake-{index}", {"blockReason": "SAFETY"})
        return reply(candidates, use, f"fake-{index}")

    async def _stream(
        self, request: web.Request, model: str, full: dict[str, Any]
    ) -> web.StreamResponse:
        events = [sse(e) for e in stream_events(full)]
        if model == "stream-error":
            events = [events[0], sse(error_body(503, "The model is overloaded."))]
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for i, data in enumerate(events):
            if model == "stream-cut" and i == 1:
                transport = request.transport
                if transport is not None:
                    transport.close()
                return response
            if not await self._send(request, response, data, content=True):
                return response
        return await self._finish(request, response)

    def _embed(self, body: Any, model: str) -> web.Response:
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            return _error(400, "requests is required")
        out = []
        for item in requests:
            if item.get("model") != f"models/{model}":
                return _error(400, "the model of each request must be the model of the URL")
            text = " ".join(p.get("text", "") for p in item["content"]["parts"])
            out.append({"values": fake_embedding(text, item.get("outputDimensionality") or 8)})
        return web.json_response({"embeddings": out})

    def _predict(self, body: Any) -> web.Response:
        instances = body.get("instances") if isinstance(body, dict) else None
        if not isinstance(instances, list) or not instances:
            return _error(400, "instances is required")
        dim = (body.get("parameters") or {}).get("outputDimensionality") or 8
        predictions = [
            {
                "embeddings": {
                    "values": fake_embedding(i["content"], dim),
                    "statistics": {"token_count": len(i["content"].split()), "truncated": False},
                }
            }
            for i in instances
        ]
        return web.json_response({"predictions": predictions, "metadata": {}})

    async def _claude(self, request: web.Request, model: str, method: str) -> web.StreamResponse:
        body = self._json(request)
        if method not in ("rawPredict", "streamRawPredict"):
            return _error(404, f"Method {method} not found")
        if not isinstance(body, dict):
            return _error(400, "The request body is not valid JSON.")
        if body.get("anthropic_version") != "vertex-2023-10-16":
            return _error(400, "anthropic_version: must be vertex-2023-10-16")
        for name in body:
            if name not in _CLAUDE_FIELDS:
                return _error(400, f"{name}: Extra inputs are not permitted")
        if "max_tokens" not in body or not body.get("messages"):
            return _error(400, "max_tokens and messages are required")
        stream = body.get("stream") is True
        if stream != (method == "streamRawPredict"):
            return _error(400, f"stream={stream} does not go to :{method}")
        prompt = sum(
            len(m["content"].split()) if isinstance(m["content"], str) else words_in(m["content"])
            for m in body["messages"]
        )
        msg = message(
            f"msg_vrtx_{request_index(request)}",
            model,
            [text_block(CLAUDE_REPLY)],
            "end_turn",
            usage(prompt, len(CLAUDE_REPLY.split())),
        )
        if not stream:
            return web.json_response(msg)
        words = CLAUDE_REPLY.split(" ")
        pieces = [[w if i == 0 else " " + w for i, w in enumerate(words)]]
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for data in anthropic_events(msg, pieces):
            if not await self._send(request, response, data, content=True):
                return response
        return await self._finish(request, response)
