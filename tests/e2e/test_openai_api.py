"""The gateway in a real Granian process, driven by the official openai SDK, against a fake
upstream that speaks OpenAI's wire format."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from typing import Any

import openai
import pytest

from tests.e2e.gateway import GatewayProcess, deployment, free_port, gateway_fixtures
from tests.fakes.openai_upstream import DEFAULT_REPLY, FakeOpenAI, fake_embedding

MASTER = "sk-master-SECRET-7f3a"
UPSTREAM_KEY = "sk-upstream-SECRET-91bc"
AZURE_KEY = "azure-SECRET-55de"
PROMPT = "PROMPT-TEXT-that-must-never-be-logged"


def config(up: FakeOpenAI) -> str:
    base, root, dead = up.base_url, up.root_url, f"http://127.0.0.1:{free_port()}/v1"

    def entry(name: str, model: str, **extra: Any) -> dict[str, Any]:
        params = {"api_base": base, "api_key": UPSTREAM_KEY, **extra}  # None: not set
        return deployment(name, model, **{k: v for k, v in params.items() if v is not None})

    models = [
        entry("gpt-test", "openai/upstream-gpt"),
        entry("rr", "openai/rr-a"),
        entry("rr", "openai/rr-b"),
        entry("limited", "openai/error-429"),
        entry("rejects", "openai/error-400"),
        entry("broken", "openai/text-error-500"),
        entry("down", "openai/anything", api_base=dead),
        entry("silent", "openai/hang", timeout=0.5),
        entry("embed", "openai/text-embedding-fake"),
        entry("vllm-model", "hosted_vllm/meta-llama", api_key=None),
        deployment(
            "azure-gpt",
            "azure/my-deployment",
            api_base=root,
            api_key=AZURE_KEY,
            api_version="2024-10-21",
        ),
        deployment("mock", "mock/m", mock_reply_tokens=5),
    ]
    cfg = {
        "model_list": models,
        "general_settings": {"master_key": MASTER, "max_request_body_bytes": 65536},
    }
    return json.dumps(cfg)  # JSON is YAML


gateway, client = gateway_fixtures(config, MASTER)


def raw(
    gateway: GatewayProcess,
    path: str,
    body: bytes | None = None,
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    hdrs = {"authorization": f"Bearer {MASTER}", "content-type": "application/json"}
    hdrs.update(headers or {})
    req = urllib.request.Request(gateway.url + path, data=body, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def error_of(body: bytes) -> dict[str, Any]:
    err = json.loads(body)["error"]
    assert set(err) >= {"message", "type", "param", "code"}
    return dict(err)


def messages() -> list[Any]:
    return [{"role": "user", "content": PROMPT}]


# --- success paths ---------------------------------------------------------------------------


def test_chat_completion_through_the_sdk(client: openai.OpenAI, upstream: FakeOpenAI) -> None:
    resp = client.chat.completions.with_raw_response.create(model="gpt-test", messages=messages())
    completion = resp.parse()
    assert completion.choices[0].message.content == DEFAULT_REPLY
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    sent = upstream.last_request
    assert sent.path == "/v1/chat/completions"
    assert sent.json["model"] == "upstream-gpt"
    assert sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    # The gateway's request id reaches the upstream and the client.
    assert sent.headers["x-request-id"] == resp.headers["x-request-id"]


def test_unknown_fields_pass_through_and_only_model_is_rewritten(
    client: openai.OpenAI, upstream: FakeOpenAI
) -> None:
    extra = {
        "logprobs": True,
        "top_logprobs": 2,
        "parallel_tool_calls": False,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        "some_future_field": {"nested": [1, 2.5, None, "x"]},
    }
    client.chat.completions.create(model="gpt-test", messages=messages(), extra_body=extra)
    sent = upstream.last_request.json
    assert sent == {"model": "upstream-gpt", "messages": messages(), **extra}


def test_deployments_of_one_model_rotate(client: openai.OpenAI, upstream: FakeOpenAI) -> None:
    for _ in range(4):
        client.chat.completions.create(model="rr", messages=messages())
    assert [r.json["model"] for r in upstream.requests] == ["rr-a", "rr-b", "rr-a", "rr-b"]


def test_stream_without_usage_request_gets_no_usage_chunk(
    client: openai.OpenAI, upstream: FakeOpenAI, gateway: GatewayProcess
) -> None:
    chunks = list(
        client.chat.completions.create(model="gpt-test", messages=messages(), stream=True)
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == DEFAULT_REPLY
    assert all(c.choices for c in chunks), "the usage-only chunk must be stripped"
    # ...but the gateway asked for it, and captured the usage.
    assert upstream.last_request.json["stream_options"] == {"include_usage": True}
    rid = upstream.last_request.headers["x-request-id"]
    line = gateway.access_line(rid)
    assert line["stream"] is True and line["completion_tokens"] > 0


def test_stream_with_usage_request_keeps_the_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-test",
            messages=messages(),
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens > 0


def test_embeddings_base64_and_float(client: openai.OpenAI, upstream: FakeOpenAI) -> None:
    res = client.embeddings.create(model="embed", input=["alpha", "beta"])
    assert [d.embedding for d in res.data] == [fake_embedding("alpha"), fake_embedding("beta")]
    assert upstream.last_request.json["encoding_format"] == "base64"
    res = client.embeddings.create(model="embed", input="alpha", encoding_format="float")
    assert res.data[0].embedding == fake_embedding("alpha")


def test_legacy_completions(client: openai.OpenAI) -> None:
    res = client.completions.create(model="gpt-test", prompt="Say hi")
    assert res.choices[0].text == DEFAULT_REPLY
    streamed = client.completions.create(model="gpt-test", prompt="Say hi", stream=True)
    assert "".join(c.choices[0].text for c in streamed if c.choices) == DEFAULT_REPLY


def test_models_list_and_retrieve(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids[:3] == ["gpt-test", "rr", "limited"] and "mock" in ids
    assert client.models.retrieve("gpt-test").id == "gpt-test"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_azure_deployment_url_version_and_key(client: openai.OpenAI, upstream: FakeOpenAI) -> None:
    client.chat.completions.create(model="azure-gpt", messages=messages())
    sent = upstream.last_request
    assert sent.path == "/openai/deployments/my-deployment/chat/completions"
    assert sent.query == {"api-version": "2024-10-21"}
    assert sent.headers["api-key"] == AZURE_KEY
    assert "authorization" not in sent.headers


def test_openai_compatible_row_without_key(client: openai.OpenAI, upstream: FakeOpenAI) -> None:
    client.chat.completions.create(model="vllm-model", messages=messages())
    assert upstream.last_request.json["model"] == "meta-llama"
    assert "authorization" not in upstream.last_request.headers


def test_mock_model_in_process(client: openai.OpenAI) -> None:
    res = client.chat.completions.create(model="mock", messages=messages())
    assert res.usage is not None and res.usage.completion_tokens == 5
    streamed = list(client.chat.completions.create(model="mock", messages=messages(), stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert text == res.choices[0].message.content


def test_request_id_is_kept_or_generated(gateway: GatewayProcess) -> None:
    status, headers, _ = raw(gateway, "/v1/models", method="GET", headers={"x-request-id": "abc-1"})
    assert status == 200 and headers["x-request-id"] == "abc-1"
    _, headers, _ = raw(gateway, "/v1/models", method="GET")
    assert headers["x-request-id"].startswith("req_")


def test_health_and_ready_need_no_key(gateway: GatewayProcess) -> None:
    for path in ("/health", "/ready"):
        status, _, _ = raw(gateway, path, method="GET", headers={"authorization": ""})
        assert status == 200


# --- errors ----------------------------------------------------------------------------------


def test_401_without_or_with_a_wrong_key(gateway: GatewayProcess) -> None:
    with (
        openai.OpenAI(base_url=gateway.base_url, api_key="sk-wrong", max_retries=0) as bad,
        pytest.raises(openai.AuthenticationError) as e,
    ):
        bad.chat.completions.create(model="gpt-test", messages=messages())
    assert e.value.code == "invalid_api_key"
    body = json.dumps({"model": "gpt-test", "messages": messages()}).encode()
    status, _, resp = raw(gateway, "/v1/chat/completions", body, headers={"authorization": ""})
    assert status == 401 and error_of(resp)["code"] == "missing_api_key"
    status, _, _ = raw(
        gateway, "/v1/models", method="GET", headers={"authorization": "", "x-api-key": MASTER}
    )
    assert status == 200


def test_404_unknown_model(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="nope", messages=messages())
    assert e.value.code == "model_not_found"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (b'{"messages": [{"role": "user", "content": "x"}]}', "model"),
        (b'{"model": 5, "messages": []}', "model"),
        (b'{"model": "gpt-test", "messages": "hello"}', "messages"),
        (b'{"model": "gpt-test", "messages": []}', "messages"),
        (b'{"model": "gpt-test", "messages": [{"role": "user"}], "stream": "yes"}', "stream"),
        (
            b'{"model": "gpt-test", "messages": [{"role": "user"}], "max_tokens": "10"}',
            "max_tokens",
        ),
        (
            b'{"model": "gpt-test", "messages": [{"role": "user"}], "temperature": "hot"}',
            "temperature",
        ),
    ],
)
def test_400_bad_requests(gateway: GatewayProcess, body: bytes, param: str | None) -> None:
    status, _, resp = raw(gateway, "/v1/chat/completions", body)
    assert status == 400
    err = error_of(resp)
    assert err["type"] == "invalid_request_error" and err["param"] == param


def test_413_body_over_the_cap(gateway: GatewayProcess) -> None:
    big = json.dumps({"model": "gpt-test", "messages": [{"role": "user", "content": "x" * 70000}]})
    status, _, resp = raw(gateway, "/v1/chat/completions", big.encode())
    assert status == 413 and error_of(resp)["code"] == "request_too_large"


def test_413_is_answered_before_the_body_is_sent(gateway: GatewayProcess) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as s:
        head = (
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
            f"authorization: Bearer {MASTER}\r\ncontent-type: application/json\r\n"
            "content-length: 50000000\r\n\r\n"
        )
        s.sendall(head.encode() + b'{"model": "gpt-test"')
        reply = s.recv(65536)
    assert reply.startswith(b"HTTP/1.1 413")


def test_429_passes_through_with_retry_after(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="limited", messages=messages())
    assert e.value.response.headers["retry-after"] == "7"
    assert e.value.response.headers["x-ratelimit-remaining-requests"] == "0"


def test_provider_400_passes_through_with_its_message(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="rejects", messages=messages())
    assert "fake upstream rejected the request" in e.value.message


def test_provider_non_json_error_is_wrapped(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model="broken", messages=messages())
    assert e.value.status_code == 500 and "upstream exploded" in e.value.message


def test_502_when_the_upstream_is_unreachable(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as e:
        client.chat.completions.create(model="down", messages=messages())
    assert e.value.status_code == 502 and e.value.code == "upstream_unreachable"


def test_504_when_the_upstream_is_silent(client: openai.OpenAI) -> None:
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as e:
        client.chat.completions.create(model="silent", messages=messages())
    assert e.value.status_code == 504 and e.value.code == "upstream_timeout"
    assert 0.5 <= time.monotonic() - started < 2.0


def test_unknown_path_and_wrong_method(gateway: GatewayProcess) -> None:
    status, _, body = raw(gateway, "/v1/nothing-here", b"{}")
    assert status == 404 and error_of(body)["code"] == "unknown_url"
    status, headers, body = raw(gateway, "/v1/chat/completions", method="GET")
    assert status == 405 and headers["allow"] == "POST"


def test_logs_hold_no_prompt_and_no_secret(gateway: GatewayProcess, client: openai.OpenAI) -> None:
    client.chat.completions.create(model="gpt-test", messages=messages())
    list(client.chat.completions.create(model="gpt-test", messages=messages(), stream=True))
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(model="rejects", messages=messages())
    time.sleep(0.2)
    logs = gateway.logs()
    assert '"pllm.access"' in logs
    for secret in (PROMPT, MASTER, UPSTREAM_KEY, AZURE_KEY, "Bearer"):
        assert secret not in logs
