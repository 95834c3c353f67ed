#!/usr/bin/env bash
# One command for the load benchmark: installs what is missing, then runs benches/load.py.
#   bash benches/run.sh                     # all targets, 10 s per point
#   DURATION=5 WARMUP=2 SKIP_LITELLM=1 bash benches/run.sh
#   BEFORE=/path/to/other/.venv/bin/pllm bash benches/run.sh   # + the pllm rows of another build
# Results: benches/results/RESULTS.md, results.json, load.png (raw wrk output: *.raw).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
SKIP_LITELLM="${SKIP_LITELLM:-0}"
BENCH_VENV="$ROOT/.bench-venv"
PLLM="$ROOT/.venv/bin/pllm"

if [[ ! -x "$PLLM" ]]; then
    echo "error: $PLLM not found: build the gateway first with 'make dev'" >&2
    exit 1
fi

# System tools. nginx-light is enough (no extra modules needed); fall back to nginx where
# a distribution does not ship it.
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || missing+=(nginx)
command -v taskset >/dev/null || missing+=(util-linux)
if ((${#missing[@]})); then
    if [[ "$(id -u)" != 0 ]]; then
        echo "error: missing ${missing[*]}; install them (as root: apt-get install -y ...)" >&2
        exit 1
    fi
    apt-get update -q
    packages=()
    for pkg in "${missing[@]}"; do
        if [[ "$pkg" == nginx ]] &&
            apt-cache policy nginx-light | grep -q 'Candidate: [0-9]'; then
            pkg=nginx-light
        fi
        packages+=("$pkg")
    done
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}"
fi

# The bench venv is separate so LiteLLM's dependency tree never lands in the gateway's venv.
if [[ ! -x "$BENCH_VENV/bin/python" ]]; then
    python3.11 -m venv "$BENCH_VENV" 2>/dev/null || python3 -m venv "$BENCH_VENV"
fi
requirements=(aiohttp granian uvloop msgspec matplotlib)
[[ "$SKIP_LITELLM" == 1 ]] || requirements+=("litellm[proxy]")
# Probe by import so an already-complete venv costs no network round trip.
if ! "$BENCH_VENV/bin/python" - "$SKIP_LITELLM" <<'EOF'; then
import importlib.util, sys
mods = ["aiohttp", "granian", "uvloop", "msgspec", "matplotlib"]
if sys.argv[1] != "1":
    mods += ["litellm", "litellm_proxy_extras"]  # the second comes only with [proxy]
sys.exit(any(importlib.util.find_spec(m) is None for m in mods))
EOF
    "$BENCH_VENV/bin/pip" install -q "${requirements[@]}"
fi

targets="direct,granian-empty,granian+rust,pllm,pllm-keyed,pllm-cached,pllm-claude,granian+aiohttp"
[[ "$SKIP_LITELLM" == 1 ]] || targets+=",litellm"
before=()
if [[ -n "${BEFORE:-}" ]]; then
    # Interleaved with this build's rows, so drift over the run hits both alike.
    targets="direct,granian-empty,granian+rust,pllm-before,pllm,pllm-keyed-before,pllm-keyed,pllm-claude-before,pllm-claude,granian+aiohttp"
    [[ "$SKIP_LITELLM" == 1 ]] || targets+=",litellm"
    before=(--before "$BEFORE")
fi

exec "$BENCH_VENV/bin/python" "$ROOT/benches/load.py" \
    --duration "$DURATION" --warmup "$WARMUP" --targets "$targets" "${before[@]}"
