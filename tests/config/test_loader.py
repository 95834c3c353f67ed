from __future__ import annotations

from pathlib import Path

import pytest

from pllm.config import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text(text)
    return p


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_settings(write(tmp_path, text), env or {})
    return [f"{p.path}: {p.reason}" for p in e.value.problems]


BASIC = """
model_list:
  - model_name: gpt
    litellm_params:
      model: openai/gpt-4o
      api_key: ${KEY}
      rpm: 60
      tpm: 90000
      timeout: 30
    priority: 10
    weight: 2
  - model_name: gpt
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/KEY2
      api_base: http://h:1/v1/
general_settings:
  master_key: ${MASTER:-sk-default}
"""


def test_litellm_style_entries_and_secret_references(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, BASIC), {"KEY": "k1", "KEY2": "k2"})
    a, b = s.deployments
    assert (a.model_name, a.provider, a.upstream_model) == ("gpt", "openai", "gpt-4o")
    assert (a.api_key, a.rpm, a.tpm, a.priority, a.weight) == ("k1", 60, 90000, 10, 2.0)
    assert a.timeouts.first_byte == 30 and a.timeouts.stream_first_byte == 30
    assert b.api_key == "k2" and b.api_base == "http://h:1/v1"
    assert s.general.master_key == "sk-default"
    assert s.model_names() == ["gpt"]
    assert "k1" not in repr(s) and "sk-default" not in repr(s)


def test_bad_models_are_named_and_values_never_shown(tmp_path: Path) -> None:
    text = BASIC.replace(
        "model: openai/gpt-4o\n      api_key: ${KEY}", "model: nope\n      api_key: ${KEY}"
    ).replace("model: openai/gpt-4o\n      api_key: os.environ/KEY2", "model: 'azure/'")
    found = problems(tmp_path, text, {"KEY": "super-secret-value"})
    assert found == [
        "model_list[0].litellm_params.model: 'nope' names no provider and is not a model pllm "
        "knows: write it as 'provider/model-name', e.g. 'openai/nope' or 'hosted_vllm/nope'",
        "model_list[1].litellm_params.model: must look like 'provider/model-name', "
        "e.g. openai/gpt-4o",
    ]
    assert all("super-secret-value" not in p for p in found)


def test_an_unset_credential_variable_is_a_warning_naming_it(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, BASIC), {"KEY": "k1"})
    a, b = s.deployments
    assert (a.unset_env, b.unset_env) == ((), ("KEY2",))
    assert b.api_key is None and b.api_base == "http://h:1/v1"
    assert [f"{w.path}: {w.reason}" for w in s.warnings] == [
        "model_list[1].litellm_params: KEY2 is not set: gpt is not configured (its requests "
        "get 503 deployment_unconfigured; the other models serve)"
    ]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = """
model_list:
  - model_nam: x
    litellm_params: {model: openai/a, timout: 5, rpm: many}
  - model_name: y
    litellm_params: {model: openai/b, api_key: [1]}
general_settings: {master_key: 5, log_level: loud}
servr: {}
"""
    found = problems(tmp_path, text)
    assert "model_list[0].model_nam: unknown key (did you mean 'model_name'?)" in found
    assert "model_list[0].model_name: is required and must be a non-empty string" in found
    assert "model_list[0].litellm_params.timout: unknown key (did you mean 'timeout'?)" in found
    assert "model_list[0].litellm_params.rpm: must be an integer" in found
    assert "model_list[1].litellm_params.api_key: must be a string" in found
    assert "general_settings.master_key: must be a string" in found
    assert any(p.startswith("general_settings.log_level: must be one of") for p in found)
    assert "servr: unknown key (did you mean 'server'?)" in found


def test_requires_env_skips_an_entry_with_a_note(tmp_path: Path) -> None:
    text = """
model_list:
  - model_name: m
    litellm_params: {model: mock/m}
  - model_name: gpt
    requires_env: OPENAI_API_KEY
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/OPENAI_API_KEY}
"""
    s = load_settings(write(tmp_path, text), {})
    assert [d.model_name for d in s.deployments] == ["m"]
    assert any("OPENAI_API_KEY not set" in n for n in s.notes)
    s = load_settings(write(tmp_path, text), {"OPENAI_API_KEY": "sk"})
    assert [d.model_name for d in s.deployments] == ["m", "gpt"]


def test_litellm_only_settings_load_with_a_note(tmp_path: Path) -> None:
    text = """
model_list:
  - model_name: m
    litellm_params: {model: mock/m, drop_params: true, some_vendor_thing: 1}
    model_info: {id: abc}
litellm_settings: {drop_params: true}
router_settings: {routing_strategy: simple-shuffle}
"""
    s = load_settings(write(tmp_path, text), {})
    assert any("drop_params" in n for n in s.notes)
    assert any("some_vendor_thing" in n for n in s.notes)
    assert s.router.default_strategy == "simple-shuffle"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("model_list: [", "not valid YAML"),
        ("- a\n- b\n", "the top level must be a mapping"),
        ("general_settings: {}\n", "model_list: is missing"),
        ("model_list: []\n", "must be a non-empty list"),
    ],
)
def test_structural_problems(tmp_path: Path, text: str, expected: str) -> None:
    assert any(expected in p for p in problems(tmp_path, text))


def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_settings(tmp_path / "missing.yaml", {})
    assert str(tmp_path / "missing.yaml") in str(e.value)


def test_body_cap_accepts_the_litellm_megabyte_setting(tmp_path: Path) -> None:
    text = "model_list: [{model_name: m, litellm_params: {model: mock/m}}]\n"
    text += "general_settings: {max_request_size_mb: 2}\n"
    assert (
        load_settings(write(tmp_path, text), {}).general.max_request_body_bytes == 2 * 1024 * 1024
    )


ROUTED = """
model_list:
  - {model_name: a, litellm_params: {model: mock/a, max_parallel_requests: 4}}
  - {model_name: b, litellm_params: {model: mock/b}}
  - model_name: c
    requires_env: C_KEY
    litellm_params: {model: mock/c}
router_settings:
  routing_strategy: {default: least-busy, a: latency-based-routing}
  num_retries: 3
  allowed_fails: 2
  cooldown_time: 1.5
  fallbacks: [{a: [b, c]}]
  context_window_fallbacks: {b: a}
  max_in_flight: 100
  max_queue: 10
"""


def test_router_settings_litellm_style(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, ROUTED), {})
    r = s.router
    assert (r.default_strategy, r.strategy_for("a"), r.strategy_for("b")) == (
        "least-busy",
        "latency-based-routing",
        "least-busy",
    )
    assert (r.num_retries, r.breaker.consecutive_failures, r.breaker.base_ejection) == (3, 2, 1.5)
    assert r.fallbacks == {"a": ("b",)}, "c is skipped (C_KEY unset) and dropped with a note"
    assert any("skipped models dropped: c" in n for n in s.notes)
    assert r.context_window_fallbacks == {"b": ("a",)}
    assert (r.max_in_flight, r.max_queue) == (100, 10)
    assert s.deployments[0].max_in_flight == 4


def test_router_settings_problems(tmp_path: Path) -> None:
    text = ROUTED.replace("least-busy", "least-bussy").replace(
        "fallbacks: [{a: [b, c]}]", "fallbacks: {a: [zzz]}"
    )
    text = text.replace("num_retries: 3", "num_retries: -1\n  failure_rate: 2")
    found = problems(tmp_path, text)
    assert any(
        "routing_strategy.default: unknown routing strategy 'least-bussy' (did you mean 'least-busy'?)"
        in p
        for p in found
    )
    assert "router_settings.fallbacks.a: 'zzz' is not a model_name in model_list" in found
    assert "router_settings.num_retries: must be at least 0" in found
    assert "router_settings.failure_rate: must be between 0 and 1" in found
