#!/usr/bin/env bash
# Installs the Lambda test's tools once: cargo-lambda and ministack from PyPI, in a virtualenv of
# their own (.venv/lambda/), so that their dependencies never meet localstripe's in .venv/.
# Idempotent and quiet: a second run checks three files and returns.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv/lambda
if [ ! -x "$venv/bin/cargo-lambda" ] || [ ! -x "$venv/bin/ministack" ] \
  || [ scripts/requirements-lambda.txt -nt "$venv/.installed" ]; then
  printf 'setup-lambda: installing cargo-lambda and ministack into %s\n' "$venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps \
    -r scripts/requirements-lambda.txt
  touch "$venv/.installed"
fi
