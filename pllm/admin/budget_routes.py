"""``/admin/budgets`` (caps and spend in the current period), ``/admin/usage`` (daily
totals) and ``/admin/spend/logs`` (one row per request, newest first)."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import msgspec

from pllm.admin import schemas as s
from pllm.admin import service
from pllm.admin.periods import day_start_ts, period_start, today_utc
from pllm.admin.routing import Call, Reply, Route, reads_query
from pllm.errors import GatewayError, bad_request
from pllm.store import principals as db
from pllm.store import spend_store
from pllm.store.engine import Store
from pllm.store.rows import GroupRow, KeyRow, UserRow

EntityType = Literal["key", "user", "group"]
# Sorts before every "YYYY-MM-DD": a "total" budget counts from the first day on record.
_FIRST_DAY_EVER = "0000-01-01"


def first_day(start: datetime.date | None) -> str:
    return start.isoformat() if start is not None else _FIRST_DAY_EVER


_PAGE = 500
_DEFAULT_DAYS = 30


async def _all(
    fetch: Callable[[int, int], Awaitable[tuple[list[Any], int]]],
) -> list[Any]:
    rows: list[Any] = []
    while True:
        page, total = await fetch(_PAGE, len(rows))
        rows.extend(page)
        if not page or len(rows) >= total:
            return rows


async def _budgeted(store: Store) -> list[tuple[EntityType, KeyRow | UserRow | GroupRow]]:
    keys = await _all(
        lambda limit, offset: db.list_keys(
            store, user_id=None, group_id=None, include_revoked=False, limit=limit, offset=offset
        )
    )
    users = await _all(lambda limit, offset: db.list_users(store, limit=limit, offset=offset))
    groups = await _all(lambda limit, offset: db.list_groups(store, limit=limit, offset=offset))
    out: list[tuple[EntityType, KeyRow | UserRow | GroupRow]] = []
    out.extend(("key", r) for r in keys if r.max_budget is not None)
    out.extend(("user", r) for r in users if r.max_budget is not None)
    out.extend(("group", r) for r in groups if r.max_budget is not None)
    return out


def _name(row: KeyRow | UserRow | GroupRow) -> str | None:
    if isinstance(row, KeyRow):
        return row.alias
    if isinstance(row, UserRow):
        return row.name or row.email
    return row.name


async def budgets(store: Store, today: datetime.date) -> s.BudgetList:
    entries = await _budgeted(store)
    starts = [period_start(row.budget_period, today) for _, row in entries]
    wanted = [
        (f"{kind}:{row.id}", first_day(start))
        for (kind, row), start in zip(entries, starts, strict=True)
    ]
    spent = await spend_store.period_spend(store, wanted)
    data = []
    for (kind, row), start, (entity, _) in zip(entries, starts, wanted, strict=True):
        spend = float(spent.get(entity, 0.0))
        data.append(
            s.BudgetView(
                entity_type=kind,
                id=row.id,
                name=_name(row),
                max_budget=row.max_budget,
                budget_period=row.budget_period or "total",
                soft_budget=row.soft_budget,
                period_start=start.isoformat() if start is not None else None,
                spend=spend,
                remaining=max((row.max_budget or 0.0) - spend, 0.0),
            )
        )
    return s.BudgetList(data=data)


_UPDATE: dict[str, Callable[..., Awaitable[Any]]] = {
    "key": db.update_key,
    "user": db.update_user,
    "group": db.update_group,
}


def _kind(call: Call) -> str:
    kind = call.params["kind"]
    if kind == "team":
        kind = "group"
    if kind not in _UPDATE:
        raise GatewayError(
            404,
            f"Invalid URL: budgets belong to a key, user or group, not '{kind}'.",
            code="unknown_url",
        )
    return kind


async def _set_budget(store: Store, kind: str, id: str, fields: dict[str, Any]) -> Any:
    row = await _UPDATE[kind](store, id, **fields)
    if row is None:
        raise service.not_found(kind, id)
    return row


# ---------------------------------------------------------------- handlers


async def list_budgets(call: Call) -> Reply:
    return Reply(200, await budgets(call.store, today_utc()))


async def put_budget(call: Call) -> Reply:
    kind = _kind(call)
    fields = msgspec.structs.asdict(await call.body(s.BudgetSet))
    service.check_budget(fields)
    await _set_budget(call.store, kind, call.params["id"], fields)
    return Reply(200, await _one(call.store, kind, call.params["id"]))


async def delete_budget(call: Call) -> Reply:
    kind = _kind(call)
    fields = {"max_budget": None, "budget_period": None, "soft_budget": None}
    await _set_budget(call.store, kind, call.params["id"], fields)
    return Reply(200, s.Deleted(id=call.params["id"]))


async def _one(store: Store, kind: str, id: str) -> s.BudgetView:
    for view in (await budgets(store, today_utc())).data:
        if view.entity_type == kind and view.id == id:
            return view
    raise service.not_found(kind, id)


def _days(since: datetime.date | None, until: datetime.date | None) -> tuple[str, str]:
    until = until or today_utc()
    since = since or until - datetime.timedelta(days=_DEFAULT_DAYS - 1)
    if since > until:
        raise bad_request("'from' is after 'to'.", param="from", code="conflicting_fields")
    return since.isoformat(), until.isoformat()


async def usage(call: Call) -> Reply:
    q = call.query(s.UsageQuery)
    day_from, day_to = _days(q.from_, q.to)
    rows, total = await spend_store.usage(
        call.store,
        group_by=q.group_by,
        entity_id=q.id,
        day_from=day_from,
        day_to=day_to,
        limit=q.limit,
        offset=q.offset,
    )
    data = [
        s.UsageRow(
            day=r.day,
            id=r.entity,
            requests=r.requests,
            prompt_tokens=r.prompt_tokens,
            completion_tokens=r.completion_tokens,
            cost=r.cost,
        )
        for r in rows
    ]
    return Reply(
        200,
        s.UsagePage(
            group_by=q.group_by,
            from_=day_from,
            to=day_to,
            data=data,
            total=total,
            limit=q.limit,
            offset=q.offset,
        ),
    )


def spend_row(r: Any) -> s.SpendLogRow:
    return msgspec.convert(msgspec.structs.asdict(r), s.SpendLogRow)


async def spend_page(store: Store, q: s.SpendLogQuery) -> s.SpendLogPage:
    ts_from = day_start_ts(q.from_) if q.from_ is not None else None
    ts_to = day_start_ts(q.to + datetime.timedelta(days=1)) if q.to is not None else None
    records = await spend_store.spend_logs(
        store,
        key_id=q.key_id,
        user_id=q.user_id,
        group_id=q.group_id,
        model=q.model,
        ts_from=ts_from,
        ts_to=ts_to,
        limit=q.limit,
        before=_parse_cursor(q.before) if q.before is not None else None,
    )
    data = [spend_row(r) for r in records]
    last = records[-1] if len(records) == q.limit else None
    return s.SpendLogPage(data=data, next_before=_cursor(last) if last is not None else None)


def _cursor(record: Any) -> str:
    # The keyset of the page's last row: its time and request id (ties broken by id).
    return f"{record.ts!r}:{record.request_id}"


def _parse_cursor(cursor: str) -> tuple[float, str]:
    ts, sep, request_id = cursor.partition(":")
    try:
        if not sep:
            raise ValueError
        return float(ts), request_id
    except ValueError:
        raise bad_request(
            "Invalid query parameter 'before': pass the next_before of a previous page.",
            param="before",
            code="invalid_field",
        ) from None


ROUTES = [
    Route("GET", "/admin/budgets", list_budgets, "Budgets and their spend", "Budgets",
          response=s.BudgetList,
          description="Every key, user and group with a budget, with its spend in the "
          "current period. Periods are calendar UTC: daily, weekly (from Monday), monthly "
          "(from the 1st), total."),
    Route("PUT", "/admin/budgets/{kind}/{id}", put_budget, "Set a budget", "Budgets",
          body=s.BudgetSet, response=s.BudgetView,
          description="`kind` is key, user or group (team is accepted)."),
    Route("DELETE", "/admin/budgets/{kind}/{id}", delete_budget, "Remove a budget",
          "Budgets", response=s.Deleted),
    Route("GET", "/admin/usage", usage, "Daily usage", "Usage", query=s.UsageQuery,
          response=s.UsagePage,
          description="Requests, tokens and cost per UTC day, by key, user, group or model; "
          "`from`/`to` are inclusive YYYY-MM-DD days (default: the last 30)."),
    Route("GET", "/admin/spend/logs", reads_query(s.SpendLogQuery, spend_page), "Spend logs",
          "Usage", query=s.SpendLogQuery, response=s.SpendLogPage,
          description="One row per request, newest first. Pass `next_before` as `before` "
          "for the next page."),
]  # fmt: skip
