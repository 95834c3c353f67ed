"""The admin API's input bounds: what the OpenAPI document states is what is enforced, and
client input gets a 400 naming the parameter, never a 500."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pllm.admin.schemas import MAX_TIMESTAMP
from tests.admin.client import Client


def bad(r: Any, param: str | None, code: str = "invalid_field") -> None:
    assert r.status == 400, r.body
    assert r.error["param"] == param and r.error["code"] == code, r.error


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"offset": str(2**70)}, "offset"),
        ({"offset": str(2**31)}, "offset"),
        ({"offset": "-1"}, "offset"),
        ({"limit": "5.0"}, "limit"),
        ({"limit": " 5"}, "limit"),
        ({"limit": "1e2"}, "limit"),
        ({"limit": ""}, "limit"),
    ],
)
def test_out_of_range_numbers_are_400s_naming_the_parameter(
    client: Client, query: dict[str, str], param: str
) -> None:
    bad(client.get("/admin/groups", query=query), param)
    bad(client.get("/admin/users", query=query), param)


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"include_revoked": "1"}, "include_revoked"),
        ({"include_revoked": "True"}, "include_revoked"),
        ({"user_id": ""}, "user_id"),
        ({"user_id": "u" * 257}, "user_id"),
    ],
)
def test_query_values_read_as_the_document_says(
    client: Client, query: dict[str, str], param: str
) -> None:
    bad(client.get("/admin/keys", query=query), param)


def test_query_edge_cases(client: Client) -> None:
    assert client.get("/admin/keys", query={"include_revoked": "true", "limit": "7"}).status == 200
    bad(client.get("/admin/usage", query={"to": ""}), "to")
    bad(client.get("/admin/spend/logs", query={"before": "yesterday"}), "before")
    assert client.get("/admin/spend/logs", query={"before": "1.5:req_x"}).status == 200
    bad(client.get("/spend/logs", query={"limit": "1001"}), "limit")
    r = client.get("/admin/keys", query={"user_id": b"\xff"})
    assert r.status == 400 and r.error["code"] == "invalid_query"


@pytest.mark.parametrize(
    "duration",
    ["\x1c5d\x1f", "5\x0bd", " \t5d", "99999999999d", "10000mo", "5d\n", "\u0663d", "5 days"],
)
def test_durations_outside_the_pattern(client: Client, duration: str) -> None:
    bad(client.post("/admin/keys", json={"duration": duration}), "duration")
    bad(client.post("/key/generate", json={"duration": duration}), "duration")


def test_the_longest_durations_are_dates(client: Client) -> None:
    for duration in ("9999mo", " 9999 w ", "9999999999s", "99999999m", "999999h", "99999d"):
        r = client.post("/key/generate", json={"duration": duration})
        assert r.status == 200, r.body
        assert r.json()["expires"].startswith(("2", "3"))  # years 2xxx-3xxx
    r = client.post("/admin/keys", json={"expires_at": MAX_TIMESTAMP})
    assert r.status == 201
    bad(client.post("/admin/keys", json={"expires_at": MAX_TIMESTAMP + 1}), "expires_at")


@pytest.mark.parametrize("user_id", ["a b", "a/b", "a\x1cb", "a\u2028b", "a\n", "", "x" * 129])
def test_ids_outside_the_pattern(client: Client, user_id: str) -> None:
    bad(client.post("/admin/users", json={"id": user_id}), "id")


def test_integral_floats_are_integers(client: Client) -> None:
    r = client.post("/admin/users", json={"id": "u1", "rpm": 5.0, "max_budget": 2})
    assert r.status == 201 and r.json()["rpm"] == 5 and r.json()["max_budget"] == 2.0
    bad(client.post("/admin/users", json={"rpm": 5.5}), "rpm")
    bad(client.post("/admin/users", json={"rpm": 2.0**31}), "rpm")
    r = client.post("/admin/users", body=b'{"rpm": 1e400}')
    assert r.status == 400 and "out of range" in r.error["message"], r.body


def test_nesting(client: Client) -> None:
    deep: Any = {}
    for _ in range(70):
        deep = {"x": deep}
    r = client.post("/admin/users", json={"metadata": deep})
    assert r.status == 400 and r.error["code"] == "json_too_deep", r.body
    body = b'{"metadata":' + b"[" * 5000 + b"]" * 5000 + b"}"
    r = client.post("/admin/users", body=body)
    assert r.status == 400 and r.error["code"] == "invalid_json", r.body


def test_litellm_inputs(client: Client) -> None:
    bad(client.post("/key/delete", json={"keys": []}), "keys")
    bad(client.post("/key/generate", json={"budget_duration": " 1D "}), "budget_duration")
    r = client.post("/key/generate", json={"budget_duration": "1d", "max_budget": 5})
    assert r.status == 200 and r.json()["budget_duration"] == "1d"
    r = client.get("/key/info")
    assert r.status == 400 and r.error["code"] == "key_required"


def test_rules_the_schema_cannot_state(client: Client) -> None:
    bad(
        client.get("/admin/usage", query={"from": "2024-02-01", "to": "2024-01-01"}),
        "from",
        "conflicting_fields",
    )
    bad(
        client.post("/admin/keys", json={"duration": "1d", "expires_at": time.time() + 5}),
        "duration",
        "conflicting_fields",
    )
    bad(client.post("/admin/users", json={"max_budget": 1, "soft_budget": 2}), "soft_budget",
        "conflicting_fields")  # fmt: skip


def test_an_empty_body_is_an_empty_object(client: Client) -> None:
    assert client.post("/admin/users").status == 201
    user = client.post("/admin/users").json()["id"]
    group = client.post("/admin/groups").json()["id"]
    bad(client.post(f"/admin/groups/{group}/members"), "user_id", "missing_field")
    assert client.patch(f"/admin/users/{user}").status == 200


@pytest.mark.parametrize("listener_path", ["/admin/users", "/openapi.json"])
def test_head_limits(client: Client, listener_path: str) -> None:
    headers = {f"x-h{i}": "1" for i in range(70)}
    r = client.get(listener_path, headers=headers)
    assert r.status == 431 and r.error["code"] == "too_many_headers"
