"""/admin/budgets, /admin/usage, /admin/spend/logs and LiteLLM's /spend/logs, over real spend
rows written the way the gateway writes them."""

from __future__ import annotations

import asyncio
import datetime
import time

import pytest

from pllm.admin.app import AdminApp
from pllm.admin.periods import parse_duration, period_start
from pllm.spend.record import SpendRecord
from pllm.store.spend_store import insert_spend
from tests.admin.client import Client
from tests.admin.conftest import BOTH_DATABASES

NOW = time.time()
DAY = 86400.0


def _spend(app: AdminApp, runner: asyncio.Runner, *records: SpendRecord) -> None:
    assert app.store is not None
    runner.run(insert_spend(app.store, list(records)))


def _record(n: int, ts: float, **fields: object) -> SpendRecord:
    base: dict[str, object] = {
        "request_id": f"req-{n:03d}",
        "ts": ts,
        "endpoint": "chat",
        "status": 200,
        "latency_ms": 250.0,
        "model": "gpt-4o",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cost": 1.0,
    }
    base.update(fields)
    return SpendRecord(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("period", "day", "start"),
    [
        ("daily", "2024-05-15", "2024-05-15"),
        ("weekly", "2024-05-15", "2024-05-13"),  # a Wednesday; Monday before
        ("weekly", "2024-05-13", "2024-05-13"),
        ("weekly", "2024-05-19", "2024-05-13"),  # Sunday still in Monday's week
        ("monthly", "2024-05-15", "2024-05-01"),
        ("monthly", "2024-03-01", "2024-03-01"),
    ],
)
def test_period_start_is_calendar_utc(period: str, day: str, start: str) -> None:
    assert period_start(period, datetime.date.fromisoformat(day)) == datetime.date.fromisoformat(
        start
    )
    assert period_start("total", datetime.date.fromisoformat(day)) is None


def test_durations() -> None:
    assert [parse_duration(d) for d in ("30s", "15m", "12h", "30d", "2w", "1mo")] == [
        30,
        900,
        43200,
        30 * 86400,
        14 * 86400,
        30 * 86400,
    ]


@BOTH_DATABASES
def test_budgets_show_spend_in_the_current_period(
    client: Client, app: AdminApp, runner: asyncio.Runner
) -> None:
    client.post(
        "/admin/users", json={"id": "u", "name": "U", "max_budget": 5, "budget_period": "daily"}
    )
    client.post("/admin/groups", json={"id": "g", "max_budget": 100})  # total
    client.post("/admin/users", json={"id": "nobudget"})
    key = client.post(
        "/admin/keys",
        json={
            "alias": "k",
            "user_id": "u",
            "max_budget": 50,
            "budget_period": "monthly",
            "soft_budget": 40,
        },
    ).json()["key"]
    _spend(
        app, runner,
        _record(1, NOW, key_id=key["id"], user_id="u", group_ids=("g",), cost=2.5),
        _record(2, NOW - 45 * DAY, key_id=key["id"], user_id="u", group_ids=("g",), cost=7.0),
    )  # fmt: skip
    data = client.get("/admin/budgets").json()["data"]
    by = {(b["entity_type"], b["id"]): b for b in data}
    assert set(by) == {("key", key["id"]), ("user", "u"), ("group", "g")}
    today = datetime.datetime.now(datetime.UTC).date()
    k = by[("key", key["id"])]
    assert (k["spend"], k["remaining"], k["soft_budget"], k["name"]) == (2.5, 47.5, 40, "k")
    assert k["period_start"] == today.replace(day=1).isoformat()
    u = by[("user", "u")]
    assert (u["spend"], u["period_start"], u["budget_period"]) == (2.5, today.isoformat(), "daily")
    g = by[("group", "g")]
    assert (g["spend"], g["period_start"], g["budget_period"]) == (9.5, None, "total")


@BOTH_DATABASES
def test_put_and_delete_budgets(client: Client) -> None:
    client.post("/admin/users", json={"id": "u"})
    client.post("/admin/groups", json={"id": "g"})
    key_id = client.post("/admin/keys", json={}).json()["key"]["id"]
    r = client.put(
        f"/admin/budgets/key/{key_id}", json={"max_budget": 3, "budget_period": "weekly"}
    )
    assert r.status == 200 and r.json()["max_budget"] == 3 and r.json()["spend"] == 0.0
    assert client.get(f"/admin/keys/{key_id}").json()["budget_period"] == "weekly"
    assert (
        client.put("/admin/budgets/user/u", json={"max_budget": 1}).json()["budget_period"]
        == "total"
    )
    assert (
        client.put("/admin/budgets/team/g", json={"max_budget": 9, "soft_budget": 8}).status == 200
    )
    assert len(client.get("/admin/budgets").json()["data"]) == 3

    r = client.put("/admin/budgets/user/u", json={"max_budget": 1, "soft_budget": 2})
    assert r.status == 400 and r.error["param"] == "soft_budget"
    r = client.put("/admin/budgets/user/u", json={"budget_period": "daily"})
    assert r.status == 400 and r.error["param"] == "max_budget"
    assert client.put("/admin/budgets/user/ghost", json={"max_budget": 1}).status == 404
    assert client.put("/admin/budgets/model/x", json={"max_budget": 1}).status == 404

    assert client.delete("/admin/budgets/group/g").status == 200
    assert client.get("/admin/groups/g").json()["max_budget"] is None
    assert {b["entity_type"] for b in client.get("/admin/budgets").json()["data"]} == {
        "key",
        "user",
    }


@BOTH_DATABASES
def test_usage_by_entity_and_day(client: Client, app: AdminApp, runner: asyncio.Runner) -> None:
    today = datetime.datetime.now(datetime.UTC).date()
    midday = datetime.datetime.combine(today, datetime.time(12), datetime.UTC).timestamp()
    _spend(
        app, runner,
        _record(1, midday, key_id="k1", model="a", cost=1.0),
        _record(2, midday, key_id="k1", model="b", cost=2.0),
        _record(3, midday - DAY, key_id="k2", model="a", cost=4.0),
        _record(4, midday - 40 * DAY, key_id="k1", model="a", cost=8.0),
    )  # fmt: skip
    page = client.get("/admin/usage", query={"group_by": "model"}).json()
    assert page["group_by"] == "model" and page["to"] == today.isoformat()
    assert page["from"] == (today - datetime.timedelta(days=29)).isoformat()
    rows = [(r["day"], r["id"], r["requests"], r["cost"]) for r in page["data"]]
    yesterday = (today - datetime.timedelta(days=1)).isoformat()
    assert rows == [
        (yesterday, "a", 1, 4.0),
        (today.isoformat(), "a", 1, 1.0),
        (today.isoformat(), "b", 1, 2.0),
    ]
    assert page["total"] == 3

    k1 = client.get(
        "/admin/usage",
        query={
            "group_by": "key",
            "id": "k1",
            "from": (today - datetime.timedelta(days=60)).isoformat(),
        },
    ).json()
    assert [(r["id"], r["cost"], r["prompt_tokens"]) for r in k1["data"]] == [
        ("k1", 8.0, 10),
        ("k1", 3.0, 20),
    ]
    one = client.get("/admin/usage", query={"group_by": "model", "limit": 1, "offset": 1}).json()
    assert len(one["data"]) == 1 and one["total"] == 3

    for query, param in [
        ({"group_by": "team"}, "group_by"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2024-13-01"}, "to"),
        ({"from": "2024-02-01", "to": "2024-01-01"}, "from"),
    ]:
        r = client.get("/admin/usage", query=query)
        assert r.status == 400 and r.error["param"] == param, query


@BOTH_DATABASES
def test_spend_logs_filters_and_pages(
    client: Client, app: AdminApp, runner: asyncio.Runner
) -> None:
    records = [
        _record(
            i,
            NOW - i * 60,
            key_id="k1" if i % 2 else "k2",
            user_id="u",
            group_ids=("g",) if i < 3 else (),
            model="m" if i < 5 else "n",
        )
        for i in range(7)
    ]
    _spend(app, runner, *records)
    everything = client.get("/admin/spend/logs").json()
    assert [r["request_id"] for r in everything["data"]] == [f"req-{i:03d}" for i in range(7)]
    assert everything["next_before"] is None
    row = everything["data"][0]
    assert row["key_id"] == "k2" and row["group_ids"] == ["g"] and row["latency_ms"] == 250.0

    seen: list[str] = []
    before = None
    while True:
        query = {"limit": 3, **({"before": before} if before else {})}
        page = client.get("/admin/spend/logs", query=query).json()
        seen.extend(r["request_id"] for r in page["data"])
        before = page["next_before"]
        if before is None:
            break
    assert seen == [f"req-{i:03d}" for i in range(7)]

    def ids(**query: object) -> list[str]:
        return [
            r["request_id"] for r in client.get("/admin/spend/logs", query=query).json()["data"]
        ]

    assert ids(key_id="k1") == ["req-001", "req-003", "req-005"]
    assert ids(group_id="g") == ["req-000", "req-001", "req-002"]
    assert ids(model="n") == ["req-005", "req-006"]
    assert ids(user_id="nobody") == []
    today = datetime.datetime.now(datetime.UTC).date()
    assert len(ids(**{"from": today.isoformat(), "to": today.isoformat()})) == sum(
        1 for r in records if datetime.datetime.fromtimestamp(r.ts, datetime.UTC).date() == today
    )
    r = client.get("/admin/spend/logs", query={"before": "garbage"})
    assert r.status == 400 and r.error["param"] == "before"


@BOTH_DATABASES
def test_litellm_spend_logs(client: Client, app: AdminApp, runner: asyncio.Runner) -> None:
    made = client.post("/key/generate", json={}).json()
    _spend(
        app, runner,
        _record(1, NOW - 10, key_id=made["token"], user_id="u1", group_ids=("t",), cost=0.5, prompt_tokens=7, completion_tokens=3),
        _record(2, NOW - 20, key_id="other", status=500),
    )  # fmt: skip
    r = client.get("/spend/logs", query={"api_key": made["key"]})
    assert r.status == 200
    rows = r.json()
    assert len(rows) == 1
    row = rows[0]
    assert row["request_id"] == "req-001" and row["api_key"] == made["token"]
    assert (row["user"], row["team_id"], row["model"], row["spend"]) == ("u1", "t", "gpt-4o", 0.5)
    assert (row["total_tokens"], row["prompt_tokens"], row["completion_tokens"]) == (10, 7, 3)
    start = datetime.datetime.fromisoformat(row["startTime"])
    end = datetime.datetime.fromisoformat(row["endTime"])
    assert end - start == datetime.timedelta(milliseconds=250)
    assert made["key"] not in r.body.decode()
    assert len(client.get("/spend/logs").json()) == 2
    assert [x["status"] for x in client.get("/spend/logs").json()] == ["success", "failure"]
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    assert (
        len(
            client.get(
                "/spend/logs", query={"user_id": "u1", "start_date": today, "end_date": today}
            ).json()
        )
        <= 1
    )
    assert client.get("/spend/logs", query={"api_key": "sk-nope"}).status == 404
