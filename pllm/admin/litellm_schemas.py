"""LiteLLM's management payloads, with LiteLLM's field names.

Only fields pllm can honour are accepted; any other field is a 400 naming it, so a LiteLLM
setting pllm does not have (guardrails, aliases, …) is never silently dropped. In LiteLLM an
empty ``models`` list means every model, and it means the same here.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from pllm.admin.periods import LITELLM_PERIODS
from pllm.admin.schemas import (
    Duration,
    Email,
    Filter,
    Id,
    Input,
    Metadata,
    Name,
    Output,
    input_limits,
    limits_struct,
)
from pllm.principal import LIMIT_FIELDS, LimitKind, Money, PositiveInt

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
MAX_SPEND_ROWS = 1000
# The budget_durations that name a calendar period (periods.LITELLM_PERIODS), as an enum.
_literal: Any = Literal
LiteLLMBudgetDuration: Any = _literal[tuple(LITELLM_PERIODS)]
# A key named by its secret, its token (SHA-256 hex) or its id.
KeyRef = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]

# ---------------------------------------------------------------- the limits, from LIMIT_FIELDS

# LiteLLM's type for each kind of limit, under LiteLLM's names (LimitField.litellm). Its
# model names have no bounds of their own, and its budget_duration is a duration ("30d"),
# which litellm.py turns into a period.
_IN: dict[LimitKind, Any] = {
    "models": Models,
    "count": PositiveInt,
    "money": Money,
    "period": LiteLLMBudgetDuration,
}
# In an answer an empty models list means every model, so it is never null.
_OUT: dict[LimitKind, Any] = {
    "models": Models,
    "count": int | None,
    "money": float | None,
    "period": str | None,
}


def _answer(name: str, *, without: tuple[str, ...] = ()) -> Any:
    """The limits in one of LiteLLM's answers; ``without``: those LiteLLM's lacks."""
    fields = [(f.litellm, _OUT[f.kind]) for f in LIMIT_FIELDS if f.litellm not in without]
    return limits_struct(name, Output, fields, __name__)


if TYPE_CHECKING:
    # As in schemas: the type checker sees the plain bases, and litellm.py reads the limit
    # fields by name.
    LimitsIn = Input
    LimitsPatch = Input
    _KeyLimits = Output
    _UserLimits = Output
    _TeamLimits = Output
else:
    LimitsIn, LimitsPatch = input_limits(__name__, ((f.litellm, _IN[f.kind]) for f in LIMIT_FIELDS))
    _KeyLimits = _answer("_KeyLimits")
    _UserLimits = _answer("_UserLimits", without=("soft_budget", "max_parallel_requests"))
    _TeamLimits = _answer("_TeamLimits", without=("soft_budget",))


# ---------------------------------------------------------------- requests


class KeyGenerate(LimitsIn):
    user_id: Id | None = None
    team_id: Id | None = None
    duration: Duration | None = None
    key_alias: Name | None = None


class KeyUpdate(LimitsPatch, kw_only=True):  # kw_only: a required field after optional ones
    # The key's secret, its token (SHA-256) or its id.
    key: KeyRef
    user_id: Id | UnsetType | None = UNSET
    team_id: Id | UnsetType | None = UNSET
    duration: Duration | UnsetType = UNSET
    key_alias: Name | UnsetType | None = UNSET


class KeyDelete(Input):
    keys: Annotated[list[KeyRef], msgspec.Meta(min_length=1, max_length=1000)]


class KeyInfoQuery(Input):
    key: KeyRef | None = None


class UserNew(LimitsIn):
    user_id: Id | None = None
    user_email: Email | None = None
    user_alias: Name | None = None
    user_role: LiteLLMRole = "internal_user"
    teams: list[Id] | None = None
    # LiteLLM creates a key for the new user unless told not to.
    auto_create_key: bool = True
    key_alias: Name | None = None
    duration: Duration | None = None


class TeamMember(Input):
    user_id: Id
    role: Literal["admin", "user"] = "user"
    user_email: Email | None = None


class TeamNew(LimitsIn):
    team_id: Id | None = None
    team_alias: Name | None = None
    members_with_roles: list[TeamMember] = msgspec.field(default_factory=list)


class SpendLogsQuery(Input):
    # A key's secret, its token (SHA-256 hex, as LiteLLM stores it) or its id.
    api_key: KeyRef | None = None
    user_id: Filter | None = None
    start_date: datetime.date | None = None
    end_date: datetime.date | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_SPEND_ROWS)] = MAX_SPEND_ROWS


# ---------------------------------------------------------------- responses


class KeyInfo(_KeyLimits):
    token: str  # pllm's key id
    key_name: str  # "sk-AbCd…wxyz"
    key_alias: str | None
    spend: float
    expires: str | None
    user_id: str | None
    team_id: str | None
    metadata: Metadata
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


class UserCreated(_UserLimits):
    user_id: str
    user_email: str | None
    user_alias: str | None
    user_role: str
    teams: list[str]
    metadata: Metadata
    # The new user's key (the secret, this once) and its id; null with auto_create_key false.
    key: str | None
    token: str | None
    expires: str | None


class TeamMemberOut(Output):
    user_id: str
    role: str


class TeamCreated(_TeamLimits):
    team_id: str
    team_alias: str | None
    members_with_roles: list[TeamMemberOut]
    metadata: Metadata


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
    cache_hit: str  # LiteLLM's "True" / "False": answered from the response cache
