"""Request and response shapes of the admin API's own routes.

Inputs forbid unknown fields, so a typo (``max_buget``) is a 400 naming the field instead of a
silently ignored setting. PATCH bodies default every field to ``UNSET``: a field left out is
unchanged, a field sent as ``null`` is cleared. The OpenAPI document is generated from these.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from pllm.admin.periods import DURATION_PATTERN
from pllm.principal import LIMIT_FIELDS, BudgetPeriod, LimitKind, Money, Role

# The patterns below are read alike by Python (msgspec validates with them) and by JSON
# Schema's ECMA dialect (the OpenAPI document carries them): explicit code points instead of
# \s and \d, whose meanings differ, and $(?!\n), as Python's $ also matches before a final
# newline and ECMA's does not.
ID_PATTERN = (
    r"^[^/\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+$(?!\n)"
)
# Ids appear in URL paths, so no slashes or whitespace.
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=ID_PATTERN)]
Name = Annotated[str, msgspec.Meta(max_length=256)]
Email = Annotated[str, msgspec.Meta(max_length=320)]
# A value to filter a list by (an id, or a model name, which may contain a slash).
Filter = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
# UNIX seconds, up to the last second of year 9999 (the last a date can show).
MAX_TIMESTAMP = 253_402_300_799
Timestamp = Annotated[float, msgspec.Meta(ge=0, le=MAX_TIMESTAMP)]
Duration = Annotated[str, msgspec.Meta(pattern=DURATION_PATTERN)]
MemberRole = Literal["admin", "member"]
Limit = Annotated[int, msgspec.Meta(ge=1, le=1000)]
# Rows are counted in 32 bits here; past the last row a page is empty anyway.
Offset = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
# ``next_before`` of a page: "<ts>:<request id>" (see budget_routes).
CURSOR_PATTERN = r"^[0-9]{1,16}(\.[0-9]{1,17})?(e[+-][0-9]{1,3})?:[^\x00-\x1f\x7f]{1,128}$(?!\n)"
Cursor = Annotated[str, msgspec.Meta(pattern=CURSOR_PATTERN)]
BudgetKind = Literal["key", "user", "group", "team"]


class Input(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class Output(msgspec.Struct, kw_only=True, omit_defaults=False):
    pass


# ---------------------------------------------------------------- the limits, from LIMIT_FIELDS

# A field as msgspec.defstruct takes it: (name, type), or (name, type, default).
Field = tuple[str, Any] | tuple[str, Any, Any]
Metadata = dict[str, Any]

# A view shows what is stored, unbounded: a value written before a bound was tightened
# still reads back.
_STORED: dict[LimitKind, Any] = {"models": list[str], "count": int, "money": float, "period": str}


def limits_struct(name: str, base: type, fields: Iterable[Field], module: str) -> Any:
    """A ``base`` Struct with ``fields``: the bodies and views that carry the limits get
    them from ``LIMIT_FIELDS`` instead of listing them again."""
    return msgspec.defstruct(name, list(fields), bases=(base,), module=module)


def input_limits(module: str, limits: Iterable[tuple[str, Any]]) -> tuple[Any, Any]:
    """The bases of create and PATCH bodies: the ``limits`` (name, type) and the metadata
    every entity takes. A limit a create body leaves out is None (no limit); one a PATCH
    body leaves out is UNSET (unchanged), and null there clears it."""
    limits = list(limits)
    create: list[Field] = [
        *((name, typ | None, None) for name, typ in limits),
        ("metadata", Metadata, msgspec.field(default_factory=dict)),
    ]
    patch: list[Field] = [
        *((name, typ | UnsetType | None, UNSET) for name, typ in limits),
        ("metadata", Metadata | UnsetType, UNSET),
    ]
    return (
        limits_struct("LimitsIn", Input, create, module),
        limits_struct("LimitsPatch", Input, patch, module),
    )


def limits_of(struct: msgspec.Struct) -> dict[str, Any]:
    """A body's or view's limit fields by pllm's names. They are generated, so the type
    checker does not know them as attributes."""
    return {f.name: getattr(struct, f.name) for f in LIMIT_FIELDS}


if TYPE_CHECKING:
    # To the type checker the generated bases are the plain ones: code reads their limit
    # fields by name (limits_of), not as attributes.
    LimitsIn = Input
    LimitsPatch = Input
    _LimitsOut = Output
else:
    LimitsIn, LimitsPatch = input_limits(__name__, ((f.name, f.bounded) for f in LIMIT_FIELDS))
    _LimitsOut = limits_struct(
        "_LimitsOut", Output, ((f.name, _STORED[f.kind] | None) for f in LIMIT_FIELDS), __name__
    )


class LimitsOut(_LimitsOut):
    metadata: Metadata
    created_at: float
    updated_at: float


# ---------------------------------------------------------------- inputs


class KeyCreate(LimitsIn):
    alias: Name | None = None
    user_id: Id | None = None
    group_id: Id | None = None
    role: Role = "member"
    # Give one of them, or neither for a key that never expires.
    expires_at: Timestamp | None = None
    duration: Duration | None = None


class KeyUpdate(LimitsPatch):
    alias: Name | UnsetType | None = UNSET
    user_id: Id | UnsetType | None = UNSET
    group_id: Id | UnsetType | None = UNSET
    role: Role | UnsetType = UNSET
    expires_at: Timestamp | UnsetType | None = UNSET
    duration: Duration | UnsetType = UNSET


class UserCreate(LimitsIn):
    # Generated when left out.
    id: Id | None = None
    email: Email | None = None
    name: Name | None = None
    role: Role = "member"


class UserUpdate(LimitsPatch):
    email: Email | UnsetType | None = UNSET
    name: Name | UnsetType | None = UNSET
    role: Role | UnsetType = UNSET


class GroupCreate(LimitsIn):
    id: Id | None = None
    name: Name | None = None


class GroupUpdate(LimitsPatch):
    name: Name | UnsetType | None = UNSET


class MemberAdd(Input):
    user_id: Id
    role: MemberRole = "member"


class BudgetSet(Input):
    max_budget: Money
    budget_period: BudgetPeriod = "total"
    soft_budget: Money | None = None


# ---------------------------------------------------------------- queries


class PageQuery(Input):
    limit: Limit = 100
    offset: Offset = 0


class KeyListQuery(PageQuery):
    user_id: Filter | None = None
    group_id: Filter | None = None
    include_revoked: bool = False


class UsageQuery(PageQuery):
    group_by: Literal["key", "user", "group", "model"] = "key"
    id: Filter | None = None
    # Inclusive UTC days; default: the 30 days that end today.
    from_: datetime.date | None = msgspec.field(default=None, name="from")
    to: datetime.date | None = None


class SpendLogQuery(Input):
    key_id: Filter | None = None
    user_id: Filter | None = None
    group_id: Filter | None = None
    model: Filter | None = None
    from_: datetime.date | None = msgspec.field(default=None, name="from")
    to: datetime.date | None = None
    limit: Limit = 100
    # The ``next_before`` of the previous page.
    before: Cursor | None = None


# ---------------------------------------------------------------- outputs


class KeyView(LimitsOut):
    id: str
    # "sk-AbCd…wxyz": the secret itself is never stored, so never shown again.
    key: str
    key_prefix: str
    key_suffix: str
    alias: str | None
    user_id: str | None
    group_id: str | None
    role: str
    expires_at: float | None
    revoked_at: float | None


class KeyCreated(Output):
    secret: str
    key: KeyView
    warning: str = "Store this key now: it is shown only once and cannot be recovered."


class KeyPage(Output):
    data: list[KeyView]
    total: int
    limit: int
    offset: int


class UserView(LimitsOut):
    id: str
    email: str | None
    name: str | None
    role: str


class UserDetail(UserView):
    groups: list[str]


class UserPage(Output):
    data: list[UserView]
    total: int
    limit: int
    offset: int


class GroupView(LimitsOut):
    id: str
    name: str | None


class GroupPage(Output):
    data: list[GroupView]
    total: int
    limit: int
    offset: int


class MemberView(Output):
    group_id: str
    user_id: str
    role: str


class MemberList(Output):
    data: list[MemberView]


class Deleted(Output):
    id: str
    deleted: bool = True


class BudgetView(Output):
    entity_type: Literal["key", "user", "group"]
    id: str
    name: str | None
    max_budget: float | None
    budget_period: str | None
    soft_budget: float | None
    # First UTC day of the current period; null for "total".
    period_start: str | None
    spend: float
    remaining: float | None


class BudgetList(Output):
    data: list[BudgetView]


class UsageRow(Output):
    day: str
    id: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost: float


class UsagePage(Output):
    group_by: str
    from_: str = msgspec.field(name="from")
    to: str
    data: list[UsageRow]
    total: int
    limit: int
    offset: int


class SpendLogRow(Output):
    request_id: str
    ts: float
    endpoint: str
    status: int
    latency_ms: float
    key_id: str | None
    user_id: str | None
    group_ids: list[str]
    model: str | None
    deployment: str | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost: float
    ttft_ms: float | None
    attempts: int
    streamed: bool
    cache_hit: bool
    error: str | None


class SpendLogPage(Output):
    data: list[SpendLogRow]
    # Pass as ``before`` for the next (older) page; null when this page was the last.
    next_before: str | None


class Health(Output):
    status: Literal["ok", "starting"]


class ConfigReload(Output):
    """What ``POST /admin/config/reload`` did."""

    # reloaded: this process serves it now; signalled: the supervisor passes it to every
    # worker (each reloads within a second); invalid: refused, the running config serves on.
    status: Literal["reloaded", "signalled", "invalid"]
    revision: str
    problems: list[str]
    warnings: list[str]
    # Changed settings that apply only after a restart (listeners, database, ...).
    restart_needed: list[str]
    models: int
    deployments: int


class CacheQuery(Input):
    # Both left out: every entry. model: one model group's; key: one x-litellm-cache-key.
    model: Annotated[str, msgspec.Meta(min_length=1, max_length=256)] | None = None
    key: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")] | None = None


class CacheCleared(Output):
    deleted: int


class CacheStats(Output):
    """The response cache of the process serving the admin API (``local``: that worker's)."""

    type: Literal["local", "redis", "semantic", "redis-semantic"]
    scope: Literal["global", "key", "user", "group"]
    hits: int
    misses: int
    stores: int
    evictions: int
    # local: entries and bytes held, and the bound; redis: whether it is reachable.
    entries: int | None = None
    bytes: int | None = None
    max_bytes: int | None = None
    redis_up: bool | None = None
    # Semantic types: vectors in this process's index.
    vectors: int | None = None


class DeploymentHealth(Output):
    """One deployment's live health, as ``GET /health/deployments`` on the gateway shows it."""

    deployment: str
    model: str
    provider: str
    score: float
    # closed: serving; open: ejected until its cool-down ends; half_open: on probation.
    circuit: str
    in_flight: int
    consecutive_failures: int
    ejections: int
    # Smoothed time to first token (ms); null before its first success.
    ttft_ms: float | None


class DeploymentsView(Output):
    revision: str
    data: list[DeploymentHealth]


class ConfigView(Output):
    """The config the gateway of this process serves, every secret masked."""

    file: str
    revision: str
    # When this revision was loaded (UNIX seconds).
    loaded_at: float
    config: dict[str, Any]
