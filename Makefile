# The entry points. `make run` and `make test` are all a fresh machine needs.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := run

CARGO ?= cargo
BIN := target/debug
RELEASE_BIN := target/release

# Test dependencies listen away from `make run`'s defaults, so both can run at once.
TEST_ENV := RUN_DIR=$(CURDIR)/.run/test DYNAMODB_PORT=19000 NATS_PORT=19222 STRIPE_PORT=19420

.PHONY: run test setup build lint unit bench clean

setup:
	@./scripts/setup.sh

build: setup
	@$(CARGO) build --quiet --workspace --bins

## Builds, starts the whole stack locally and prints the URL; Ctrl-C stops everything.
run: build
	@exec $(BIN)/devstack up

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --quiet --workspace --all-targets -- -D warnings

## Every test: formatting, lints, unit, integration (real DynamoDB Local and NATS), end to end.
test: lint build
	$(TEST_ENV) $(BIN)/devstack deps -- $(CARGO) test --workspace --no-fail-fast

## Benchmarks against the budgets in the architecture (release build).
bench: setup
	@$(CARGO) build --quiet --release --workspace --bins
	$(TEST_ENV) BIN_DIR=$(CURDIR)/$(RELEASE_BIN) $(RELEASE_BIN)/devstack deps -- $(RELEASE_BIN)/cold-start

clean:
	rm -rf .run
