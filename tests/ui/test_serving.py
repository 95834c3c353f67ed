"""The admin UI's serving (headers, SPA fallback, assets), its generated client being current,
and ``GET /admin/deployments`` / ``GET /admin/config`` (409 without a gateway, every secret
masked)."""

from __future__ import annotations

import re
import runpy
from collections.abc import Iterator
from pathlib import Path

import pytest

from pllm import reload
from pllm.admin import ops_routes
from pllm.admin.ui_routes import CSP, DIST
from pllm.config.schema import DeploymentConfig, GeneralSettings, Settings
from tests.admin.client import Client

ROOT = Path(__file__).resolve().parents[2]


def _asset_names() -> list[str]:
    index = (DIST / "index.html").read_text()
    return re.findall(r'/ui/assets/([^"]+)"', index)


def test_index_and_pages_are_never_cached_and_carry_a_strict_csp(client: Client) -> None:
    for path in ("/ui", "/ui/", "/ui/keys", "/ui/deployments"):
        r = client.get(path, key=None)
        assert r.status == 200, path
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["cache-control"] == "no-cache"
        assert r.headers["content-security-policy"] == CSP
        assert r.headers["x-content-type-options"] == "nosniff"
        assert b'<div id="root">' in r.body
    # No inline script: every script of the page is a file of this origin.
    page = client.get("/ui", key=None).body.decode()
    assert re.findall(r"<script[^>]*>([^<]*)</script>", page) == [""]
    assert "default-src 'self'" in CSP and "unsafe-inline" not in CSP


def test_hashed_assets_are_immutable_and_unknown_ones_404(client: Client) -> None:
    names = _asset_names()
    assert any(n.endswith(".js") for n in names) and any(n.endswith(".css") for n in names)
    for name in names:
        r = client.get(f"/ui/assets/{name}", key=None)
        assert r.status == 200
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert r.headers["content-security-policy"] == CSP
    assert client.get("/ui/assets/index.html", key=None).status == 404
    assert client.get("/ui/assets/nope.js", key=None).status == 404
    assert client.get("/ui/assets/..%2f..%2fapp.py", key=None).status == 404
    assert client.get("/ui/a/b", key=None).status == 404
    # A page name is documented as an id: a longer one is not a page.
    assert client.get("/ui/" + "p" * 129, key=None).status == 404


def test_the_committed_openapi_document_of_the_ui_is_current() -> None:
    """The UI's client is generated from ui/openapi.json: a changed API must regenerate it
    (``make ui``), or the UI would drift from the API."""
    generator = runpy.run_path(str(ROOT / "ui" / "gen_openapi.py"))
    committed = (ROOT / "ui" / "openapi.json").read_bytes()
    assert committed == generator["document"](), "run `make ui` to regenerate the UI's client"


def test_ops_routes_answer_409_without_a_gateway(client: Client) -> None:
    for path in ("/admin/deployments", "/admin/config"):
        r = client.get(path)
        assert r.status == 409
        assert r.error["code"] == "no_gateway"
        assert client.get(path, key=None).status == 401


@pytest.fixture
def view() -> Iterator[reload.View]:
    settings = Settings(
        file="/etc/pllm/config.yaml",
        deployments=(
            DeploymentConfig(
                index=0, model_name="gpt", provider="openai", upstream_model="gpt-4o",
                api_key="sk-upstream-secret", api_base="https://user:pw@example.com/v1",
                extra_headers=(("x-api-token", "hdr-secret"),),
                provider_params={"aws_secret_access_key": "aws-secret", "region": "eu"},
            ),
        ),
        general=GeneralSettings(
            master_key="sk-master-secret",
            database_url="postgresql://pllm:db-secret@db:5432/pllm",
            budget_alert_webhook="https://hooks.example.com/T0/hook-secret",
        ),
    )  # fmt: skip
    health: list[dict[str, object]] = [
        {"deployment": "gpt-0", "model": "gpt", "provider": "openai", "score": 87.5,
         "circuit": "closed", "in_flight": 2, "consecutive_failures": 0, "ejections": 1,
         "ttft_ms": 120.25},
    ]  # fmt: skip
    v = reload.View(settings, "abc123def456", 1_700_000_000.0, health)
    remove = reload.register_view(lambda: v)
    yield v
    remove()


def test_deployments_are_the_gateways_health_view(client: Client, view: reload.View) -> None:
    r = client.get("/admin/deployments")
    assert r.status == 200
    assert r.json() == {"revision": "abc123def456", "data": view.health}


def test_config_masks_every_secret(client: Client, view: reload.View) -> None:
    r = client.get("/admin/config")
    assert r.status == 200
    body = r.json()
    assert body["revision"] == "abc123def456" and body["loaded_at"] == 1_700_000_000.0
    assert body["file"] == "/etc/pllm/config.yaml"
    text = r.body.decode()
    for secret in ("sk-upstream-secret", "sk-master-secret", "db-secret", "hook-secret",
                   "hdr-secret", "aws-secret", "user:pw"):  # fmt: skip
        assert secret not in text, secret
    config = body["config"]
    assert config["general"]["master_key"] == ops_routes.MASK
    assert config["general"]["database_url"] == f"postgresql://{ops_routes.MASK}@db:5432/pllm"
    deployment = config["deployments"][0]
    assert deployment["api_key"] == ops_routes.MASK
    assert deployment["api_base"] == f"https://{ops_routes.MASK}@example.com/v1"
    assert deployment["extra_headers"] == [["x-api-token", ops_routes.MASK]]
    assert deployment["provider_params"] == {"aws_secret_access_key": ops_routes.MASK,
                                             "region": "eu"}  # fmt: skip
    assert deployment["model_name"] == "gpt"
