"""LiteLLM's management payloads, with LiteLLM's field names.

Only fields pllm can honour are accepted; any other field is a 400 naming it, so a LiteLLM
setting pllm does not have (guardrails, aliases, …) is never silently dropped. In LiteLLM an
empty ``models`` list means every model, and it means the same here.
"""

from __future__ import annotations

import datetime
from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from pllm.admin.schemas import Duration, Email, Id, Input, Money, Name, Output, PositiveInt

LiteLLMRole = Literal[
    "proxy_admin",
    "proxy_admin_viewer",
    "internal_user",
    "internal_user_viewer",
    "admin",
    "member",
    "viewer",
]
Models = list[str]


class KeyGenerate(Input):
    models: Models | None = None
    max_budget: Money | None = None
    soft_budget: Money | None = None
    budget_duration: str | None = None
    rpm_limit: PositiveInt | None = None
    tpm_limit: PositiveInt | None = None
    max_parallel_requests: PositiveInt | None = None
    user_id: Id | None = None
    team_id: Id | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    duration: Duration | None = None
    key_alias: Name | None = None


class KeyUpdate(Input):
    # The key's secret, its token (SHA-256) or its id.
    key: str
    models: Models | UnsetType | None = UNSET
    max_budget: Money | UnsetType | None = UNSET
    soft_budget: Money | UnsetType | None = UNSET
    budget_duration: str | UnsetType | None = UNSET
    rpm_limit: PositiveInt | UnsetType | None = UNSET
    tpm_limit: PositiveInt | UnsetType | None = UNSET
    max_parallel_requests: PositiveInt | UnsetType | None = UNSET
    user_id: Id | UnsetType | None = UNSET
    team_id: Id | UnsetType | None = UNSET
    metadata: dict[str, Any] | UnsetType = UNSET
    duration: Duration | UnsetType = UNSET
    key_alias: Name | UnsetType | None = UNSET


class KeyDelete(Input):
    keys: list[str]


class KeyInfoQuery(Input):
    key: str | None = None


class UserNew(Input):
    user_id: Id | None = None
    user_email: Email | None = None
    user_alias: Name | None = None
    user_role: LiteLLMRole = "internal_user"
    teams: list[Id] | None = None
    models: Models | None = None
    max_budget: Money | None = None
    soft_budget: Money | None = None
    budget_duration: str | None = None
    tpm_limit: PositiveInt | None = None
    rpm_limit: PositiveInt | None = None
    max_parallel_requests: PositiveInt | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    # LiteLLM creates a key for the new user unless told not to.
    auto_create_key: bool = True
    key_alias: Name | None = None
    duration: Duration | None = None


class TeamMember(Input):
    user_id: Id
    role: Literal["admin", "user"] = "user"
    user_email: Email | None = None


class TeamNew(Input):
    team_id: Id | None = None
    team_alias: Name | None = None
    models: Models | None = None
    max_budget: Money | None = None
    soft_budget: Money | None = None
    budget_duration: str | None = None
    tpm_limit: PositiveInt | None = None
    rpm_limit: PositiveInt | None = None
    max_parallel_requests: PositiveInt | None = None
    members_with_roles: list[TeamMember] = msgspec.field(default_factory=list)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class SpendLogsQuery(Input):
    # A key's secret, its token (SHA-256 hex, as LiteLLM stores it) or its id.
    api_key: str | None = None
    user_id: str | None = None
    start_date: datetime.date | None = None
    end_date: datetime.date | None = None
    limit: int = msgspec.field(default=1000)


# ---------------------------------------------------------------- responses


class KeyInfo(Output):
    token: str  # pllm's key id
    key_name: str  # "sk-AbCd…wxyz"
    key_alias: str | None
    spend: float
    expires: str | None
    models: list[str]
    user_id: str | None
    team_id: str | None
    max_parallel_requests: int | None
    tpm_limit: int | None
    rpm_limit: int | None
    max_budget: float | None
    soft_budget: float | None
    budget_duration: str | None
    metadata: dict[str, Any]
    blocked: bool
    created_at: str
    updated_at: str


class KeyInfoResponse(Output):
    key: str  # the key id: the secret is never echoed
    info: KeyInfo


class KeyGenerated(KeyInfo):
    key: str  # the secret, this once


class KeyDeleted(Output):
    deleted_keys: list[str]


class UserCreated(Output):
    user_id: str
    user_email: str | None
    user_alias: str | None
    user_role: str
    teams: list[str]
    models: list[str]
    max_budget: float | None
    budget_duration: str | None
    tpm_limit: int | None
    rpm_limit: int | None
    metadata: dict[str, Any]
    # The new user's key (the secret, this once) and its id; null with auto_create_key false.
    key: str | None
    token: str | None
    expires: str | None


class TeamMemberOut(Output):
    user_id: str
    role: str


class TeamCreated(Output):
    team_id: str
    team_alias: str | None
    models: list[str]
    max_budget: float | None
    budget_duration: str | None
    tpm_limit: int | None
    rpm_limit: int | None
    max_parallel_requests: int | None
    members_with_roles: list[TeamMemberOut]
    metadata: dict[str, Any]


class SpendLog(Output):
    request_id: str
    api_key: str | None  # pllm's key id
    user: str | None
    team_id: str | None
    model: str | None
    call_type: str
    spend: float
    total_tokens: int
    prompt_tokens: int
    completion_tokens: int
    startTime: str
    endTime: str
    status: str
