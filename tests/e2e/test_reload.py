"""Hot reload against a real `pllm serve`: SIGHUP, `--watch` and `POST /admin/config/reload`.

A reload swaps the config in without dropping a request: streams open across it complete,
a model it adds answers at once, an invalid file is refused with every problem while the
old config serves on, and an unchanged deployment keeps what the router learnt about it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import openai

from tests.e2e.gateway import GatewayProcess, deployment, free_port

# The streams are read with the drain tests' reader, which sends their key.
from tests.e2e.test_drain import KEY, StreamReader


def config(data_dir: Path, *models: dict[str, Any], **router: Any) -> str:
    return json.dumps(
        {
            "model_list": list(models),
            "general_settings": {"master_key": KEY, "data_dir": str(data_dir)},
            "router_settings": {"num_retries": 0, **router},
        }
    )


SLOW = deployment("slow", "mock/slow", mock_tokens_per_second=8, mock_reply_tokens=16)
FAST = deployment("fast", "mock/fast")
FRESH = deployment("fresh", "mock/fresh")


def get_json(url: str, key: str | None = None) -> Any:
    request = urllib.request.Request(url, headers={"authorization": f"Bearer {key}"} if key else {})
    with urllib.request.urlopen(request, timeout=5) as r:
        return json.loads(r.read())


def post_json(url: str, key: str) -> tuple[int, Any]:
    """POSTs to the admin API, once it listens (it starts after the gateway is ready)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return _post(url, key)
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _post(url: str, key: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=b"", method="POST", headers={"authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def answers(gateway: GatewayProcess, model: str) -> bool:
    with openai.OpenAI(base_url=gateway.base_url, api_key=KEY, max_retries=0) as sdk:
        try:
            sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
        except openai.NotFoundError:
            return False
    return True


def wait_until(check: Any, timeout: float) -> float:
    """Seconds until ``check()`` held; fails after ``timeout``."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, "not within the time allowed"
        time.sleep(0.05)
    return time.monotonic() - started


def test_sighup_adds_a_model_while_20_streams_finish_on_the_old_config(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with GatewayProcess(config(data, SLOW, FAST), tmp_path) as gateway:
        assert gateway.proc is not None
        before = get_json(f"{gateway.url}/ready")["config_revision"]
        readers = [StreamReader(gateway) for _ in range(20)]
        for r in readers:
            r.start()
        for r in readers:
            r.first_chunk()
        assert not answers(gateway, "fresh")
        gateway.config.write_text(config(data, SLOW, FAST, FRESH))
        os.kill(gateway.proc.pid, signal.SIGHUP)
        assert wait_until(lambda: answers(gateway, "fresh"), 5.0) < 5.0
        for r in readers:
            r.join(timeout=10)
        ready = get_json(f"{gateway.url}/ready")
        assert ready["config_revision"] != before and ready["models"] == 3
        assert "config reloaded" in gateway.logs()
    for r in readers:
        body = r.data.decode()
        assert "data: [DONE]" in body and "error" not in body, body[-300:]


def test_an_invalid_config_is_refused_with_its_problems_and_the_old_one_serves(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    with GatewayProcess(config(data, FAST), tmp_path) as gateway:
        before = get_json(f"{gateway.url}/ready")["config_revision"]
        gateway.config.write_text(
            json.dumps(
                {"model_list": [{"model_name": "x"}], "router_settings": {"num_retries": -1}}
            )
        )
        status, body = post_json(f"{gateway.admin_url}/admin/config/reload", KEY)
        assert status == 422 and body["status"] == "invalid", body
        assert len(body["problems"]) >= 2, body  # every problem, not the first
        assert answers(gateway, "fast")
        assert get_json(f"{gateway.url}/ready")["config_revision"] == before
        assert "config reload refused" in gateway.logs()
        # A valid file is swapped in by the same call, and says what needs a restart.
        text = json.loads(config(data, FAST, FRESH))
        text["server"] = {"port": 1}
        gateway.config.write_text(json.dumps(text))
        status, body = post_json(f"{gateway.admin_url}/admin/config/reload", KEY)
        assert status == 200 and body["status"] == "reloaded", body
        assert body["restart_needed"] == ["server.port"]
        assert answers(gateway, "fresh")
        status, _ = post_json(f"{gateway.admin_url}/admin/config/reload", "sk-wrong")
        assert status == 401


def test_an_unchanged_deployment_keeps_its_router_state(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # Nothing listens there: every attempt fails, and the router counts the failures.
    broken = deployment(
        "broken", "openai/gpt-4o", api_key="sk-x", api_base=f"http://127.0.0.1:{free_port()}/v1"
    )
    with GatewayProcess(config(data, broken, FAST), tmp_path) as gateway:
        with openai.OpenAI(base_url=gateway.base_url, api_key=KEY, max_retries=0) as sdk:
            for _ in range(3):
                with contextlib.suppress(openai.APIStatusError):
                    sdk.chat.completions.create(
                        model="broken", messages=[{"role": "user", "content": "x"}]
                    )

        def failures() -> dict[str, int]:
            rows = get_json(f"{gateway.url}/health/deployments", KEY)["data"]
            return {row["model"]: row["consecutive_failures"] for row in rows}

        assert failures() == {"broken": 3, "fast": 0}
        gateway.config.write_text(config(data, broken, FAST, FRESH))
        status, body = post_json(f"{gateway.admin_url}/admin/config/reload", KEY)
        assert status == 200, body
        assert failures() == {"broken": 3, "fast": 0, "fresh": 0}
        # A changed deployment starts afresh; a removed one is gone from the view.
        changed = {**broken, "litellm_params": {**broken["litellm_params"], "rpm": 100}}
        gateway.config.write_text(config(data, changed, FRESH))
        status, body = post_json(f"{gateway.admin_url}/admin/config/reload", KEY)
        assert status == 200, body
        assert failures() == {"broken": 0, "fresh": 0}


def test_watch_reloads_when_the_file_changes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with GatewayProcess(config(data, FAST), tmp_path, args=("--watch",)) as gateway:
        gateway.config.write_text(config(data, FAST, FRESH))
        assert wait_until(lambda: answers(gateway, "fresh"), 5.0) < 5.0


def test_reload_metrics_name_the_revision(tmp_path: Path) -> None:
    with GatewayProcess(config(tmp_path / "data", FAST), tmp_path) as gateway:
        url = f"http://127.0.0.1:{gateway.metrics_port}/metrics"
        revision = get_json(f"{gateway.url}/ready")["config_revision"]
        post_json(f"{gateway.admin_url}/admin/config/reload", "sk-wrong")  # both listen now
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        assert f'pllm_config_info{{revision="{revision}"}} 1.0' in text
        assert "pllm_config_loaded_timestamp_seconds" in text
        gateway.config.write_text(config(tmp_path / "data", FAST, FRESH))
        status, _ = post_json(f"{gateway.admin_url}/admin/config/reload", KEY)
        assert status == 200
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        assert 'pllm_config_reloads_total{result="ok"} 1.0' in text
