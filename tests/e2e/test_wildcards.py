"""Wildcard entries, unconfigured deployments, ``model_info.mode`` and ``azure_ai/`` through
a real ``pllm serve``, driven with the openai SDK against the fake OpenAI upstream (which
records what it receives: path, query, headers, body)."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.e2e.gateway import GatewayProcess, deployment, gateway_fixtures
from tests.fakes.openai_upstream import DEFAULT_REPLY, FakeOpenAI

MASTER = "sk-master-SECRET-wild"
OPENAI_KEY = "sk-openai-SECRET-wild"
CATCH_ALL_KEY = "sk-catchall-SECRET-wild"
FOUNDRY_KEY = "foundry-SECRET-wild"
UNSET = "PLLM_E2E_WILDCARD_UNSET_KEY"


def config(up: FakeOpenAI) -> str:
    base = up.base_url
    unset = f"os.environ/{UNSET}"
    models: list[dict[str, Any]] = [
        deployment("gpt-4o", "openai/explicit-upstream", api_base=base, api_key=OPENAI_KEY),
        deployment("openai/*", "openai/*", api_base=base, api_key=OPENAI_KEY),
        deployment(
            "*",
            "openai/*",
            api_base=base,
            api_key=CATCH_ALL_KEY,
            extra_headers={"x-route": "catch-all"},
        ),
        deployment("anthropic/*", "anthropic/*", api_key=unset),
        deployment("claude-unset", "anthropic/claude-sonnet-4-5", api_key=unset),
        deployment("mixed", "anthropic/claude-sonnet-4-5", api_key=unset),
        deployment("mixed", "openai/mixed-upstream", api_base=base, api_key=OPENAI_KEY),
        deployment(
            "foundry",
            "azure_ai/mistral-large",
            api_base=base,
            api_key=FOUNDRY_KEY,
            api_version="2024-05-01-preview",
        ),
        {
            **deployment("embed-only", "openai/text-embedding-fake", api_base=base, api_key="k"),
            "model_info": {"mode": "embedding"},
        },
    ]
    return json.dumps({"model_list": models, "general_settings": {"master_key": MASTER}})


gateway, client = gateway_fixtures(config, MASTER)


def ask(client: openai.OpenAI, model: str) -> str | None:
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}]
    )
    return reply.choices[0].message.content


@pytest.mark.parametrize("name", ["openai/gpt-4.1", "gpt-4.1"])
def test_a_provider_wildcard_sends_the_requested_name(
    client: openai.OpenAI, upstream: FakeOpenAI, name: str
) -> None:
    assert ask(client, name) == DEFAULT_REPLY
    sent = upstream.last_request
    assert (sent.path, sent.json["model"]) == ("/v1/chat/completions", "gpt-4.1")
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert "x-route" not in sent.headers  # openai/* is more specific than *


def test_the_catch_all_serves_any_other_name(client: openai.OpenAI, upstream: FakeOpenAI) -> None:
    assert ask(client, "my-local-model") == DEFAULT_REPLY
    sent = upstream.last_request
    assert sent.json["model"] == "my-local-model"
    assert sent.headers["authorization"] == f"Bearer {CATCH_ALL_KEY}"
    assert sent.headers["x-route"] == "catch-all"


def test_an_explicit_entry_wins_over_a_wildcard(
    client: openai.OpenAI, upstream: FakeOpenAI
) -> None:
    ask(client, "gpt-4o")
    assert upstream.last_request.json["model"] == "explicit-upstream"


def test_a_wildcard_served_name_streams_and_is_priced_as_itself(
    client: openai.OpenAI, upstream: FakeOpenAI
) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == DEFAULT_REPLY
    assert chunks[-1].usage is not None and upstream.last_request.json["model"] == "gpt-4o-mini"
    raw = client.chat.completions.with_raw_response.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert float(raw.headers["x-pllm-cost"]) > 0  # the table's gpt-4o-mini price
    assert "x-pllm-model" not in raw.headers  # no fallback happened


def test_models_lists_explicit_models_and_one_entry_per_wildcard(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == ["gpt-4o", "mixed", "foundry", "embed-only", "openai/*", "*"]
    assert client.models.retrieve("gpt-4.1").id == "gpt-4.1"  # a name a wildcard serves
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("claude-unset")


@pytest.mark.parametrize("name", ["claude-unset", "anthropic/claude-3-haiku"])
def test_a_model_with_no_configured_deployment_is_503(client: openai.OpenAI, name: str) -> None:
    with pytest.raises(openai.APIStatusError) as e:
        ask(client, name)
    assert e.value.status_code == 503
    body = e.value.body
    assert isinstance(body, dict) and body["code"] == "deployment_unconfigured"
    assert body["type"] == "api_error" and UNSET not in body["message"]


def test_a_group_serves_from_its_configured_deployments_only(
    client: openai.OpenAI, upstream: FakeOpenAI
) -> None:
    for _ in range(4):
        assert ask(client, "mixed") == DEFAULT_REPLY
    assert [r.json["model"] for r in upstream.requests] == ["mixed-upstream"] * 4


def test_the_unset_variable_is_named_in_the_startup_log(gateway: GatewayProcess) -> None:
    logs = gateway.logs()
    assert f"{UNSET} is not set: claude-unset is not configured" in logs
    assert OPENAI_KEY not in logs and FOUNDRY_KEY not in logs


@pytest.mark.parametrize("name", ["../../etc/passwd", "gpt 4", "openai/*"])
def test_names_a_wildcard_cannot_carry_are_404(client: openai.OpenAI, name: str) -> None:
    with pytest.raises(openai.NotFoundError) as e:
        ask(client, name)
    assert e.value.code == "model_not_found"


def test_azure_ai_chat_with_version_and_key(client: openai.OpenAI, upstream: FakeOpenAI) -> None:
    assert ask(client, "foundry") == DEFAULT_REPLY
    sent = upstream.last_request
    assert (sent.path, sent.query) == (
        "/v1/chat/completions",
        {"api-version": "2024-05-01-preview"},
    )
    # A serverless endpoint (not *.services.ai.azure.com) takes the key as a bearer token.
    assert sent.headers["authorization"] == f"Bearer {FOUNDRY_KEY}"
    assert sent.json["model"] == "mistral-large"


def test_mode_embedding_serves_embeddings_only(client: openai.OpenAI) -> None:
    assert len(client.embeddings.create(model="embed-only", input="x").data) == 1
    with pytest.raises(openai.BadRequestError) as e:
        ask(client, "embed-only")
    assert e.value.code == "unsupported_endpoint"
