"""Per-request control: the body's ``cache`` field and ``Cache-Control``."""

from __future__ import annotations

from typing import Any

import pytest

from pllm.cache.control import control_of
from pllm.errors import GatewayError


def test_defaults_and_removal() -> None:
    payload: dict[str, Any] = {"model": "m", "cache": {"ttl": 5, "s-maxage": 2, "namespace": "n"}}
    c = control_of(payload, {})
    assert "cache" not in payload
    assert (c.read, c.write, c.ttl, c.max_age, c.namespace) == (True, True, 5.0, 2.0, "n")


def test_no_cache_no_store() -> None:
    c = control_of({"cache": {"no-cache": True, "no-store": True}}, {})
    assert (c.read, c.write) == (False, False)
    c = control_of({"cache": {"no-cache": False}}, {b"cache-control": b"No-Store, max-age=0"})
    assert (c.read, c.write) == (True, False)
    c = control_of({}, {b"cache-control": b"no-cache"})
    assert (c.read, c.write) == (False, True)


@pytest.mark.parametrize(
    "bad",
    [
        "yes",
        {"ttl": 0},
        {"ttl": True},
        {"s-maxage": "1"},
        {"no-cache": 1},
        {"namespace": ""},
        {"other": 1},
    ],
)
def test_malformed_is_400(bad: Any) -> None:
    with pytest.raises(GatewayError) as e:
        control_of({"cache": bad}, {})
    assert e.value.status == 400
