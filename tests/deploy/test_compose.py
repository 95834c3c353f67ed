"""docker-compose.yml, checked without an engine: against the Compose specification's JSON schema
(tests/deploy/compose-spec.json, vendored: compose-spec/compose-spec, schema/compose-spec.json
at commit 170098ba07d9f53c383a41bfd4c5166b0a4529a6 of 2026-06-23, Apache-2.0), by Debian's
`docker-compose config` where it is installed (`make deploy-check` installs it), and for the
wiring: pllm reaches PostgreSQL and Redis by the variables its config reads."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.dockerfile import ROOT

COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = Path(__file__).with_name("compose-spec.json")


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def test_compose_file_matches_the_compose_spec_schema() -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    validator = jsonschema_rs.validator_for(json.loads(SCHEMA.read_text()))
    errors = [f"{list(e.instance_path)}: {e.message}" for e in validator.iter_errors(_compose())]
    assert errors == []


def test_the_schema_rejects_a_broken_file() -> None:
    """The vendored schema is the strict one (no unknown keys), not a stub that accepts all."""
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    validator = jsonschema_rs.validator_for(json.loads(SCHEMA.read_text()))
    broken = _compose()
    broken["services"]["pllm"]["helthcheck"] = broken["services"]["pllm"].pop("healthcheck")
    assert not validator.is_valid(broken)


def test_services_are_wired_by_environment() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"pllm", "postgres", "redis"}
    pllm, postgres = services["pllm"], services["postgres"]
    env = pllm["environment"]
    config = (ROOT / "config.yaml").read_text()
    # The image's config reads these; compose sets them.
    for name in ("PLLM_MASTER_KEY", "PLLM_DATABASE_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        assert name in env, name
        assert re.search(rf"(\$\{{|os\.environ/){name}\b", config), f"config.yaml reads {name}"
    pg = postgres["environment"]
    url = env["PLLM_DATABASE_URL"]
    assert url == (
        f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/"
        f"{pg['POSTGRES_DB']}"
    )
    assert env["PLLM_REDIS_URL"].startswith("redis://redis:6379")
    assert env["PLLM_MASTER_KEY"].startswith("${PLLM_MASTER_KEY:?"), "no default master key"
    for name, service in services.items():
        assert "healthcheck" in service, name
    assert pllm["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    # The health check runs the image's venv python on the image's API port.
    test = pllm["healthcheck"]["test"]
    assert test[:2] == ["CMD", "/opt/pllm/bin/python"]
    assert "http://127.0.0.1:8080/ready" in test[-1]
    assert {str(p).split(":")[-1] for p in pllm["ports"]} == {"8080", "8081", "9090"}
    # The drain (drain_timeout, 30 s by default) fits in the stop grace period.
    assert int(pllm["stop_grace_period"].rstrip("s")) > 30
    mounted = {v.split(":")[0] for s in services.values() for v in s.get("volumes", [])}
    assert mounted <= set(compose["volumes"]), "every named volume is declared"
    assert any(v.endswith(":/var/lib/pllm") for v in pllm["volumes"])


@pytest.mark.timeout(60)
def test_docker_compose_config_accepts_it() -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("docker-compose not installed (make deploy-check installs Debian's)")
    env = {**os.environ, "PLLM_MASTER_KEY": "sk-compose-check"}
    done = subprocess.run(
        [tool, "-f", str(COMPOSE), "config"], env=env, capture_output=True, text=True, timeout=50
    )
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert resolved["services"]["pllm"]["environment"]["PLLM_MASTER_KEY"] == "sk-compose-check"
    # Without the master key the file refuses to resolve.
    env.pop("PLLM_MASTER_KEY")
    done = subprocess.run(
        [tool, "-f", str(COMPOSE), "config", "-q"], env=env, capture_output=True, text=True
    )
    assert done.returncode != 0 and "PLLM_MASTER_KEY" in done.stderr
