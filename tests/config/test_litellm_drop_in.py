"""LiteLLM configs load unchanged: entry-level rpm/tpm, model_info, bare model names,
wildcard entries, LiteLLM keys pllm ignores (a note) versus near misses of pllm's (an error),
unset credential variables (a warning), modes pllm has no endpoint for (a warning)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pllm.config import ConfigError, Settings, load_settings


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Settings:
    p = tmp_path / "config.yaml"
    p.write_text(text)
    return load_settings(p, env or {})


def errors(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load(tmp_path, text, env)
    return [f"{p.path}: {p.reason}" for p in e.value.problems]


def warnings(s: Settings) -> list[str]:
    return [f"{w.path}: {w.reason}" for w in s.warnings]


def test_rpm_tpm_and_weight_on_the_entry_or_in_litellm_params(tmp_path: Path) -> None:
    s = load(
        tmp_path,
        """
model_list:
  - model_name: a
    litellm_params: {model: mock/a, rpm: 5, weight: 3}
    rpm: 9
    tpm: 1000
  - model_name: b
    litellm_params: {model: mock/b}
    rpm: 7
    weight: 2
""",
    )
    a, b = s.deployments
    assert (a.rpm, a.tpm, a.weight) == (5, 1000, 3.0), "litellm_params wins over the entry"
    assert (b.rpm, b.tpm, b.weight) == (7, None, 2.0)


def test_model_info_is_read_where_pllm_uses_it_and_kept(tmp_path: Path) -> None:
    s = load(
        tmp_path,
        """
model_list:
  - model_name: embed
    litellm_params: {model: azure/azure-embedding-model, api_base: 'https://r.openai.azure.com'}
    model_info:
      mode: embedding
      base_model: azure/text-embedding-ada-002
      input_cost_per_token: 0.000001
      output_cost_per_token: 0.000002
      id: abc
      supports_vision: false
  - model_name: priced-in-params
    litellm_params: {model: mock/m, input_cost_per_token: 0.5}
    model_info: {input_cost_per_token: 0.25, output_cost_per_token: 0.75}
""",
    )
    embed, priced = s.deployments
    assert (embed.mode, embed.base_model) == ("embedding", "text-embedding-ada-002")
    assert (embed.input_cost_per_token, embed.output_cost_per_token) == (0.000001, 0.000002)
    assert embed.model_info["id"] == "abc" and embed.model_info["supports_vision"] is False
    assert (priced.input_cost_per_token, priced.output_cost_per_token) == (0.5, 0.75)


def test_a_mode_pllm_has_no_endpoint_for_skips_the_entry_with_a_warning(tmp_path: Path) -> None:
    s = load(
        tmp_path,
        """
model_list:
  - {model_name: m, litellm_params: {model: mock/m}}
  - model_name: dall-e-2
    litellm_params: {model: 'azure/', api_key: os.environ/UNSET}
    model_info: {mode: image_generation}
""",
    )
    assert [d.model_name for d in s.deployments] == ["m"]
    assert warnings(s) == [
        "model_list[1].model_info.mode: pllm serves no endpoint for mode 'image_generation' "
        "(it serves chat, completion, responses, embedding): dall-e-2 is skipped"
    ]


@pytest.mark.parametrize(
    ("model", "provider", "upstream"),
    [
        ("gpt-4o", "openai", "gpt-4o"),
        ("gpt-3.5-turbo-1106", "openai", "gpt-3.5-turbo-1106"),
        ("gpt-4o-2024-08-06", "openai", "gpt-4o-2024-08-06"),  # a snapshot of a listed model
        ("o1-preview", "openai", "o1-preview"),
        ("text-embedding-3-small", "openai", "text-embedding-3-small"),
        ("claude-3-5-sonnet-20240620", "anthropic", "claude-3-5-sonnet-20240620"),
        ("gemini-2.5-pro", "vertex_ai", "gemini-2.5-pro"),  # LiteLLM's choice, too
        ("mistral-large-latest", "mistral", "mistral-large-latest"),
        (
            "anthropic.claude-3-sonnet-20240229-v1:0",
            "bedrock",
            "anthropic.claude-3-sonnet-20240229-v1:0",
        ),
        ("us.amazon.nova-pro-v1:0", "bedrock", "us.amazon.nova-pro-v1:0"),
    ],
)
def test_a_bare_model_name_gets_its_provider_from_the_price_table(
    tmp_path: Path, model: str, provider: str, upstream: str
) -> None:
    s = load(tmp_path, f"model_list: [{{model_name: m, litellm_params: {{model: '{model}'}}}}]\n")
    (d,) = s.deployments
    assert (d.provider, d.upstream_model) == (provider, upstream)


def test_an_unknown_bare_name_is_an_error_naming_the_fix(tmp_path: Path) -> None:
    found = errors(tmp_path, "model_list: [{model_name: m, litellm_params: {model: my-llama}}]\n")
    assert found == [
        "model_list[0].litellm_params.model: 'my-llama' names no provider and is not a model "
        "pllm knows: write it as 'provider/model-name', e.g. 'openai/my-llama' or "
        "'hosted_vllm/my-llama'"
    ]


def test_wildcard_entries(tmp_path: Path) -> None:
    s = load(
        tmp_path,
        """
model_list:
  - {model_name: "*", litellm_params: {model: "openai/*"}}
  - {model_name: "anthropic/*", litellm_params: {model: "anthropic/*"}}
  - {model_name: "claude-*", litellm_params: {model: anthropic/claude-sonnet-4-5}}
""",
    )
    assert [(d.model_name, d.provider, d.upstream_model, d.wildcard) for d in s.deployments] == [
        ("*", "openai", "*", True),
        ("anthropic/*", "anthropic", "*", True),
        ("claude-*", "anthropic", "claude-sonnet-4-5", True),
    ]
    found = errors(
        tmp_path,
        """
model_list:
  - {model_name: fixed, litellm_params: {model: "openai/*"}}
  - {model_name: "a/*", litellm_params: {model: "openai/*-*"}}
  - {model_name: "x", litellm_params: {model: "*/gpt"}}
""",
    )
    assert found == [
        "model_list[0].litellm_params.model: has a '*' but model_name has none: a wildcard "
        "entry's model_name is a pattern too, e.g. model_name: 'openai/*' with model: 'openai/*'",
        "model_list[1].litellm_params.model: has more '*' than model_name has to fill them",
        "model_list[2].litellm_params.model: the provider cannot be a wildcard",
    ]


LITELLM_ONLY = """
model_list:
  - model_name: m
    litellm_params:
      model: mock/m
      max_retries: 4
      tags: [teamA]
      s3_access_key_id: os.environ/IGNORED_KEYS_NEED_NOT_BE_SET
      deployment_id: x
      some_vendor_thing: 1
    model_info: {id: abc, health_check_timeout: 1}
  - model_name: n
    litellm_params: {model: mock/n, max_retries: 2}
general_settings:
  master_key: sk-1234
  store_model_in_db: true
  use_redis_transaction_buffer: true
  coordination_redis: {host: os.environ/REDIS_HOST_NOT_SET}
  alerting: [slack]
  pass_through_endpoints: [{path: /x, target: os.environ/NOT_SET_EITHER}]
  something_of_my_own: 1
router_settings:
  routing_strategy: usage-based-routing-v2
  enable_tag_filtering: true
litellm_settings: {drop_params: true, cache: true, callbacks: [otel]}
mcp_servers: {zapier: {url: "https://mcp.zapier.com"}}
finetune_settings: [{custom_llm_provider: azure}]
files_settings: [{custom_llm_provider: openai}]
guardrails: []
environment_variables: {REDIS_HOST: localhost}
"""


def test_litellm_keys_pllm_does_not_use_are_one_note(tmp_path: Path) -> None:
    s = load(tmp_path, LITELLM_ONLY)
    assert s.warnings == () and s.general.master_key == "sk-1234"
    litellm = next(n for n in s.notes if n.startswith("ignored LiteLLM settings"))
    for key in (
        "mcp_servers",
        "finetune_settings",
        "files_settings",
        "guardrails",
        "model_list[0, 1].litellm_params.max_retries",
        "model_list[0].litellm_params.tags",
        "model_list[0].litellm_params.deployment_id",
        "general_settings.store_model_in_db",
        "general_settings.use_redis_transaction_buffer",
        "general_settings.coordination_redis",
        "general_settings.pass_through_endpoints",
        "router_settings.enable_tag_filtering",
        "litellm_settings.drop_params",
    ):
        assert key in litellm, key
    # The response cache is pllm's (pllm.config.cache): read, not ignored.
    assert "litellm_settings.cache" not in litellm and s.cache is not None
    unknown = next(n for n in s.notes if n.startswith("ignored keys"))
    assert "model_list[0].litellm_params.some_vendor_thing" in unknown
    assert "general_settings.something_of_my_own" in unknown
    assert any("environment_variables is not applied" in n for n in s.notes)


def test_a_near_miss_of_a_pllm_key_is_an_error(tmp_path: Path) -> None:
    found = errors(
        tmp_path,
        """
model_list:
  - model_name: m
    litellm_params: {model: mock/m, tiemout: 5}
    model_nme: x
general_settings: {master_kye: sk, max_request_size_mbs: 2}
router_settings: {num_retires: 2}
genral_settings: {}
""",
    )
    assert set(found) == {
        "genral_settings: unknown key (did you mean 'general_settings'?)",
        "model_list[0].model_nme: unknown key (did you mean 'model_name'?)",
        "model_list[0].litellm_params.tiemout: unknown key (did you mean 'timeout'?)",
        "general_settings.master_kye: unknown key (did you mean 'master_key'?)",
        "general_settings.max_request_size_mbs: unknown key (did you mean 'max_request_size_mb'?)",
        "router_settings.num_retires: unknown key (did you mean 'num_retries'?)",
    }


def test_max_response_size_mb_is_read(tmp_path: Path) -> None:
    s = load(
        tmp_path,
        "model_list: [{model_name: m, litellm_params: {model: mock/m}}]\n"
        "general_settings: {max_response_size_mb: 3}\n",
    )
    assert s.general.max_response_body_bytes == 3 * 1024 * 1024


def test_unset_variables_leave_the_deployment_unconfigured(tmp_path: Path) -> None:
    s = load(
        tmp_path,
        """
model_list:
  - {model_name: m, litellm_params: {model: mock/m}}
  - model_name: claude
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_key: os.environ/ANTHROPIC_API_KEY
      api_base: ${ANTHROPIC_BASE}
      timeout: 5
general_settings: {master_key: os.environ/MASTER}
""",
        {"MASTER": "sk-m"},
    )
    claude = s.deployments[1]
    assert claude.unset_env == ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE")
    assert claude.timeouts.first_byte == 5
    assert warnings(s) == [
        "model_list[1].litellm_params: ANTHROPIC_API_KEY, ANTHROPIC_BASE are not set: claude "
        "is not configured (its requests get 503 deployment_unconfigured; the other models serve)"
    ]


def test_an_unset_master_key_variable_is_still_an_error(tmp_path: Path) -> None:
    # Serving without it would open the API: general_settings stays strict.
    found = errors(
        tmp_path,
        "model_list: [{model_name: m, litellm_params: {model: mock/m}}]\n"
        "general_settings: {master_key: os.environ/LITELLM_MASTER_KEY}\n",
    )
    assert found == [
        "general_settings.master_key: environment variable LITELLM_MASTER_KEY is not set"
    ]


def test_base_model_prices_the_deployment(tmp_path: Path) -> None:
    from pllm.pricing.table import PriceTable

    s = load(
        tmp_path,
        """
model_list:
  - model_name: embed
    litellm_params: {model: azure/my-embedding-deployment, api_base: 'https://r.openai.azure.com'}
    model_info: {base_model: azure/text-embedding-ada-002}
""",
    )
    table = PriceTable.load()
    price = table.for_deployment(s.deployments[0])
    assert price.known and price == table.lookup("text-embedding-ada-002")
