# Proxbox: `make run` to try it, `make test` for everything CI checks.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

# The flags cargo-leptos uses for its debug server build: native checks and tests use
# the same ones, so the three share build artifacts instead of rebuilding each other.
NATIVE := RUSTFLAGS="--cfg erase_components" LEPTOS_OUTPUT_NAME=proxbox

.PHONY: run test setup setup-test lint unit e2e dist dist-check bench soak sim build release clean

## run: install what is missing, build the release site and binary, serve on http://127.0.0.1:3000
run: setup
	cargo leptos build --release
	target/release/proxbox serve

## test: formatting, clippy, unit + integration tests (SQLite, PostgreSQL, a real NetBox), end-to-end tests
# NetBox is prepared in the background while the tools install and the linters compile
# (its first install migrates a database for 5-15 minutes).
test:
	scripts/db-up
	scripts/netbox-up --background
	scripts/setup-toolchain --with-browser
	$(MAKE) lint
	scripts/netbox-up --wait
	$(MAKE) unit e2e dist-check

setup:
	scripts/setup-toolchain

setup-test:
	scripts/setup-toolchain --with-browser
	scripts/db-up

lint:
	cargo fmt --all --check
	$(NATIVE) cargo clippy --workspace --features proxbox/ssr --all-targets -- -D warnings
	cargo clippy -p proxbox --lib --features hydrate --target wasm32-unknown-unknown -- -D warnings

unit:
	RUST_BACKTRACE=0 $(NATIVE) cargo nextest run --workspace --features proxbox/ssr --no-fail-fast

e2e:
	scripts/e2e

## dist: target/dist/proxbox-VERSION-ARCH-linux.tar.gz (binary carrying its site, systemd unit, example settings)
dist:
	scripts/setup-toolchain
	scripts/dist

# The archive (of the debug build) installed into an empty directory and started as a service would.
dist-check:
	scripts/dist-check

## bench: speed and size targets, printed as a section for BENCHMARKS.md
bench:
	scripts/bench

## soak: random changes and faults, kills and restarts, then a check that nothing was lost
## or duplicated (SOAK_CYCLES, default 100); prints a section for BENCHMARKS.md
soak:
	scripts/db-up
	scripts/netbox-up
	$(NATIVE) cargo bench -q -p proxbox --features ssr --bench soak

## sim: a simulated Proxmox VE cluster for demos (see README "Try it without a cluster")
sim:
	cargo run -q -p pve-sim --release -- --clusters 1 --nodes 3 --guests 50

build:
	cargo leptos build

release:
	cargo leptos build --release

clean:
	cargo clean
