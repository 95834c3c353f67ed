"""The ``bedrock/`` codec from config to signed request: URLs (model ids URL-encoded, LiteLLM's
``converse/`` route, ``aws_bedrock_runtime_endpoint``), credentials and region from
``litellm_params`` or the ``AWS_*`` variables, SigV4 signatures checked by an independent
implementation, embedding models as a codec of their own, and botocore loaded only by
deployments that sign."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pllm.config import ConfigError, load_settings
from pllm.providers.bedrock.codec import BedrockCodec, BedrockEmbeddingsCodec, model_id
from pllm.providers.bedrock.signing import AwsCredentials, SignedTargets, Signer
from pllm.providers.codec import Deployment, Endpoint, HttpTarget
from pllm.providers.registry import build_deployments
from tests.fakes.bedrock_wire import verify_sigv4

KEY, SECRET, TOKEN = "AKIDTEST", "s3cr3t/KEY", "session-token"


def deploy(tmp_path: Path, params: str, env: dict[str, str]) -> Deployment:
    p = tmp_path / "c.yaml"
    p.write_text(f"model_list:\n  - model_name: b\n    litellm_params:\n{params}")
    [dep] = build_deployments(load_settings(p, env), env)
    assert dep.provider_name == "bedrock"
    assert isinstance(dep.target, HttpTarget)
    return dep


CREDS = f"      aws_access_key_id: {KEY}\n      aws_secret_access_key: {SECRET}\n"


def test_urls_encode_the_model_id(tmp_path: Path) -> None:
    params = "      model: bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0\n" + CREDS
    dep = deploy(tmp_path, params + "      aws_region_name: eu-west-1\n", {})
    assert isinstance(dep.codec, BedrockCodec)
    assert dep.endpoints == {Endpoint.CHAT, Endpoint.MESSAGES}
    t = dep.target
    assert isinstance(t, HttpTarget) and isinstance(t.resolve, SignedTargets)
    base = "https://bedrock-runtime.eu-west-1.amazonaws.com/model/"
    assert t.urls[Endpoint.CHAT] == base + "anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0"
    dep = deploy(tmp_path, f"      model: bedrock/converse/{arn}\n" + CREDS, {})
    t = dep.target
    assert isinstance(t, HttpTarget)
    assert t.urls[Endpoint.CHAT] == (
        "https://bedrock-runtime.us-west-2.amazonaws.com/model/arn%3Aaws%3Abedrock%3Aus-east-1"
        "%3A123456789012%3Ainference-profile%2Fus.amazon.nova-pro-v1%3A0/converse"
    )
    assert model_id("converse/us.amazon.nova-pro-v1:0") == "us.amazon.nova-pro-v1:0"
    assert model_id("invoke/meta.llama3-70b") == "meta.llama3-70b"


def test_endpoint_region_and_credentials_from_the_environment(tmp_path: Path) -> None:
    env = {
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": TOKEN,
        "AWS_DEFAULT_REGION": "ap-south-1",
    }
    dep = deploy(tmp_path, "      model: bedrock/amazon.nova-lite-v1:0\n", env)
    t = dep.target
    assert isinstance(t, HttpTarget)
    assert t.urls[Endpoint.CHAT].startswith("https://bedrock-runtime.ap-south-1.amazonaws.com/")
    params = "      model: bedrock/m\n      aws_bedrock_runtime_endpoint: http://127.0.0.1:9/\n"
    t = deploy(tmp_path, params, {**env, "AWS_REGION": "us-east-2"}).target
    assert (
        isinstance(t, HttpTarget) and t.urls[Endpoint.CHAT] == "http://127.0.0.1:9/model/m/converse"
    )


def test_missing_credentials_are_a_config_problem_naming_the_settings(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("model_list:\n  - model_name: b\n    litellm_params:\n      model: bedrock/m\n")
    try:
        deps = build_deployments(load_settings(p, {}), {})
    except ConfigError as e:
        assert "AWS_ACCESS_KEY_ID" in str(e)
    else:
        # Or served as unconfigured, where the config keeps the rest serving.
        [dep] = deps
        assert "AWS_ACCESS_KEY_ID" in repr(dep.target)


def test_a_bedrock_api_key_is_a_bearer_token(tmp_path: Path) -> None:
    dep = deploy(tmp_path, "      model: bedrock/m\n", {"AWS_BEARER_TOKEN_BEDROCK": "bk-1"})
    t = dep.target
    assert isinstance(t, HttpTarget) and not isinstance(t.resolve, SignedTargets)
    assert ("authorization", "Bearer bk-1") in t.headers


def test_embedding_models_are_a_codec_of_their_own(tmp_path: Path) -> None:
    for model in ("amazon.titan-embed-text-v2:0", "cohere.embed-multilingual-v3"):
        dep = deploy(tmp_path, f"      model: bedrock/{model}\n" + CREDS, {})
        assert isinstance(dep.codec, BedrockEmbeddingsCodec)
        assert dep.endpoints == {Endpoint.EMBEDDINGS}
        t = dep.target
        assert isinstance(t, HttpTarget) and t.urls[Endpoint.EMBEDDINGS].endswith("/invoke")


@pytest.mark.parametrize("token", [None, TOKEN])
def test_signatures_verify_with_an_independent_implementation(token: str | None) -> None:
    signer = Signer(AwsCredentials(KEY, SECRET, token), "us-east-1")
    url = "http://127.0.0.1:8080/model/anthropic.claude-v2%3A1/converse-stream"
    body = b'{"messages":[]}'
    headers = dict(signer.sign(url, body, [("content-type", "application/json")]))
    assert headers["content-type"] == "application/json"
    assert ("x-amz-security-token" in headers) == (token is not None)
    headers["host"] = "127.0.0.1:8080"
    check: dict[str, Any] = {
        "method": "POST",
        "raw_path": "/model/anthropic.claude-v2%3A1/converse-stream",
        "headers": headers,
        "body": body,
        "secrets": {KEY: SECRET},
        "region": "us-east-1",
        "session_tokens": {KEY: token} if token else None,
    }
    assert verify_sigv4(**check) is None
    for wrong in ({"body": b"{}"}, {"secrets": {KEY: "other"}}, {"region": "eu-west-1"}):
        assert verify_sigv4(**{**check, **wrong}) is not None
    # The secret is in no repr.
    assert SECRET not in repr(signer) and SECRET not in repr(AwsCredentials(KEY, SECRET, token))


def test_each_request_is_signed_at_its_own_url(tmp_path: Path) -> None:
    dep = deploy(tmp_path, "      model: bedrock/meta.llama3-70b-instruct-v1:0\n" + CREDS, {})
    payload = {"model": "b", "messages": [{"role": "user", "content": "hi"}]}
    plain = dep.codec.encode(dep, Endpoint.CHAT, payload, stream=False, usage_chunk=False)
    streamed = dep.codec.encode(dep, Endpoint.CHAT, payload, stream=True, usage_chunk=True)
    assert plain.relay == "none" and streamed.relay == "eventstream"
    assert json.loads(plain.body) == {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}
    t = dep.target
    assert isinstance(t, HttpTarget) and isinstance(t.resolve, SignedTargets)
    assert t.resolve.url(plain).endswith("%3A0/converse")
    assert t.resolve.url(streamed).endswith("%3A0/converse-stream")
    assert asyncio.run(t.resolve(plain)) is not asyncio.run(t.resolve(plain))


def test_deployments_without_bedrock_never_load_botocore(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/gpt-4o\n"
        "      api_key: k\n"
    )
    code = (
        "import sys\n"
        "from pllm.config import load_settings\n"
        "from pllm.providers.registry import build_deployments\n"
        f"build_deployments(load_settings({str(p)!r}, {{}}), {{}})\n"
        "assert 'botocore' not in sys.modules, 'botocore was loaded'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
