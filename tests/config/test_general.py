"""general_settings for keys and spend: store location, admin listener, JWT, price overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from pllm.config import ConfigError, load_settings

MODELS = """
model_list:
  - model_name: m
    litellm_params:
      model: mock/m
      input_cost_per_token: 0.000001
      output_cost_per_token: 0.000004
      cache_read_input_token_cost: 0.0000005
"""


def load(tmp_path: Path, general: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.yaml"
    path.write_text(MODELS + "general_settings:\n" + general)
    return load_settings(path, env or {})


def problems(tmp_path: Path, general: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load(tmp_path, general)
    return [f"{p.path}: {p.reason}" for p in e.value.problems]


def test_defaults_put_the_store_beside_the_config(tmp_path: Path) -> None:
    s = load(tmp_path, "  master_key: sk-m\n")
    assert s.general.data_dir == str(tmp_path / "pllm-data")
    assert s.general.database_url is None
    assert (s.general.admin_host, s.general.admin_port) == ("127.0.0.1", 8081)
    d = s.deployments[0]
    assert (d.input_cost_per_token, d.output_cost_per_token) == (1e-6, 4e-6)
    assert d.cached_input_cost_per_token == 5e-7


def test_database_url_from_env_and_never_shown(tmp_path: Path) -> None:
    s = load(tmp_path, "  database_url: ${DB}\n", {"DB": "postgresql://u:secretpw@h/db"})
    assert s.general.database_url == "postgresql://u:secretpw@h/db"
    assert "secretpw" not in repr(s.general)
    found = problems(tmp_path, "  database_url: mysql://u:pw@h/db\n")
    assert any("database_url" in p for p in found)
    assert not any("pw@" in p for p in found)


def test_jwt_settings(tmp_path: Path) -> None:
    s = load(
        tmp_path,
        "  jwt:\n    algorithms: [RS256]\n    issuer: https://idp\n    audience: pllm\n"
        "    jwks_url: https://idp/jwks.json\n    groups_claim: teams\n",
    )
    assert s.general.jwt is not None
    assert s.general.jwt.algorithms == ("RS256",)
    assert s.general.jwt.groups_claim == "teams"


@pytest.mark.parametrize(
    ("jwt", "field"),
    [
        (
            "algorithms: [HS256, RS256]\n    secret: " + "x" * 40 + "\n    jwks_url: https://i/j",
            "algorithms",
        ),
        ("algorithms: [HS256]", "secret"),
        ("algorithms: [HS256]\n    secret: short", "secret"),
        ("algorithms: [RS256]", "jwks_url"),
        ("algorithms: [RS256]\n    jwks_url: file:///etc/passwd", "jwks_url"),
        ("algorithms: [none]\n    secret: " + "x" * 40, "algorithms"),
    ],
)
def test_jwt_misconfigurations(tmp_path: Path, jwt: str, field: str) -> None:
    found = problems(tmp_path, f"  jwt:\n    issuer: i\n    audience: a\n    {jwt}\n")
    assert any(f"jwt.{field}" in p for p in found), found
