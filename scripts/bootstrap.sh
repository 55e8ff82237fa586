#!/usr/bin/env bash
# Installs what the project needs on a Debian/Ubuntu machine: system packages (only the
# missing ones, through apt, as root or with sudo) and the Python virtualenv in .venv.
# Safe to run again: it skips what is already there.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

# --- system packages -----------------------------------------------------------------
need=()
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ "${WITH_BROWSER:-1}" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi
if [ "${WITH_NGINX:-1}" = 1 ]; then
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
fi
py=""
for cand in "${PYTHON:-}" python3.11 python3; do
  [ -n "$cand" ] || continue
  if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    py=$cand; break
  fi
done
[ -n "$py" ] || need+=(python3 python3-venv)

if [ ${#need[@]} -gt 0 ]; then
  say "Installing system packages: ${need[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "Need root or sudo to install: ${need[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # A temporary policy-rc.d keeps the packages from starting system-wide services:
  # the project runs its own PostgreSQL and Redis under var/.
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod +x "$policy"
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || { [ -z "$policy" ] || $SUDO rm -f "$policy"; exit 1; }
  [ -z "$policy" ] || $SUDO rm -f "$policy"
  [ -n "$py" ] || py=python3
fi

# --- virtualenv --------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  say "Creating .venv with $py"
  "$py" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(cat requirements/*.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "Installing Python requirements"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements/dev.txt
  echo "$want" > "$stamp"
fi
