"""Which keys of a config section pllm reads, which it knows as LiteLLM's and ignores, and
which are typos.

A LiteLLM config loads unchanged: a key pllm uses is read; a key LiteLLM has that pllm does
not use (anywhere: the top level, ``general_settings``, ``router_settings``,
``litellm_settings``, an entry's ``litellm_params``) is listed once in a startup note as
ignored; a key that is a near miss of one of pllm's own is an error (``did you mean``), since
a typo there silently changes what the gateway does; any other key is noted as ignored too.
The names below are LiteLLM's documented settings (docs/proxy/config_settings and the
provider pages), so that they are never mistaken for typos of pllm's.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from pllm.config.problems import Problems, suggestion

# Top-level sections of LiteLLM's proxy config that pllm has no use for.
LITELLM_TOP_LEVEL = frozenset(
    {
        "guardrails",
        "finetune_settings",
        "files_settings",
        "mcp_servers",
        "mcp_builtin_servers",
        "mcp_tools",
        "callback_settings",
        "credential_list",
        "search_tools",
        "vector_store_registry",
        "prompts",
        "assistant_settings",
        "include",
        "policies",
        "agent_list",
        "model_group_settings",
        "pass_through_endpoints",
    }
)

LITELLM_GENERAL = frozenset(
    {
        "completion_model",
        "embedding_model",
        "image_generation_model",
        "moderation_model",
        "store_prompts_in_spend_logs",
        "forward_client_headers_to_llm_api",
        "forward_openai_org_id",
        "disable_spend_logs",
        "disable_spend_updates",
        "disable_master_key_return",
        "disable_retry_on_max_parallel_request_limit_error",
        "disable_reset_budget",
        "disable_adding_master_key_hash_to_db",
        "disable_responses_id_security",
        "disable_prisma_schema_update",
        "enable_jwt_auth",
        "litellm_jwtauth",
        "enforce_user_param",
        "enforced_params",
        "reject_clientside_metadata_tags",
        "allowed_routes",
        "admin_only_routes",
        "public_routes",
        "allowed_ips",
        "key_management_system",
        "key_management_settings",
        "use_azure_key_vault",
        "use_google_kms",
        "maximum_spend_logs_retention_period",
        "maximum_spend_logs_retention_interval",
        "user_mcp_management_mode",
        "database_connection_pool_limit",
        "database_connection_timeout",
        "allow_requests_on_db_unavailable",
        "custom_auth",
        "custom_auth_settings",
        "custom_key_generate",
        "custom_sso",
        "custom_team_metadata_validate",
        "team_metadata_validation_timeout",
        "team_metadata_validation_error_message",
        "max_parallel_requests",
        "global_max_parallel_requests",
        "infer_model_from_keys",
        "background_health_checks",
        "health_check_interval",
        "health_check_details",
        "alerting",
        "alerting_threshold",
        "alerting_args",
        "alert_types",
        "alert_to_webhook_url",
        "spend_report_frequency",
        "use_client_credentials_pass_through_routes",
        "enable_oauth2_auth",
        "enable_oauth2_proxy_auth",
        "oauth2_config_mappings",
        "use_x_forwarded_for",
        "service_account_settings",
        "store_model_in_db",
        "supported_db_objects",
        "proxy_budget_rescheduler_min_time",
        "proxy_budget_rescheduler_max_time",
        "proxy_batch_write_at",
        "proxy_batch_polling_interval",
        "default_team_disabled",
        "allow_user_auth",
        "user_api_key_cache_ttl",
        "litellm_key_header_name",
        "allow_client_side_credentials",
        "ui_access_mode",
        "litellm_license",
        "pass_through_endpoints",
        "use_redis_transaction_buffer",
        "use_shared_health_check",
        "coordination_redis",
        "redis_host",
        "redis_port",
        "redis_password",
        "debug",
        "detailed_debug",
        "port",
        "host",
        "num_workers",
    }
)

LITELLM_ROUTER = frozenset(
    {
        "enable_pre_call_checks",
        "enable_pre_call_check",
        "optional_pre_call_checks",
        "model_group_alias",
        "default_litellm_params",
        "cache_responses",
        "cache_kwargs",
        "caching_groups",
        "client_ttl",
        "routing_strategy_args",
        "retry_policy",
        "model_group_retry_policy",
        "allowed_fails_policy",
        "disable_cooldowns",
        "set_verbose",
        "debug_level",
        "enable_tag_filtering",
        "tag_filtering_match_any",
        "default_max_parallel_requests",
        "default_priority",
        "polling_interval",
        "max_fallbacks",
        "default_fallbacks",
        "stream_timeout",
        "provider_budget_config",
        "deployment_affinity_ttl_seconds",
        "ignore_invalid_deployments",
        "search_tools",
        "guardrail_list",
        "alerting_config",
        "assistants_config",
        "router_general_settings",
    }
)

# litellm_params of a deployment that LiteLLM reads and pllm does not (yet).
LITELLM_PARAMS = frozenset(
    {
        "max_retries",
        "num_retries",
        "custom_llm_provider",
        "drop_params",
        "additional_drop_params",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "seed",
        "stream",
        "response_format",
        "tags",
        "order",
        "region_name",
        "base_model",
        "use_in_pass_through",
        "use_litellm_proxy",
        "litellm_credential_name",
        "merge_reasoning_content_in_choices",
        "configurable_clientside_auth_params",
        "input_cost_per_second",
        "output_cost_per_second",
        "cache_creation_input_token_cost",
        "mock_timeout",
        "headers",
        "azure_ad_token",
        "azure_ad_token_provider",
        "azure_username",
        "azure_password",
        "tenant_id",
        "client_id",
        "client_secret",
        "azure_scope",
        "aws_role_name",
        "aws_profile_name",
        "aws_session_name",
        "aws_web_identity_token",
        "aws_sts_endpoint",
        "aws_external_id",
        "aws_batch_role_arn",
        "s3_bucket_name",
        "s3_region_name",
        "s3_access_key_id",
        "s3_secret_access_key",
        "s3_encryption_key_id",
        "watsonx_region_name",
        "auto_router_config",
        "auto_router_config_path",
        "auto_router_default_model",
        "auto_router_embedding_model",
        "model_info",
        "thinking",
        "reasoning_effort",
        "extra_body",
        "api_type",
        "deployment_id",
        "tpm_limit",
        "rpm_limit",
    }
)

_ENTRY_PATH = re.compile(r"^model_list\[(\d+)\](.*)$")


@dataclass(slots=True)
class IgnoredKeys:
    """Keys a config gives that pllm does not read, gathered for one startup note each."""

    litellm: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    def notes(self) -> list[str]:
        out = []
        if self.litellm:
            out.append(
                "ignored LiteLLM settings (pllm does not use them): " + _joined(self.litellm)
            )
        if self.unknown:
            out.append(
                "ignored keys (neither pllm's nor LiteLLM settings pllm knows): "
                + _joined(self.unknown)
            )
        return out


def _joined(paths: list[str]) -> str:
    """Paths in order, one entry per key of ``model_list[i]`` with its entries' indices."""
    grouped: dict[str, list[str]] = {}
    for p in paths:
        m = _ENTRY_PATH.match(p)
        if m is None:
            grouped.setdefault(p, [])
        else:
            grouped.setdefault("model_list[{}]" + m.group(2), []).append(m.group(1))
    return ", ".join(k.format(", ".join(v)) if v else k for k, v in grouped.items())


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def sort_keys(
    section: Mapping[str, Any],
    used: Collection[str],
    litellm: Collection[str],
    path: str,
    problems: Problems,
    ignored: IgnoredKeys,
) -> dict[str, Any]:
    """The part of ``section`` pllm reads; LiteLLM's other keys and unknown ones are noted in
    ``ignored``, a near miss of a key in ``used`` is an error."""
    kept: dict[str, Any] = {}
    for key, value in section.items():
        name = str(key)
        if name in used:
            kept[name] = value
        elif name in litellm:
            ignored.litellm.append(join(path, name))
        else:
            hint = suggestion(name, used)
            if hint:
                problems.add(join(path, name), f"unknown key (did you mean {hint!r}?)")
            else:
                ignored.unknown.append(join(path, name))
    return kept


def check_keys(section: Mapping[str, Any], known: set[str], path: str, problems: Problems) -> None:
    """A pllm-only section (``server``, ``general_settings.jwt``): every unknown key is an
    error, with the known key it most likely misspells."""
    for key in section:
        if key in known:
            continue
        where = join(path, str(key))
        hint = suggestion(str(key), known)
        problems.add(where, f"unknown key (did you mean {hint!r}?)" if hint else "unknown key")
