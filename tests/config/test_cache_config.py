"""``litellm_settings.cache`` / ``cache_params``."""

from __future__ import annotations

from typing import Any

from pllm.config.cache import CacheSettings, parse_cache
from pllm.config.problems import Problems


def parse(litellm: dict[str, Any], env: dict[str, str] | None = None) -> tuple[Any, list[str]]:
    problems = Problems("c.yaml")
    got = parse_cache(litellm, env or {}, problems, [])
    return got, [f"{p.path}: {p.reason}" for p in problems.items]


def test_off_unless_enabled() -> None:
    assert parse({}) == (None, [])
    assert parse({"cache": False}) == (None, [])


def test_defaults_and_litellm_keys() -> None:
    got, problems = parse({"cache": True})
    assert problems == [] and got == CacheSettings()
    got, problems = parse(
        {
            "cache": True,
            "cache_params": {
                "type": "redis",
                "host": "r",
                "port": 6380,
                "password": "${PW}",
                "ttl": 30,
                "namespace": "ns",
                "cache_scope": "group",
                "supported_call_types": ["acompletion", "embedding"],
            },
        },
        {"PW": "secret"},
    )
    assert problems == []
    assert (got.type, got.host, got.port, got.password, got.ttl) == (
        "redis",
        "r",
        6380,
        "secret",
        30,
    )
    assert (got.namespace, got.scope) == ("ns", "group")
    assert got.endpoints == {"chat/completions", "embeddings"}
    assert "secret" not in repr(got)


def test_problems() -> None:
    _, problems = parse(
        {
            "cache": True,
            "cache_params": {
                "cache_scope": "team",
                "ttl": -1,
                "supported_call_types": ["transcription"],
            },
        }
    )
    assert len(problems) == 3, problems
    assert parse({"cache": "yes"})[1] == ["litellm_settings.cache: must be true or false"]
    assert parse({"cache": True, "cache_params": {"type": "memcached"}})[1]


def test_litellm_back_ends_pllm_lacks_are_warnings() -> None:
    problems = Problems("c.yaml")
    raw = {"cache": True, "cache_params": {"type": "disk", "disk_cache_dir": "/tmp/x"}}
    assert parse_cache(raw, {}, problems, []) is None
    assert problems.items == []
    assert [w.path for w in problems.warnings] == ["litellm_settings.cache_params.type"]


def test_other_litellm_params_are_ignored() -> None:
    ignored: list[str] = []
    raw = {"cache": True, "cache_params": {"type": "redis", "redis_startup_nodes": []}}
    assert parse_cache(raw, {}, Problems("c.yaml"), ignored) is not None
    assert ignored == ["litellm_settings.cache_params.redis_startup_nodes"]
