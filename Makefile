# Deviate's two entry points: `make serve` (the playground) and `make test` (every test).
# Builds share one target folder outside the checkout, so later runs reuse it.
CARGO_TARGET_DIR ?= $(HOME)/.cache/deviate/target
export CARGO_TARGET_DIR
PORT ?= 8080
WASM := $(CARGO_TARGET_DIR)/wasm32-unknown-unknown/wasm-release/deviate.wasm
BIN := $(CARGO_TARGET_DIR)/debug/deviate

.PHONY: serve test setup setup-test models wasm native test-native test-wasm test-e2e sizes clean

## Build what is missing and serve the playground at http://127.0.0.1:$(PORT)
serve: setup models wasm native
	$(BIN) serve --port $(PORT)

## Run every test: native, wasm in headless Chromium, Playwright e2e
test: setup-test models wasm native test-native test-wasm test-e2e

setup:
	scripts/setup.sh build

setup-test:
	scripts/setup.sh test

models:
	python3 scripts/fetch_models.py

wasm:
	cargo build --lib --target wasm32-unknown-unknown --profile wasm-release
	wasm-bindgen --target web --no-typescript --out-dir pkg $(WASM)

native:
	cargo build --bin deviate

test-native:
	cargo test

# The wasm tests use the shipped wasm-release profile: they test what users run and reuse its build.
test-wasm:
	CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
	CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=300 \
	cargo test --target wasm32-unknown-unknown --profile wasm-release --test web

test-e2e:
	DEVIATE_BIN=$(BIN) npm run --silent e2e

## Release wasm size, raw and gzipped
sizes:
	@ls -l pkg/deviate_bg.wasm | awk '{print "raw    " $$5 " bytes"}'
	@gzip -9 -c pkg/deviate_bg.wasm | wc -c | awk '{print "gzip   " $$1 " bytes"}'

clean:
	rm -rf pkg test-output
