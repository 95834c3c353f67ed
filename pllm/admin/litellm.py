"""LiteLLM's management API (``/key/generate``, ``/key/info``, ``/user/new``, …), so LiteLLM
clients and scripts work against pllm unchanged.

This is a translation layer only: each route maps LiteLLM's field names onto the Structs of
pllm's own routes and calls the same service functions, so validation, revision bumps and
the "secret shown once" rule are the same. Where a key is named, LiteLLM's three forms are
accepted: the secret, its token (SHA-256 hex, which is also pllm's stored hash) or the id.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from msgspec import UNSET

from pllm.admin import litellm_schemas as ls
from pllm.admin import schemas as s
from pllm.admin import service
from pllm.admin.budget_routes import first_day, spend_page
from pllm.admin.periods import (
    budget_period_from_litellm,
    litellm_budget_duration,
    period_start,
    today_utc,
)
from pllm.admin.routing import Call, Reply, Route
from pllm.admin.schemas import MemberRole
from pllm.errors import GatewayError, bad_request
from pllm.principal import LIMIT_FIELDS, LimitKind, Role
from pllm.store import spend_store
from pllm.store.engine import Store

_ROLE_IN: dict[str, Role] = {
    "proxy_admin": "admin",
    "proxy_admin_viewer": "viewer",
    "internal_user": "member",
    "internal_user_viewer": "viewer",
    "admin": "admin",
    "member": "member",
    "viewer": "viewer",
}
_ROLE_OUT = {"admin": "proxy_admin", "member": "internal_user", "viewer": "internal_user_viewer"}


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat()


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class _Field:
    """One field under LiteLLM's name and pllm's, with the conversion each way."""

    litellm: str
    pllm: str
    to_pllm: Callable[[Any], Any] = _same
    to_litellm: Callable[[Any], Any] = _same


# How a kind of limit changes between LiteLLM's form and pllm's, both ways. In LiteLLM an
# empty models list means every model, which pllm says with null; LiteLLM gives a budget's
# period as a duration ("30d").
_CONVERT: dict[LimitKind, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "models": (lambda m: m or None, lambda m: m or []),
    "period": (budget_period_from_litellm, litellm_budget_duration),
}
# The limits every LiteLLM key, user and team payload has, under both names.
_LIMITS = (
    *(_Field(f.litellm, f.name, *_CONVERT.get(f.kind, (_same, _same))) for f in LIMIT_FIELDS),
    _Field("metadata", "metadata"),
)
_KEY_FIELDS = (
    _Field("key_alias", "alias"),
    _Field("user_id", "user_id"),
    _Field("team_id", "group_id"),
    _Field("duration", "duration"),
)


def _to_pllm(req: msgspec.Struct, fields: tuple[_Field, ...] = _LIMITS) -> dict[str, Any]:
    """pllm's fields from a LiteLLM request's; one an update leaves out stays UNSET."""
    out = {}
    for f in fields:
        value = getattr(req, f.litellm)
        out[f.pllm] = value if value is UNSET else f.to_pllm(value)
    return out


def _limits_out(view: s.LimitsOut, into: type[msgspec.Struct]) -> dict[str, Any]:
    """A view's limits under LiteLLM's names, those of them that the answer ``into`` has."""
    return {
        f.litellm: f.to_litellm(getattr(view, f.pllm))
        for f in _LIMITS
        if f.litellm in into.__struct_fields__
    }


async def _key_spend(store: Store, key_id: str, period: str | None) -> float:
    entity = f"key:{key_id}"
    start = first_day(period_start(period, today_utc()))
    spent = await spend_store.period_spend(store, [(entity, start)])
    return float(spent.get(entity, 0.0))


def _info(view: s.KeyView, spend: float) -> dict[str, Any]:
    return {
        "token": view.id,
        "key_name": view.key,
        "key_alias": view.alias,
        "spend": spend,
        "expires": _iso(view.expires_at),
        "user_id": view.user_id,
        "team_id": view.group_id,
        "blocked": view.revoked_at is not None,
        "created_at": _iso(view.created_at),
        "updated_at": _iso(view.updated_at),
        **_limits_out(view, ls.KeyInfo),
    }


async def key_info_of(store: Store, view: s.KeyView) -> ls.KeyInfo:
    spend = await _key_spend(store, view.id, s.limits_of(view)["budget_period"])
    return ls.KeyInfo(**_info(view, spend))


# ---------------------------------------------------------------- keys


async def key_generate(call: Call) -> Reply:
    req = await call.body(ls.KeyGenerate)
    spec = s.KeyCreate(**_to_pllm(req, _KEY_FIELDS + _LIMITS))
    created = await service.create_key(call.store, spec)
    return Reply(200, ls.KeyGenerated(key=created.secret, **_info(created.key, 0.0)))


async def key_info(call: Call) -> Reply:
    ref = call.query(ls.KeyInfoQuery).key
    if ref is None:
        # LiteLLM answers about the calling key when none is named.
        if call.caller.kind != "key" or call.caller.id is None:
            raise bad_request(
                "Missing query parameter 'key': name the key, or call as that key.",
                param="key",
                code="key_required",
            )
        ref = call.caller.id
    view = service.key_view(await service.resolve_key(call.store, ref))
    info = await key_info_of(call.store, view)
    return Reply(200, ls.KeyInfoResponse(key=view.id, info=info))


async def key_update(call: Call) -> Reply:
    req = await call.body(ls.KeyUpdate)
    row = await service.resolve_key(call.store, req.key)
    patch = s.KeyUpdate(**_to_pllm(req, _KEY_FIELDS + _LIMITS))
    view = await service.update_key(call.store, row.id, patch)
    info = await key_info_of(call.store, view)
    return Reply(200, ls.KeyInfoResponse(key=view.id, info=info))


async def key_delete(call: Call) -> Reply:
    req = await call.body(ls.KeyDelete)
    # Every key is found before any is deleted: a typo deletes nothing.
    rows = [await service.resolve_key(call.store, ref) for ref in req.keys]
    deleted = []
    for row in rows:
        await service.delete_key(call.store, row.id)
        deleted.append(row.id)
    return Reply(200, ls.KeyDeleted(deleted_keys=deleted))


# ---------------------------------------------------------------- users and teams


async def user_new(call: Call) -> Reply:
    req = await call.body(ls.UserNew)
    role = _ROLE_IN[req.user_role]
    limits = _to_pllm(req)
    for team in req.teams or ():
        await service.group_row(call.store, team)
    spec = s.UserCreate(
        id=req.user_id, email=req.user_email, name=req.user_alias, role=role, **limits
    )
    user = await service.create_user(call.store, spec)
    for team in req.teams or ():
        await service.add_member(call.store, team, s.MemberAdd(user_id=user.id))
    secret = token = expires = None
    if req.auto_create_key:
        # The user's limits and budget apply to the key through the user; the key only
        # carries its owner and, like LiteLLM's, the user's role.
        created = await service.create_key(
            call.store,
            s.KeyCreate(alias=req.key_alias, user_id=user.id, role=role, duration=req.duration),
        )
        secret, token, expires = created.secret, created.key.id, _iso(created.key.expires_at)
    return Reply(
        200,
        ls.UserCreated(
            user_id=user.id,
            user_email=user.email,
            user_alias=user.name,
            user_role=_ROLE_OUT.get(user.role, user.role),
            teams=list(req.teams or ()),
            key=secret,
            token=token,
            expires=expires,
            **_limits_out(user, ls.UserCreated),
        ),
    )


async def team_new(call: Call) -> Reply:
    req = await call.body(ls.TeamNew)
    spec = s.GroupCreate(id=req.team_id, name=req.team_alias, **_to_pllm(req))
    group = await service.create_group(call.store, spec)
    members = []
    for m in req.members_with_roles:
        try:
            await service.user_row(call.store, m.user_id)
        except GatewayError:
            # LiteLLM adds people to a team by id whether or not it has seen them before.
            await service.create_user(call.store, s.UserCreate(id=m.user_id, email=m.user_email))
        role: MemberRole = "admin" if m.role == "admin" else "member"
        await service.add_member(call.store, group.id, s.MemberAdd(user_id=m.user_id, role=role))
        members.append(ls.TeamMemberOut(user_id=m.user_id, role=m.role))
    return Reply(
        200,
        ls.TeamCreated(
            team_id=group.id,
            team_alias=group.name,
            members_with_roles=members,
            **_limits_out(group, ls.TeamCreated),
        ),
    )


# ---------------------------------------------------------------- spend


def _spend_log(r: s.SpendLogRow) -> ls.SpendLog:
    return ls.SpendLog(
        request_id=r.request_id,
        api_key=r.key_id,
        user=r.user_id,
        team_id=r.group_ids[0] if r.group_ids else None,
        model=r.model,
        call_type=r.endpoint,
        spend=r.cost,
        total_tokens=r.prompt_tokens + r.completion_tokens,
        prompt_tokens=r.prompt_tokens,
        completion_tokens=r.completion_tokens,
        startTime=_iso(r.ts) or "",
        endTime=_iso(r.ts + r.latency_ms / 1000) or "",
        status="success" if r.status < 400 else "failure",
        cache_hit=str(r.cache_hit),
    )


async def spend_logs(call: Call) -> Reply:
    q = call.query(ls.SpendLogsQuery)
    key_id = None
    if q.api_key is not None:
        key_id = (await service.resolve_key(call.store, q.api_key)).id
    page = await spend_page(
        call.store,
        s.SpendLogQuery(
            key_id=key_id, user_id=q.user_id, from_=q.start_date, to=q.end_date, limit=q.limit
        ),
    )
    return Reply(200, [_spend_log(r) for r in page.data])


_DOC = "LiteLLM-compatible: "
ROUTES = [
    Route("POST", "/key/generate", key_generate, "Generate a key (LiteLLM)", "LiteLLM",
          body=ls.KeyGenerate, response=ls.KeyGenerated,
          description=_DOC + "`key` in the response is the secret, shown this once; `token` "
          "is pllm's key id. budget_duration: 1d/24h (daily), 7d/1w (weekly), 30d/1mo "
          "(monthly); pllm budgets are calendar periods in UTC."),
    Route("GET", "/key/info", key_info, "Read a key (LiteLLM)", "LiteLLM",
          query=ls.KeyInfoQuery, response=ls.KeyInfoResponse, errors=(404,),
          description=_DOC + "`key` may be the secret, its token (SHA-256) or the key id; the "
          "answer's `key` is the id, never the secret."),
    Route("POST", "/key/update", key_update, "Update a key (LiteLLM)", "LiteLLM",
          body=ls.KeyUpdate, response=ls.KeyInfoResponse, errors=(404,)),
    Route("POST", "/key/delete", key_delete, "Delete keys (LiteLLM)", "LiteLLM",
          body=ls.KeyDelete, response=ls.KeyDeleted, errors=(404,),
          description=_DOC + "`keys` are secrets, tokens or ids; all must exist or none is "
          "deleted. `deleted_keys` lists their ids."),
    Route("POST", "/user/new", user_new, "Create a user and their key (LiteLLM)", "LiteLLM",
          body=ls.UserNew, response=ls.UserCreated, errors=(404,),
          description=_DOC + "user_role: proxy_admin (admin), internal_user (member), "
          "internal_user_viewer or proxy_admin_viewer (viewer)."),
    Route("POST", "/team/new", team_new, "Create a team (LiteLLM)", "LiteLLM",
          body=ls.TeamNew, response=ls.TeamCreated,
          description=_DOC + "a team is a pllm group; members not yet known are created."),
    Route("GET", "/spend/logs", spend_logs, "Spend logs (LiteLLM)", "LiteLLM",
          query=ls.SpendLogsQuery, response=list[ls.SpendLog], errors=(404,),
          description=_DOC + "newest first, at most `limit` (1000) rows."),
]  # fmt: skip
