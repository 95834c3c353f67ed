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
from sqlalchemy.exc import IntegrityError

from pllm.spend.record import SpendRecord
from pllm.store.engine import Store
from pllm.store.rows import upsert
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


# Spend rows are written with the driver's own executemany: SQLAlchemy's per-row parameter
# processing cost ~50 µs a row, as much as serving the request; this is ~3 µs.
_SPEND_COLUMNS = (
    "request_id",
    "ts",
    "key_id",
    "user_id",
    "group_ids",
    "model",
    "deployment",
    "endpoint",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost",
    "latency_ms",
    "ttft_ms",
    "status",
    "attempts",
    "streamed",
    "cache_hit",
    "error",
)
_encode_json = msgspec.json.Encoder().encode


def _insert_sql(dialect: str) -> str:
    n = len(_SPEND_COLUMNS)
    marks = (
        "?, " * (n - 1) + "?" if dialect == "sqlite" else ", ".join(f"${i + 1}" for i in range(n))
    )
    # Only constant table and column names are formatted in; values are parameters.
    columns = ", ".join(_SPEND_COLUMNS)
    return f"INSERT INTO {spend.name} ({columns}) VALUES ({marks})"  # noqa: S608


_INSERT_SQL = {dialect: _insert_sql(dialect) for dialect in ("sqlite", "postgresql")}
_INSERT_IGNORING_SQL = {
    dialect: sql + " ON CONFLICT (request_id) DO NOTHING" for dialect, sql in _INSERT_SQL.items()
}


def _as_row(r: SpendRecord) -> tuple[Any, ...]:
    return (
        r.request_id,
        r.ts,
        r.key_id,
        r.user_id,
        _encode_json(r.group_ids).decode(),
        r.model,
        r.deployment,
        r.endpoint,
        r.prompt_tokens,
        r.completion_tokens,
        r.cached_tokens,
        r.cost,
        r.latency_ms,
        r.ttft_ms,
        r.status,
        r.attempts,
        r.streamed,
        r.cache_hit,
        r.error,
    )


async def insert_spend(store: Store, records: Sequence[SpendRecord]) -> dict[str, float]:
    """Writes the records that are new (by ``request_id``) and adds them to the daily
    counters, in one transaction. Returns entity -> cost added by this call.

    A batch is almost always all new, so it is inserted as is first; only when that hits a
    duplicate (the spool re-sending after a crash) is it rolled back to a savepoint and the
    records already present are looked up and left out. On SQLite the transaction holds the
    database's write lock; on PostgreSQL two writers could only race on one request id if
    two processes drained the same spool segment, which the spool's file locks rule out."""
    unique = {r.request_id: r for r in reversed(records)}  # first occurrence wins
    if not unique:
        return {}
    # Sorted, so that concurrent writers (PostgreSQL) take row locks in the same order and
    # cannot deadlock each other.
    batch = [unique[rid] for rid in sorted(unique)]
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
        fresh = batch
        try:
            async with conn.begin_nested():
                await conn.exec_driver_sql(_INSERT_SQL[store.dialect], [_as_row(r) for r in batch])
        except IntegrityError:
            found = await conn.execute(
                select(spend.c.request_id).where(spend.c.request_id.in_(list(unique)))
            )
            present = {row[0] for row in found}
            fresh = [r for r in batch if r.request_id not in present]
            if not fresh:
                return {}
            sql = _INSERT_IGNORING_SQL[store.dialect]
            await conn.exec_driver_sql(sql, [_as_row(r) for r in fresh])
        daily, added = _daily_totals(fresh)
        await conn.execute(add, daily)
    return added


def _daily_totals(
    records: Iterable[SpendRecord],
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """The counter rows to add (sorted by entity and day, for the lock order) and the cost
    per entity."""
    # Records of one caller and model share every counter row: sum per (who, model, day)
    # first, so the per-entity fan-out happens once per combination, not once per record.
    combos: dict[tuple[Any, ...], list[Any]] = {}
    days: dict[int, str] = {}
    for r in records:
        epoch_day = int(r.ts // 86400)
        day = days.get(epoch_day)
        if day is None:
            day = days[epoch_day] = utc_day(r.ts)
        combo = (r.key_id, r.user_id, r.group_ids, r.model, day)
        total = combos.get(combo)
        if total is None:
            combos[combo] = [1, r.prompt_tokens, r.completion_tokens, r.cost, r]
        else:
            total[0] += 1
            total[1] += r.prompt_tokens
            total[2] += r.completion_tokens
            total[3] += r.cost
    totals: dict[tuple[str, str], list[Any]] = {}
    added: dict[str, float] = {}
    for (*_, day), (n, prompt, completion, cost, sample) in combos.items():
        for entity in sample.entities():
            total = totals.setdefault((entity, day), [0, 0, 0, 0.0])
            total[0] += n
            total[1] += prompt
            total[2] += completion
            total[3] += cost
            added[entity] = added.get(entity, 0.0) + cost
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
