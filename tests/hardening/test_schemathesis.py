"""schemathesis against both OpenAPI documents of a running gateway (``pllm serve``).

``--checks all`` with a fixed seed: every response must match its schema, every status must
be documented, no request gets a 5xx, schema-violating requests are refused and
schema-valid ones accepted (with the one exclusion st_hooks.py explains). ``make test`` runs
a few examples per operation (about a minute on two cores); ``make fuzz`` sets
``PLLM_SCHEMATHESIS_EXAMPLES`` and ``PLLM_SCHEMATHESIS_SEED`` for a longer run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.gateway import GatewayProcess
from tests.hardening.listeners import wait_for_admin

KEY = "sk-schemathesis-master"
EXAMPLES = int(os.environ.get("PLLM_SCHEMATHESIS_EXAMPLES", "8"))
SEED = int(os.environ.get("PLLM_SCHEMATHESIS_SEED", "20261207"))
# Each operation's run stops at this many seconds; a long run may take longer in total.
TIMEOUT = 120 + 10 * EXAMPLES


def _config(data_dir: Path) -> str:
    # In-process mocks only: a model that answers at once serves every OpenAI endpoint (and
    # /v1/messages through the translation); none serves count_tokens, which is then a 400
    # unsupported_endpoint, one of the rules the hooks accept.
    return f"""
model_list:
  - model_name: mock-instant
    litellm_params:
      model: mock/pllm-mock
general_settings:
  master_key: {KEY}
  data_dir: {data_dir}
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    work = tmp_path_factory.mktemp("schemathesis")
    with GatewayProcess(_config(work / "data"), work) as gw:
        yield wait_for_admin(gw)


def _schemathesis(url: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    cmd = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        url,
        "--checks",
        "all",
        # Replaced by st_hooks.positive_data_acceptance_but_rules (see there why).
        "--exclude-checks",
        "positive_data_acceptance",
        "--header",
        f"Authorization: Bearer {KEY}",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        "--generation-database",
        "none",
        # One worker: the two cores are shared with the gateway under test.
        "--workers",
        "1",
        "--no-color",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.hardening.st_hooks"}
    root = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    return subprocess.run(
        cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


@pytest.mark.timeout(TIMEOUT + 30)
@pytest.mark.parametrize("listener", ["gateway", "admin"])
def test_no_failures(gateway: GatewayProcess, listener: str, tmp_path: Path) -> None:
    base = gateway.url if listener == "gateway" else gateway.admin_url
    run = _schemathesis(f"{base}/openapi.json", tmp_path)
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-20000:]
    logs = gateway.logs()
    assert "unhandled error" not in logs, "a request reached the catch-all (a 500)"
