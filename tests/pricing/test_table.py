from __future__ import annotations

import dataclasses
import re
from datetime import date
from importlib import resources
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pllm.config.schema import DeploymentConfig
from pllm.pricing import UNKNOWN_PRICE, Price, PriceTable
from pllm.pricing.table import DEFAULT_MAX_OUTPUT_TOKENS

TABLE = PriceTable.load()


def raw_file() -> dict[str, Any]:
    data = resources.files("pllm.pricing").joinpath("prices.json").read_bytes()
    out: dict[str, Any] = msgspec.json.decode(data)
    return out


def dep(upstream: str, provider: str = "openai", **overrides: float) -> DeploymentConfig:
    return DeploymentConfig(
        index=0, model_name="m", provider=provider, upstream_model=upstream, **overrides
    )


# --- the shipped file ---------------------------------------------------------------------


def test_file_ships_inside_the_package_and_loads_once() -> None:
    assert resources.files("pllm.pricing").joinpath("prices.json").is_file()
    assert PriceTable.load() is PriceTable.load()
    assert len(TABLE.entries) > 50


def test_file_says_where_and_when_the_prices_are_from() -> None:
    raw = raw_file()
    assert raw["_source"] and all(u.startswith("https://") for u in raw["_source"].values())
    assert {"openai", "anthropic", "google", "mistral", "bedrock"} <= set(raw["_source"])
    date.fromisoformat(raw["_date"])
    assert TABLE.date == raw["_date"]
    assert "override" in raw["_note"]


def test_every_entry_is_sane() -> None:
    raw = raw_file()
    assert set(raw["models"]) == set(TABLE.entries)
    for name, price in TABLE.entries.items():
        assert name == name.strip().lower(), name
        assert price.known
        assert price.input >= 0 and price.output >= 0, name
        # Nothing here costs $1 per token; a value that large is a per-million typo.
        assert price.input < 1e-3 and price.output < 1e-3, name
        if price.cached_input is not None:
            assert 0 <= price.cached_input <= price.input, name
        if price.max_output_tokens is not None:
            assert price.max_output_tokens >= 1, name
        if TABLE.mode(name) == "chat":
            assert price.input > 0 and price.output >= price.input, name
        else:
            assert price.output == 0 and price.max_output_tokens is None, name


def test_chat_models_without_an_output_limit_are_mistral_ones() -> None:
    # Mistral publishes no output limits; every other chat entry must have one.
    mistral = re.compile(r"^(mistral|codestral|ministral|open-m|pixtral|magistral|devstral)")
    for name, price in TABLE.entries.items():
        if TABLE.mode(name) == "chat" and price.max_output_tokens is None:
            assert mistral.match(name), name


def test_invalid_files_are_refused() -> None:
    good = b'{"_source": {}, "_date": "2025-01-01", "models": {"m": {"input": 1, "output": 2}}}'
    assert PriceTable.from_json(good).lookup("m") == Price(1.0, 2.0)
    with pytest.raises(ValueError, match="invalid price table"):
        PriceTable.from_json(good.replace(b'"input": 1', b'"input": -1'))
    with pytest.raises(ValueError, match="invalid price table"):
        PriceTable.from_json(good.replace(b'"input"', b'"inptu"'))
    with pytest.raises(ValueError, match="point at no model"):
        PriceTable.from_json(good.replace(b'"models"', b'"aliases": {"a": "nope"}, "models"'))


# --- lookup and normalisation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", "gpt-4o"),
        ("GPT-4o", "gpt-4o"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai/gpt-4.1-mini", "gpt-4.1-mini"),
        ("azure/gpt-4o", "gpt-4o"),
        ("azure/gpt-35-turbo", "gpt-3.5-turbo"),
        ("gpt-4-0613", "gpt-4"),
        ("gpt-4-0125-preview", "gpt-4-turbo"),
        ("gpt-4-turbo-2024-04-09", "gpt-4-turbo"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("anthropic/claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-sonnet-4-0", "claude-sonnet-4"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("vertex_ai/claude-3-7-sonnet@20250219", "claude-3-7-sonnet"),
        ("gemini/gemini-2.5-flash", "gemini-2.5-flash"),
        ("vertex_ai/gemini-1.5-pro-002", "gemini-1.5-pro"),
        ("gemini-2.5-pro-preview-06-05", "gemini-2.5-pro"),
        ("gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("mistral/mistral-large-latest", "mistral-large"),
        ("mistral-large-2411", "mistral-large"),
        ("codestral-2501", "codestral"),
        ("bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0", None),
        ("bedrock/us.anthropic.claude-3-5-sonnet-20240620-v1:0", None),
        ("us.meta.llama3-2-11b-instruct-v1:0", "meta.llama3-2-11b-instruct-v1:0"),
        ("eu.amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"),
        ("bedrock/converse/apac.amazon.nova-micro-v1:0", "amazon.nova-micro-v1:0"),
        # A Bedrock id the table lacks is priced as the vendor's own model.
        ("anthropic.claude-opus-4-5-20251101-v1:0", "claude-opus-4-5"),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", None),
    ],
)
def test_lookup_normalises(model: str, expected: str | None) -> None:
    want = TABLE.entries[expected if expected else _bedrock_key(model)]
    assert TABLE.lookup(model) == want


def _bedrock_key(model: str) -> str:
    tail = model.rsplit("/", 1)[-1]
    return re.sub(r"^(us|eu|global)\.", "", tail)


def test_exact_entries_win_over_normalised_ones() -> None:
    assert TABLE.lookup("gpt-4o-2024-05-13") == TABLE.entries["gpt-4o-2024-05-13"]
    assert TABLE.lookup("gpt-4o-2024-05-13") != TABLE.entries["gpt-4o"]
    assert TABLE.lookup("mistral-small-2409") != TABLE.entries["mistral-small"]
    assert TABLE.lookup("mistral.mistral-large-2402-v1:0") != TABLE.entries["mistral-large"]


@pytest.mark.parametrize(
    "model",
    ["", "my-azure-deployment", "gpt-4o-audio-preview", "llama3:8b", "2024-08-06", "-latest"],
)
def test_unknown_models_have_no_price(model: str) -> None:
    assert TABLE.lookup(model) is None


# --- deployments --------------------------------------------------------------------------


def test_deployment_uses_the_table() -> None:
    assert TABLE.for_deployment(dep("gpt-4o-2024-08-06")) == TABLE.entries["gpt-4o"]


def test_each_override_replaces_one_field() -> None:
    base = TABLE.entries["gpt-4o"]
    p = TABLE.for_deployment(dep("gpt-4o", output_cost_per_token=1e-5 * 2))
    assert p == dataclasses.replace(base, output=2e-5)
    p = TABLE.for_deployment(
        dep("gpt-4o", input_cost_per_token=0.0, cached_input_cost_per_token=0.0)
    )
    assert p == dataclasses.replace(base, input=0.0, cached_input=0.0)


def test_unknown_model_costs_zero_and_says_so() -> None:
    p = TABLE.for_deployment(dep("my-azure-deployment", provider="azure"))
    assert p is UNKNOWN_PRICE and not p.known
    assert p.cost(1000, 1000, 10) == 0.0
    # Half an override still leaves a side unpriced.
    assert not TABLE.for_deployment(dep("x", input_cost_per_token=1e-6)).known
    full = TABLE.for_deployment(dep("x", input_cost_per_token=1e-6, output_cost_per_token=2e-6))
    assert full == Price(1e-6, 2e-6)


def test_mock_is_free_unless_priced() -> None:
    free = TABLE.for_deployment(dep("gpt-4o", provider="mock"))
    assert free.known and free.cost(10**6, 10**6) == 0.0
    priced = TABLE.for_deployment(dep("anything", provider="mock", output_cost_per_token=1e-6))
    assert priced.known and priced.cost(100, 10) == pytest.approx(1e-5)


# --- arithmetic ---------------------------------------------------------------------------


def test_cost_arithmetic() -> None:
    p = Price(input=2.5e-6, output=1e-5, cached_input=1.25e-6)
    assert p.cost(1000, 500) == pytest.approx(0.0025 + 0.005)
    # 400 of the 1000 prompt tokens were cached.
    assert p.cost(1000, 500, 400) == pytest.approx(600 * 2.5e-6 + 400 * 1.25e-6 + 0.005)
    # No cached price: cached tokens cost what other prompt tokens do.
    assert Price(2e-6, 8e-6).cost(1000, 0, 400) == pytest.approx(0.002)
    # More cached than prompt tokens is an inconsistent report: never a negative cost.
    assert p.cost(100, 0, 1000) == pytest.approx(100 * 1.25e-6)


def test_max_cost() -> None:
    p = Price(input=1e-6, output=4e-6, max_output_tokens=1000)
    assert p.max_cost(500, 100) == pytest.approx(500e-6 + 400e-6)
    assert p.max_cost(500, None) == pytest.approx(500e-6 + 4000e-6)
    assert Price(1e-6, 1e-6).max_cost(0) == pytest.approx(DEFAULT_MAX_OUTPUT_TOKENS * 1e-6)


rates = st.floats(min_value=0, max_value=1e-3, allow_nan=False)
tokens = st.integers(min_value=0, max_value=2_000_000)


@st.composite
def prices(draw: st.DrawFn) -> Price:
    return Price(
        input=draw(rates),
        output=draw(rates),
        cached_input=draw(st.none() | rates),
        max_output_tokens=draw(st.none() | st.integers(1, 200_000)),
    )


@given(prices(), tokens, tokens, tokens, tokens, tokens, tokens)
def test_cost_is_linear_in_tokens(
    p: Price, pa: int, ca: int, ka: int, pb: int, cb: int, kb: int
) -> None:
    ka, kb = min(ka, pa), min(kb, pb)
    together = p.cost(pa + pb, ca + cb, ka + kb)
    assert together == pytest.approx(p.cost(pa, ca, ka) + p.cost(pb, cb, kb), rel=1e-9, abs=1e-12)


@given(prices(), tokens, tokens, tokens, st.integers(0, 1000))
def test_cost_is_monotonic_in_tokens(
    p: Price, prompt: int, completion: int, cached: int, d: int
) -> None:
    cached = min(cached, prompt)
    c = p.cost(prompt, completion, cached)
    assert c >= 0
    assert p.cost(prompt + d, completion, cached) >= c
    assert p.cost(prompt, completion + d, cached) >= c


@given(prices(), tokens, st.none() | st.integers(0, 200_000), st.data())
def test_max_cost_bounds_any_reply_within_max_tokens(
    p: Price, prompt: int, max_tokens: int | None, data: st.DataObject
) -> None:
    limit = max_tokens
    if limit is None:
        limit = p.max_output_tokens or DEFAULT_MAX_OUTPUT_TOKENS
    completion = data.draw(st.integers(0, limit))
    cached = data.draw(st.integers(0, prompt))
    assert p.max_cost(prompt, max_tokens) >= p.cost(prompt, completion, cached) * (1 - 1e-12)
