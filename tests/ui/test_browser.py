"""The admin UI end to end in headless Chromium (Debian's ``chromium``; Playwright drives it,
no browser is downloaded) against a real ``pllm serve``: sign in, create a user, a group and a
key, see the secret once, spend with that key through the ``openai`` SDK and see it in Usage,
revoke it and see requests fail, watch a deployment at a closed port turn unhealthy, read the
masked config and reload it. A screenshot of each page is kept under the test's tmp dir and
``tests/ui/artifacts/`` (git-ignored); ``PLLM_UI_SCREENSHOTS=docs/ui`` also writes the
README's."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.e2e.gateway import GatewayProcess, free_port
from tests.e2e.tenancy import MASTER, Admin, http

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
README_SHOTS = os.environ.get("PLLM_UI_SCREENSHOTS")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (make deps-chromium)"
)

# Each "cheap" answer: 16 completion tokens at $0.0625 = $1.
CONFIG = """
model_list:
  - model_name: cheap
    litellm_params:
      model: mock/cheap
      mock_reply_tokens: 16
      input_cost_per_token: 0
      output_cost_per_token: 0.0625
  - model_name: down
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:{closed}/v1
      api_key: sk-upstream-secret-0000
router_settings:
  num_retries: 0
general_settings:
  master_key: {master}
  auth_refresh_interval: 0.1
  spend_flush_interval: 0.1
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    work = tmp_path_factory.mktemp("ui")
    with GatewayProcess(CONFIG.format(closed=free_port(), master=MASTER), work) as gw:
        Admin(gw).wait_ready()
        yield gw


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


class Shots:
    def __init__(self, page: Any, tmp: Path) -> None:
        self.page, self.tmp = page, tmp
        ARTIFACTS.mkdir(exist_ok=True)

    def __call__(self, name: str, *, readme: bool = False) -> None:
        path = self.tmp / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=False)
        shutil.copy(path, ARTIFACTS / path.name)
        if readme and README_SHOTS:
            Path(README_SHOTS).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(README_SHOTS) / path.name)


def _chat(gw: GatewayProcess, key: str) -> str:
    client = openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0, timeout=10)
    raw = client.chat.completions.with_raw_response.create(
        model="cheap", messages=[{"role": "user", "content": "hello"}]
    )
    return str(raw.headers["x-request-id"])


@pytest.mark.timeout(120)
def test_admin_ui_end_to_end(gateway: GatewayProcess, browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="light")
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    shot = Shots(page, tmp_path)
    ui = f"{gateway.admin_url}/ui"

    # ---- sign in: a wrong key shows the API's error, the master key gets in.
    answer = page.goto(ui)
    assert answer is not None and answer.headers["content-security-policy"].startswith(
        "default-src 'self'"
    )
    page.get_by_label("Master key or admin key").fill("sk-wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    shot("signin")
    page.get_by_label("Master key or admin key").fill(MASTER)
    page.keyboard.press("Enter")  # keyboard only
    expect(page.get_by_role("heading", name="Keys", level=1)).to_be_visible()
    stored = page.evaluate("[sessionStorage.length, JSON.stringify(localStorage)]")
    assert stored[0] == 1 and MASTER not in stored[1]

    # ---- a user and a group with the user as a member.
    page.get_by_role("link", name="Users").click()
    page.get_by_role("button", name="Create user").click()
    page.get_by_label("User ID").fill("alice")
    page.get_by_label("Name").fill("Alice Example")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_role("cell", name="alice@example.com")).to_be_visible()
    page.get_by_role("button", name="Edit alice").click()
    page.get_by_label("RPM").fill("120")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("row", name="alice")).to_contain_text("rpm 120")
    shot("users")

    page.get_by_role("link", name="Groups").click()
    page.get_by_role("button", name="Create group").click()
    page.get_by_label("Group ID").fill("research")
    page.get_by_label("Name").fill("Research")
    page.get_by_role("button", name="Create", exact=True).click()
    page.get_by_role("button", name="Members of research").click()
    page.get_by_label("User to add").select_option("alice")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_role("button", name="Remove alice from research")).to_be_visible()
    shot("groups")

    # ---- a key: the secret is shown once.
    page.get_by_role("link", name="Keys").click()
    page.get_by_role("button", name="Create key").click()
    page.keyboard.type("e2e-key")  # the form takes the focus: its first field is Alias
    expect(page.get_by_label("Alias")).to_have_value("e2e-key")
    page.get_by_label("User", exact=True).select_option("alice")
    page.get_by_label("Group", exact=True).select_option("research")
    page.get_by_label("cheap").check()
    page.get_by_label("RPM").fill("600")
    page.get_by_label("Budget (USD)").fill("100")
    page.get_by_label("Budget period").select_option("monthly")
    page.get_by_role("button", name="Create", exact=True).click()
    secret = page.get_by_test_id("secret").inner_text()
    assert secret.startswith("sk-")
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    page.get_by_role("button", name="Done").click()
    expect(page.get_by_test_id("secret")).to_have_count(0)
    assert secret not in page.content()
    page.get_by_role("button", name="Edit e2e-key").click()
    page.get_by_label("TPM").fill("50000")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("row", name="e2e-key")).to_contain_text("rpm 600 · tpm 50.0k")
    keys = Admin(gateway).call("GET", "/admin/keys")["data"]
    key_id = next(k["id"] for k in keys if k["alias"] == "e2e-key")

    # ---- spend with it through the openai SDK; Usage shows the spend and the requests.
    request_ids = [_chat(gateway, secret) for _ in range(3)]
    deadline = time.monotonic() + 10
    while Admin(gateway).call("GET", f"/admin/spend/logs?key_id={key_id}")["data"] == []:
        assert time.monotonic() < deadline, "the spend never reached the store"
        time.sleep(0.1)
    time.sleep(0.3)
    page.get_by_role("link", name="Keys").click()
    page.reload()
    expect(page.get_by_role("row", name="e2e-key")).to_contain_text("$3.00 / $100.00 monthly")
    shot("keys", readme=True)

    page.get_by_role("link", name="Usage").click()
    top = page.get_by_role("table", name="Top spenders")
    expect(top.get_by_role("row", name=key_id)).to_contain_text("$3.00")
    logs = page.get_by_role("table", name="Spend logs")
    for rid in request_ids:
        expect(logs.get_by_text(rid)).to_be_visible()
    shot("usage", readme=True)
    page.get_by_label("Chart").select_option("tokens")
    expect(page.get_by_role("img", name="Tokens per day")).to_be_visible()

    # ---- revoke it (with a confirmation): its requests fail.
    page.get_by_role("link", name="Keys").click()
    page.get_by_role("button", name="Revoke e2e-key").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Revoke key").click()
    expect(page.get_by_role("row", name="e2e-key")).to_have_count(0)
    page.get_by_label("Show revoked keys").check()
    expect(page.get_by_role("row", name="e2e-key")).to_contain_text("revoked")
    deadline = time.monotonic() + 5
    while True:
        try:
            _chat(gateway, secret)
        except openai.AuthenticationError:
            break
        assert time.monotonic() < deadline, "a revoked key still served"
        time.sleep(0.1)

    # ---- a deployment at a closed port turns unhealthy on the Deployments page.
    page.get_by_role("link", name="Deployments").click()
    row = page.locator("tr[data-deployment]", has_text="down")
    expect(row.get_by_test_id("verdict")).to_have_text("healthy")
    master = openai.OpenAI(base_url=gateway.base_url, api_key=MASTER, max_retries=0, timeout=5)
    for _ in range(8):
        with pytest.raises(openai.APIError):
            master.chat.completions.create(
                model="down", messages=[{"role": "user", "content": "x"}]
            )
    expect(row.get_by_test_id("verdict")).to_have_text("unhealthy", timeout=5_000)
    expect(row).to_contain_text("upstream_unreachable")
    expect(
        page.locator("tr[data-deployment]", has_text="cheap").get_by_test_id("verdict")
    ).to_have_text("healthy")
    shot("deployments", readme=True)

    # ---- the config, masked, and a reload.
    page.get_by_role("link", name="Config").click()
    config = page.get_by_label("Loaded config")
    expect(config).to_contain_text("********")
    text = config.inner_text()
    assert MASTER not in text and "sk-upstream-secret-0000" not in text
    revision = page.get_by_test_id("revision").inner_text()
    assert len(revision) == 12
    page.get_by_role("button", name="Reload").click()
    expect(page.get_by_role("status")).to_contain_text("reloaded")
    shot("config", readme=True)

    # ---- phone width, dark theme.
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("button", name="Dark theme").click()
    page.get_by_role("link", name="Deployments").click()
    expect(page.get_by_role("heading", name="Deployments")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    shot("deployments-phone-dark", readme=True)

    # ---- a member key is refused with the API's 403; signing out forgets the key.
    _, _, made = http("POST", f"{gateway.admin_url}/admin/keys", {"alias": "member"}, MASTER)
    page.get_by_role("button", name="Sign out").click()
    assert page.evaluate("sessionStorage.length") == 0
    page.get_by_label("Master key or admin key").fill(made["secret"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert not [e for e in errors if "Content Security Policy" in e], errors
    context.close()
