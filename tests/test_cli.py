from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.gateway import GatewayProcess

ROOT = Path(__file__).resolve().parent.parent


def pllm(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pllm", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=30,
    )


def test_shipped_config_is_valid_without_any_key() -> None:
    r = pllm("check-config", "config.yaml")
    assert r.returncode == 0, r.stderr
    assert "mock: mock" in r.stdout
    assert "skipped: OPENAI_API_KEY not set" in r.stdout


def test_shipped_config_enables_providers_when_keys_are_set() -> None:
    r = pllm("check-config", env={"OPENAI_API_KEY": "sk-x", "ANTHROPIC_API_KEY": "sk-ant"})
    assert r.returncode == 0, r.stderr
    assert "gpt-4o-mini: openai" in r.stdout and "claude-sonnet: anthropic" in r.stdout
    assert "sk-x" not in r.stdout + r.stderr


def test_check_config_lists_every_problem_without_secrets(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(
        "model_list:\n"
        "  - model_name: a\n"
        "    litellm_params: {model: openai/x, api_key: '${MY_SECRET}', timeout: soon}\n"
        "  - model_name: b\n"
        "    litellm_params: {model: openai/y, api_key: '${MISSING_VAR}'}\n"
        "  - model_name: c\n"
        "    litellm_params: {model: openai/z, api_key: k, tiemout: 1}\n"
    )
    r = pllm("check-config", str(cfg), env={"MY_SECRET": "hunter2-secret"})
    assert r.returncode == 1
    assert "config has 2 problems" in r.stderr
    assert f"{cfg}: model_list[0].litellm_params.timeout: must be a number" in r.stderr
    assert (
        f"{cfg}: model_list[2].litellm_params.tiemout: unknown key (did you mean 'timeout'?)"
        in r.stderr
    )
    # An unset credential variable is a warning: printed with the errors, not one of them.
    assert f"warning: {cfg}: model_list[1].litellm_params: MISSING_VAR is not set" in r.stderr
    assert "hunter2-secret" not in r.stdout + r.stderr


def test_check_config_passes_with_warnings(tmp_path: Path) -> None:
    cfg = tmp_path / "warned.yaml"
    cfg.write_text(
        "model_list:\n"
        "  - {model_name: m, litellm_params: {model: mock/m}}\n"
        "  - {model_name: c, litellm_params: {model: anthropic/claude-sonnet-4-5,"
        " api_key: os.environ/ANTHROPIC_API_KEY}}\n"
        "  - {model_name: r, litellm_params: {model: sagemaker/my-endpoint}}\n"
        "general_settings: {store_model_in_db: true}\n"
    )
    r = pllm("check-config", str(cfg))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert f"warning: {cfg}: model_list[1].litellm_params: ANTHROPIC_API_KEY is not set" in out
    assert "provider 'sagemaker' (LiteLLM's) is not one pllm has yet: r is skipped" in out
    assert (
        "ignored LiteLLM settings (pllm does not use them): general_settings.store_model_in_db"
        in out
    )
    assert "OK — 2 models, 2 deployments, 2 warnings" in out
    assert "  c: anthropic (not configured)" in out


def test_serve_refuses_a_bad_config_before_starting(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("model_list: [{model_name: a, litellm_params: {model: nosuch/x}}]\n")
    r = pllm("serve", "--port", "1", env={"PLLM_CONFIG": str(cfg)})
    assert r.returncode == 2
    assert "unknown provider 'nosuch'" in r.stderr


def test_serve_logs_its_port_and_models(tmp_path: Path) -> None:
    cfg = json.dumps({"model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}]})
    with GatewayProcess(cfg, tmp_path) as gw:
        lines = [json.loads(line) for line in gw.logs().splitlines() if line.startswith("{")]
    listening = [x for x in lines if "listening on" in x["msg"]]
    assert len(listening) == 1 and listening[0]["port"] == gw.port
    assert any(x["msg"] == "models loaded" and x["models"] == {"m": 1} for x in lines)
