"""Spend: one row per request, plus daily counters per entity kept in the same transaction.

Writes are idempotent on ``request_id``: the spool may deliver a batch twice (a worker that
died after the commit but before it trimmed the spool), and only rows that were not there
yet count towards the daily totals and budgets.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.dialects.postgresql import JSONB

from pllm.spend.record import SpendRecord
from pllm.store.engine import Store
from pllm.store.rows import insert_ignore, upsert
from pllm.store.tables import spend, spend_daily

GroupBy = Literal["key", "user", "group", "model"]
# period_spend pairs per query: far below every driver's bind-parameter limit.
_PAIRS_PER_QUERY = 500


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One entity's totals for one UTC day. ``entity`` is the key id, user id, group id or
    model name (without the ``key:`` … prefix of ``pllm_spend_daily.entity``)."""

    entity: str
    day: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost: float


def utc_day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def _to_row(record: SpendRecord) -> dict[str, Any]:
    row = msgspec.structs.asdict(record)
    row["group_ids"] = list(record.group_ids)
    return row


async def insert_spend(store: Store, records: Sequence[SpendRecord]) -> dict[str, float]:
    """Writes the records that are new (by ``request_id``) and adds them to the daily
    counters, in one transaction. Returns entity -> cost added by this call."""
    unique = {r.request_id: r for r in reversed(records)}  # first occurrence wins
    if not unique:
        return {}
    # Sorted, so that concurrent writers (PostgreSQL) take row locks in the same order and
    # cannot deadlock each other.
    batch = [unique[rid] for rid in sorted(unique)]
    stmt = insert_ignore(store.dialect, spend, ["request_id"]).returning(spend.c.request_id)
    add = upsert(
        store.dialect,
        spend_daily,
        ["entity", "day"],
        lambda new: {
            "requests": spend_daily.c.requests + new.requests,
            "prompt_tokens": spend_daily.c.prompt_tokens + new.prompt_tokens,
            "completion_tokens": spend_daily.c.completion_tokens + new.completion_tokens,
            "cost": spend_daily.c.cost + new.cost,
        },
    )
    async with store.write() as conn:
        # One multi-row INSERT (SQLAlchemy's "insertmanyvalues"); RETURNING names only the
        # rows that were inserted, not those skipped as already present.
        result = await conn.execute(stmt, [_to_row(r) for r in batch])
        inserted = {row[0] for row in result}
        daily, added = _daily_totals(r for r in batch if r.request_id in inserted)
        if daily:
            await conn.execute(add, daily)
    return added


def _daily_totals(
    records: Iterable[SpendRecord],
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """The counter rows to add (sorted by entity and day, for the lock order) and the cost
    per entity."""
    totals: dict[tuple[str, str], list[Any]] = {}
    added: dict[str, float] = {}
    days: dict[int, str] = {}
    for record in records:
        epoch_day = int(record.ts // 86400)
        day = days.get(epoch_day)
        if day is None:
            day = days[epoch_day] = utc_day(record.ts)
        for entity in record.entities():
            total = totals.setdefault((entity, day), [0, 0, 0, 0.0])
            total[0] += 1
            total[1] += record.prompt_tokens
            total[2] += record.completion_tokens
            total[3] += record.cost
            added[entity] = added.get(entity, 0.0) + record.cost
    rows = [
        {
            "entity": entity,
            "day": day,
            "requests": n,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "cost": cost,
        }
        for (entity, day), (n, prompt, completion, cost) in sorted(totals.items())
    ]
    return rows, added


async def period_spend(store: Store, wanted: Sequence[tuple[str, str]]) -> dict[str, float]:
    """For each (entity, first day "YYYY-MM-DD"): the cost on that day and after. Every
    entity asked for is in the result (0.0 when it spent nothing); an entity asked twice
    counts from the last first day given."""
    first_day = dict(wanted)
    out = dict.fromkeys(first_day, 0.0)
    pairs = sorted(first_day.items())
    async with store.read() as conn:
        for start in range(0, len(pairs), _PAIRS_PER_QUERY):
            chunk = pairs[start : start + _PAIRS_PER_QUERY]
            # Budgets of one period share their first day: one IN list per distinct day.
            by_day: dict[str, list[str]] = {}
            for entity, day in chunk:
                by_day.setdefault(day, []).append(entity)
            where = or_(
                *(
                    and_(spend_daily.c.day >= day, spend_daily.c.entity.in_(entities))
                    for day, entities in by_day.items()
                )
            )
            query = (
                select(spend_daily.c.entity, func.sum(spend_daily.c.cost))
                .where(where)
                .group_by(spend_daily.c.entity)
            )
            for entity, cost in (await conn.execute(query)).all():
                out[entity] = float(cost or 0.0)
    return out


async def usage(
    store: Store,
    *,
    group_by: GroupBy,
    entity_id: str | None = None,
    day_from: str,
    day_to: str,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[UsageRow], int]:
    """Daily totals per key, user, group or model over [day_from, day_to] (inclusive), by day
    then entity; and how many such rows there are in all."""
    prefix = f"{group_by}:"
    table = spend_daily
    where: list[ColumnElement[bool]] = [table.c.day >= day_from, table.c.day <= day_to]
    if entity_id is not None:
        where.append(table.c.entity == prefix + entity_id)
    else:
        where.append(table.c.entity.startswith(prefix, autoescape=True))
    async with store.read() as conn:
        count = select(func.count()).select_from(table).where(*where)
        total = int((await conn.execute(count)).scalar_one())
        query = (
            select(table)
            .where(*where)
            .order_by(table.c.day, table.c.entity)
            .limit(limit)
            .offset(offset)
        )
        rows = (await conn.execute(query)).mappings().all()
    return [
        UsageRow(
            entity=row["entity"][len(prefix) :],
            day=row["day"],
            requests=int(row["requests"]),
            prompt_tokens=int(row["prompt_tokens"]),
            completion_tokens=int(row["completion_tokens"]),
            cost=float(row["cost"]),
        )
        for row in rows
    ], total


def _in_group(store: Store, group_id: str) -> ColumnElement[bool]:
    """``group_id`` is one of the row's ``group_ids`` (a JSON array)."""
    if store.dialect == "postgresql":
        return spend.c.group_ids.cast(JSONB).contains([group_id])
    members = func.json_each(spend.c.group_ids).table_valued("value")
    return select(members.c.value).where(members.c.value == group_id).exists()


async def spend_logs(
    store: Store,
    *,
    key_id: str | None = None,
    user_id: str | None = None,
    group_id: str | None = None,
    model: str | None = None,
    ts_from: float | None = None,
    ts_to: float | None = None,
    limit: int = 100,
    before: tuple[float, str] | None = None,
) -> list[SpendRecord]:
    """Requests newest first, filtered; ``ts_from`` inclusive, ``ts_to`` exclusive. For the
    next page pass ``before=(last.ts, last.request_id)`` of this page's last record."""
    where: list[ColumnElement[bool]] = []
    for column, value in ((spend.c.key_id, key_id), (spend.c.user_id, user_id)):
        if value is not None:
            where.append(column == value)
    if model is not None:
        where.append(spend.c.model == model)
    if group_id is not None:
        where.append(_in_group(store, group_id))
    if ts_from is not None:
        where.append(spend.c.ts >= ts_from)
    if ts_to is not None:
        where.append(spend.c.ts < ts_to)
    if before is not None:
        ts, request_id = before
        where.append(or_(spend.c.ts < ts, and_(spend.c.ts == ts, spend.c.request_id < request_id)))
    query = (
        select(spend)
        .where(*where)
        .order_by(spend.c.ts.desc(), spend.c.request_id.desc())
        .limit(limit)
    )
    async with store.read() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [SpendRecord(**{**row, "group_ids": tuple(row["group_ids"] or ())}) for row in rows]


async def count_spend(store: Store) -> int:
    async with store.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(spend))).scalar_one())
