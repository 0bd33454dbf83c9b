# The entry points. `make run` and `make test` are all a fresh machine needs.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := run

CARGO ?= cargo
BIN := target/debug
RELEASE_BIN := target/release

# Test dependencies listen away from `make run`'s defaults, so both can run at once.
TEST_ENV := RUN_DIR=$(CURDIR)/.run/test DYNAMODB_PORT=19000 NATS_PORT=19222 STRIPE_PORT=19420

# What renders or applies manifests uses the kubectl of scripts/setup-tools.sh (PyPI, pinned), first
# on PATH, whether or not the machine has one of its own.
test images deploy check-manifests: export PATH := $(CURDIR)/.venv/tools-bin:$(PATH)

.PHONY: run test setup build lint unit bench clean images deploy check-manifests

setup:
	@./scripts/setup.sh

build: setup
	@$(CARGO) build --quiet --workspace --bins
	@./scripts/build-storefront.sh

## Builds, starts the whole stack locally and prints the URL; Ctrl-C stops everything.
run: build
	@exec $(BIN)/devstack up

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --quiet --workspace --all-targets -- -D warnings
	$(CARGO) clippy --quiet -p storefront --target wasm32-unknown-unknown -- -D warnings

## Every test: formatting, lints, unit, integration (real DynamoDB Local and NATS), end to end, and
## the storefront in headless chromium (screenshots in tests/artifacts/browser).
test: lint build
	@./scripts/setup-tools.sh kubectl images
	@./scripts/setup-lambda.sh
	$(TEST_ENV) $(BIN)/devstack deps -- $(CARGO) test --workspace --no-fail-fast

## Benchmarks against the budgets in the architecture (release build), written to bench/results/latest.{json,md}.
## `make bench BUYERS=2000 TICKETS=500` sets the drop's size.
BUYERS ?= 2000
TICKETS ?= 500
bench: setup
	@$(CARGO) build --quiet --release --workspace --bins
	@./scripts/build-storefront.sh
	$(RELEASE_BIN)/bench --buyers $(BUYERS) --tickets $(TICKETS)

## Every image, with podman and no registry: each function `FROM scratch` (static musl binary of the
## `image` profile) and the storefront (NGINX and frontend/dist). `podman images` lists them.
images: setup
	@./scripts/images.sh

## One function: `make deploy FN=place-order [OVERLAY=dev|prod|drop] [DRY_RUN=1]`.
deploy: setup
	@./scripts/setup-tools.sh kubectl
	@FN="$(FN)" OVERLAY="$(OVERLAY)" DRY_RUN="$(DRY_RUN)" ./scripts/deploy.sh

## Renders every overlay and validates each object against the Kubernetes and Knative schemas.
check-manifests: setup
	@./scripts/setup-tools.sh kubectl
	@for overlay in base overlays/dev overlays/prod overlays/drop; do \
	  printf '%s: ' "$$overlay"; kubectl kustomize "knative/$$overlay" | node scripts/validate-manifests.mjs | tail -1; \
	done

clean:
	rm -rf .run
