"""The Helm chart deploy/helm/pllm rendered by `helm template` (helm v4, built by `make
deploy-tools` into .tools/): probes, the drain, the config it mounts (which pllm accepts), the
Secret, the Service, the HPA and the optional ServiceMonitor."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.dockerfile import ROOT, parse

CHART = ROOT / "deploy" / "helm" / "pllm"


def _helm() -> Path:
    found = sorted((ROOT / ".tools").glob("helm-v4*/helm"))
    if not found:
        pytest.skip("helm not built: `make deploy-tools` builds it into .tools/ with go install")
    return found[-1]


def _render(*sets: str) -> dict[str, dict[str, Any]]:
    argv = [str(_helm()), "template", "pllm", str(CHART)]
    for s in sets:
        argv += ["--set", s]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return {d["kind"]: d for d in yaml.safe_load_all(done.stdout) if d}


def _container(docs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (container,) = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    return container


def _config(docs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    config = yaml.safe_load(docs["ConfigMap"]["data"]["config.yaml"])
    assert isinstance(config, dict)
    return config


def test_defaults_render_probes_drain_and_a_non_root_pod() -> None:
    docs = _render()
    assert set(docs) == {"ConfigMap", "Secret", "Deployment", "Service"}
    container = _container(docs)
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    general = _config(docs)["general_settings"]
    sleep = container["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep" and int(sleep[1]) >= general["drain_delay"]
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    drain = int(sleep[1]) + general["drain_delay"] + general["drain_timeout"]
    assert pod["terminationGracePeriodSeconds"] > drain
    # The image's user (Dockerfile USER 10001:10001), enforced.
    _, stages = parse()
    uid, gid = (int(x) for x in stages[-1].all("USER")[0].split(":"))
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (
        uid,
        gid,
    )
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/etc/pllm", "/var/lib/pllm", "/tmp"} <= mounts
    ports = {p["name"]: p["port"] for p in docs["Service"]["spec"]["ports"]}
    assert ports == {"http": 8080, "admin": 8081, "metrics": 9090}
    assert docs["Deployment"]["spec"]["replicas"] == 1


def test_the_mounted_config_is_one_pllm_accepts() -> None:
    docs = _render("secrets.providerKeys.OPENAI_API_KEY=sk-test")
    config = _config(docs)
    general = config["general_settings"]
    assert general["master_key"] == "${PLLM_MASTER_KEY}"
    assert general["metrics_port"] == 9090
    assert config["server"] == {"host": "0.0.0.0", "port": 8080}
    secret = {k: base64.b64decode(v).decode() for k, v in docs["Secret"]["data"].items()}
    assert secret["PLLM_MASTER_KEY"].startswith("sk-") and len(secret["PLLM_MASTER_KEY"]) > 20
    assert secret["OPENAI_API_KEY"] == "sk-test"
    envfrom = _container(docs)["envFrom"]
    assert envfrom == [{"secretRef": {"name": docs["Secret"]["metadata"]["name"]}}]
    pllm = ROOT / ".venv" / "bin" / "pllm"
    if not pllm.exists():
        pytest.skip("no .venv/bin/pllm: run `make dev` first")
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"pllm-helm-config-{os.getpid()}.yaml"
    path.write_text(docs["ConfigMap"]["data"]["config.yaml"])
    try:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        done = subprocess.run(
            [str(pllm), "check-config", str(path)],
            env={**env, **secret},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        path.unlink()
    assert done.returncode == 0, done.stderr
    assert "gpt-4o-mini" in done.stdout


def test_optional_parts_hpa_servicemonitor_metrics_port() -> None:
    docs = _render(
        "autoscaling.enabled=true",
        "metrics.serviceMonitor.enabled=true",
        "metrics.port=9191",
        "drain.timeoutSeconds=120",
        "podDisruptionBudget.enabled=true",
    )
    assert "replicas" not in docs["Deployment"]["spec"], "the HPA owns the replica count"
    hpa = docs["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == docs["Deployment"]["metadata"]["name"]
    assert hpa["minReplicas"] >= 2
    monitor = docs["ServiceMonitor"]["spec"]
    assert monitor["endpoints"][0]["port"] == "metrics"
    assert monitor["endpoints"][0]["path"] == "/metrics"
    assert _config(docs)["general_settings"]["metrics_port"] == 9191
    ports = {p["name"]: p["containerPort"] for p in _container(docs)["ports"]}
    assert ports["metrics"] == 9191
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > 120
    pdb = docs["PodDisruptionBudget"]["spec"]
    assert pdb["selector"] == docs["Deployment"]["spec"]["selector"]


def test_metrics_off_and_an_existing_secret() -> None:
    docs = _render("metrics.enabled=false", "secrets.existingSecret=pllm-keys")
    assert "Secret" not in docs
    assert _config(docs)["general_settings"]["metrics_port"] == 0
    assert "metrics" not in {p["name"] for p in docs["Service"]["spec"]["ports"]}
    assert _container(docs)["envFrom"] == [{"secretRef": {"name": "pllm-keys"}}]


def test_a_grace_period_shorter_than_the_drain_is_refused() -> None:
    helm = _helm()
    done = subprocess.run(
        [str(helm), "template", "pllm", str(CHART), "--set", "terminationGracePeriodSeconds=20"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "terminationGracePeriodSeconds" in done.stderr


def test_values_schema_refuses_a_misspelt_key() -> None:
    done = subprocess.run(
        [str(_helm()), "template", "pllm", str(CHART), "--set", "autoscalling.enabled=true"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "autoscalling" in done.stderr
