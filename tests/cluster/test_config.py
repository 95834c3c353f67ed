"""router_settings.redis_* (LiteLLM's names) and litellm_settings.cache_params."""

from __future__ import annotations

from pathlib import Path

from pllm.config import load_settings
from pllm.config.problems import Problems
from pllm.config.router import parse_redis, parse_router
from pllm.config.schema import RedisSettings


def test_no_redis_keys_mean_no_cluster() -> None:
    assert parse_router({}, Problems("c.yaml")).redis is None


def test_litellm_redis_keys() -> None:
    problems = Problems("c.yaml")
    raw = {
        "redis_host": "r.internal",
        "redis_port": 6380,
        "redis_password": "s3cret",
        "redis_db": 2,
    }
    redis = parse_router(raw, problems).redis
    assert not problems.items
    assert redis == RedisSettings(host="r.internal", port=6380, password="s3cret", db=2)
    assert "s3cret" not in repr(redis) and "s3cret" not in redis.where()


def test_a_url_with_a_password_is_never_shown() -> None:
    redis = parse_router({"redis_url": "redis://:pw123@r:6390/1"}, Problems("c.yaml")).redis
    assert redis is not None and redis.where() == "r:6390/1"
    assert "pw123" not in repr(redis)


def test_bad_values_are_problems_without_the_value() -> None:
    problems = Problems("c.yaml")
    parse_router({"redis_url": "http://:pw@x", "redis_port": 70000, "redis_db": -1}, problems)
    text = " ".join(str(p) for p in problems.items)
    assert "router_settings.redis_url" in text and "pw" not in text
    assert "router_settings.redis_port" in text and "router_settings.redis_db" in text


def test_cache_params_name_the_same_redis() -> None:
    params = {"type": "redis", "host": "cache", "port": 6381, "password": "x"}
    redis = parse_redis({}, Problems("c.yaml"), params)
    assert redis == RedisSettings(host="cache", port=6381, password="x")
    assert parse_redis({}, Problems("c.yaml"), {"type": "local"}) is None


def test_a_litellm_config_with_a_redis_cache_shares_limits_through_it(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "model_list: [{model_name: m, litellm_params: {model: mock/m}}]\n"
        "litellm_settings: {cache: true, cache_params: {type: redis, host: r1, port: 6390}}\n"
    )
    assert load_settings(str(path)).router.redis == RedisSettings(host="r1", port=6390)
    path.write_text(
        "model_list: [{model_name: m, litellm_params: {model: mock/m}}]\n"
        "router_settings: {redis_host: r2}\n"
        "litellm_settings: {cache: true, cache_params: {type: redis, host: r1}}\n"
    )
    assert load_settings(str(path)).router.redis == RedisSettings(host="r2")
