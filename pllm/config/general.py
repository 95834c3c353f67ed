"""``general_settings``: keys, store, admin listener, JWT."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pllm.config.keys import check_keys
from pllm.config.problems import Problems
from pllm.config.reader import Reader
from pllm.config.schema import GeneralSettings, JwtSettings, OtelSettings

GENERAL_KEYS = {
    "master_key",
    "max_request_body_bytes",
    "max_request_size_mb",
    "max_response_body_bytes",
    "max_response_size_mb",
    "access_log",
    "log_level",
    "database_url",
    "data_dir",
    "admin_host",
    "admin_port",
    "jwt",
    "budget_alert_webhook",
    "auth_refresh_interval",
    "spend_flush_interval",
    "drain_delay",
    "drain_timeout",
    "otel",
    "metrics_port",
}
OTEL_KEYS = {"endpoint", "service_name", "sample_ratio", "capture_content"}
JWT_KEYS = {
    "algorithms",
    "issuer",
    "audience",
    "secret",
    "jwks_url",
    "user_claim",
    "groups_claim",
    "role_claim",
    "leeway",
    "jwks_refetch_interval",
    "jwks_ttl",
}
LOG_LEVELS = {"debug", "info", "warning", "error"}
JWT_ALGORITHMS = {
    "HS256",
    "HS384",
    "HS512",
    "RS256",
    "RS384",
    "RS512",
    "ES256",
    "ES384",
    "ES512",
    "PS256",
    "PS384",
    "PS512",
}
# RFC 7518 3.2: an HMAC key at least as long as the hash output.
_HS_MIN_SECRET = {"HS256": 32, "HS384": 48, "HS512": 64}
_GENERAL = GeneralSettings()


def _port(r: Reader, name: str, default: int) -> int:
    port = r.integer(name, default=default, minimum=0)
    if port is not None and port > 65535:
        r.problems.add(f"general_settings.{name}", "must be at most 65535")
    return port if port is not None else default


def parse_general(raw: Any, problems: Problems, base_dir: Path) -> GeneralSettings:
    """``base_dir`` (the config file's folder) anchors a relative ``data_dir``. The loader
    has set LiteLLM's other keys aside (:mod:`pllm.config.keys`)."""
    if not isinstance(raw, dict):
        problems.add("general_settings", "must be a mapping")
        return GeneralSettings(data_dir=str(base_dir / _GENERAL.data_dir))
    check_keys(raw, GENERAL_KEYS, "general_settings", problems)
    r = Reader(raw, "general_settings", problems)
    body_cap = r.integer("max_request_body_bytes", minimum=1)
    size_mb = r.number("max_request_size_mb", default=0.0, minimum=0.0)
    if body_cap is None:
        body_cap = int(size_mb * 1024 * 1024) if size_mb else _GENERAL.max_request_body_bytes
    level = (r.string("log_level") or "info").lower()
    if level not in LOG_LEVELS:
        problems.add("general_settings.log_level", f"must be one of {sorted(LOG_LEVELS)}")
    master_key = r.string("master_key", secret=True)
    database_url = r.string("database_url", secret=True) or None
    if database_url is not None and not database_url.startswith(("sqlite", "postgres")):
        problems.add("general_settings.database_url", "must be a sqlite:// or postgresql:// URL")
    admin_port = r.integer("admin_port", default=_GENERAL.admin_port, minimum=0)
    if admin_port is not None and admin_port > 65535:
        problems.add("general_settings.admin_port", "must be at most 65535")
    response_mb = r.number("max_response_size_mb", default=0.0, minimum=0.0)
    response_cap = r.integer("max_response_body_bytes", minimum=1)
    if response_cap is None:
        response_cap = (
            int(response_mb * 1024 * 1024) if response_mb else _GENERAL.max_response_body_bytes
        )
    data_dir = Path(r.string("data_dir") or _GENERAL.data_dir).expanduser()
    return GeneralSettings(
        master_key=master_key or None,
        max_request_body_bytes=body_cap,
        max_response_body_bytes=response_cap,
        access_log=r.boolean("access_log", default=True),
        log_level=level,
        database_url=database_url,
        data_dir=str(data_dir if data_dir.is_absolute() else (base_dir / data_dir).resolve()),
        admin_host=r.string("admin_host") or _GENERAL.admin_host,
        admin_port=admin_port if admin_port is not None else _GENERAL.admin_port,
        jwt=_parse_jwt(raw.get("jwt"), problems),
        budget_alert_webhook=r.string("budget_alert_webhook", secret=True) or None,
        auth_refresh_interval=r.number(
            "auth_refresh_interval", default=_GENERAL.auth_refresh_interval, minimum=0.05
        ),
        spend_flush_interval=r.number(
            "spend_flush_interval", default=_GENERAL.spend_flush_interval, minimum=0.01
        ),
        drain_delay=r.number("drain_delay", default=_GENERAL.drain_delay, minimum=0.0),
        drain_timeout=r.number("drain_timeout", default=_GENERAL.drain_timeout, minimum=0.0),
        otel=_parse_otel(raw.get("otel"), problems),
        metrics_port=_port(r, "metrics_port", _GENERAL.metrics_port),
    )


def _parse_otel(raw: Any, problems: Problems) -> OtelSettings | None:
    """``otel: true`` (everything from the OTEL_* variables), or a mapping of settings."""
    path = "general_settings.otel"
    if raw is None or raw is False:
        return None
    if raw is True:
        return OtelSettings()
    if not isinstance(raw, dict):
        problems.add(path, "must be true, false or a mapping")
        return None
    check_keys(raw, OTEL_KEYS, path, problems)
    r = Reader(raw, path, problems)
    endpoint = r.string("endpoint") or None
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        problems.add(f"{path}.endpoint", "must be an http:// or https:// URL")
    ratio: float | None = None
    if raw.get("sample_ratio") is not None:
        ratio = r.number("sample_ratio", default=1.0, minimum=0.0)
        if ratio > 1.0:
            problems.add(f"{path}.sample_ratio", "must be at most 1")
    return OtelSettings(
        endpoint=endpoint,
        service_name=r.string("service_name") or None,
        sample_ratio=ratio,
        capture_content=r.boolean("capture_content", default=False),
    )


def _parse_jwt(raw: Any, problems: Problems) -> JwtSettings | None:
    path = "general_settings.jwt"
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.add(path, "must be a mapping")
        return None
    check_keys(raw, JWT_KEYS, path, problems)
    r = Reader(raw, path, problems)
    algorithms_raw = raw.get("algorithms")
    if isinstance(algorithms_raw, str):
        algorithms_raw = [algorithms_raw]
    if (
        not isinstance(algorithms_raw, list)
        or not algorithms_raw
        or not all(isinstance(a, str) and a in JWT_ALGORITHMS for a in algorithms_raw)
    ):
        problems.add(f"{path}.algorithms", f"must list algorithms from {sorted(JWT_ALGORITHMS)}")
        algorithms: tuple[str, ...] = ()
    else:
        algorithms = tuple(algorithms_raw)
    issuer = r.string("issuer", required=True)
    audience = r.string("audience", required=True)
    secret = r.string("secret", secret=True) or None
    jwks_url = r.string("jwks_url") or None
    symmetric = any(a.startswith("HS") for a in algorithms)
    asymmetric = any(not a.startswith("HS") for a in algorithms)
    if symmetric and asymmetric:
        # One secret for HS* and public keys for the rest is the classic confusion attack.
        problems.add(f"{path}.algorithms", "must not mix HS* with public-key algorithms")
    if symmetric and secret is None:
        problems.add(f"{path}.secret", "is required for HS* algorithms")
    elif secret is not None:
        need = max((_HS_MIN_SECRET.get(a, 0) for a in algorithms), default=0)
        if len(secret.encode()) < need:
            problems.add(f"{path}.secret", f"must be at least {need} bytes for {algorithms}")
    if jwks_url is not None and not jwks_url.startswith(("https://", "http://")):
        problems.add(f"{path}.jwks_url", "must be an http:// or https:// URL")
    if asymmetric and jwks_url is None:
        problems.add(f"{path}.jwks_url", "is required for public-key algorithms")
    defaults = JwtSettings(algorithms=(), issuer="", audience="")
    return JwtSettings(
        algorithms=algorithms,
        issuer=issuer or "",
        audience=audience or "",
        secret=secret,
        jwks_url=jwks_url,
        user_claim=r.string("user_claim") or defaults.user_claim,
        groups_claim=r.string("groups_claim") or defaults.groups_claim,
        role_claim=r.string("role_claim") or defaults.role_claim,
        leeway=r.number("leeway", default=defaults.leeway, minimum=0.0),
        jwks_refetch_interval=r.number(
            "jwks_refetch_interval", default=defaults.jwks_refetch_interval, minimum=0.0
        ),
        jwks_ttl=r.number("jwks_ttl", default=defaults.jwks_ttl, minimum=1.0),
    )
