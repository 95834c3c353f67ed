"""The cache key: equal requests hash equally whatever their key order, number style or
delivery fields; any answer-changing difference changes it."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pllm.cache.key import IGNORED_FIELDS, cache_key, canonical

_scalars = st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.text(max_size=8)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=12,
)
_payloads = st.dictionaries(
    st.text(min_size=1, max_size=8).filter(lambda k: k not in IGNORED_FIELDS), _json, max_size=6
)


def _shuffled(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


@given(_payloads, st.integers(0, 2**32))
def test_key_order_does_not_matter(payload: dict[str, Any], seed: int) -> None:
    other = _shuffled(payload, random.Random(seed))
    assert cache_key("chat/completions", "m", "", payload) == cache_key(
        "chat/completions", "m", "", other
    )


@given(_payloads, st.sampled_from(sorted(IGNORED_FIELDS)), _json)
def test_delivery_fields_do_not_matter(payload: dict[str, Any], field: str, value: Any) -> None:
    assert canonical(payload) == canonical({**payload, field: value})


@given(_payloads, st.text(min_size=1, max_size=8), _scalars)
def test_a_changed_field_changes_the_key(payload: dict[str, Any], name: str, value: Any) -> None:
    if name in IGNORED_FIELDS or value is None or payload.get(name) == value:
        return
    changed = {**payload, name: value}
    assert cache_key("chat/completions", "m", "", payload) != cache_key(
        "chat/completions", "m", "", changed
    )


@given(st.integers(-1000, 1000))
def test_integral_floats_equal_ints(n: int) -> None:
    assert canonical({"temperature": float(n)}) == canonical({"temperature": n})


def test_model_endpoint_and_scope_are_part_of_the_key() -> None:
    p = {"messages": [{"role": "user", "content": "x"}]}
    keys = {
        cache_key("chat/completions", "a", "", p),
        cache_key("chat/completions", "b", "", p),
        cache_key("completions", "a", "", p),
        cache_key("chat/completions", "a", "k:1", p),
    }
    assert len(keys) == 4
    # Separators keep ("ab", "") apart from ("a", "b").
    assert cache_key("x", "ab", "", p) != cache_key("x", "a", "b", p)
