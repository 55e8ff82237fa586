#!/usr/bin/env bash
# `make test`: install what is missing, start local PostgreSQL + Redis, lint, run the whole suite.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
scripts/bootstrap.sh

# The tests run against their own services and settings, never a developer's .env.
export ENV_FILE=/dev/null
export VAR_DIR="${TEST_VAR_DIR:-$ROOT/var/test}"
export PG_PORT="${TEST_PG_PORT:-55442}" REDIS_PORT="${TEST_REDIS_PORT:-56389}"
unset DATABASE_URL REDIS_URL
.venv/bin/python scripts/stack.py up --fast
trap 'env -u DATABASE_URL -u REDIS_URL .venv/bin/python scripts/stack.py down >/dev/null' EXIT
eval "$(.venv/bin/python scripts/stack.py env)"
export DEBUG=false HTTPS=false ALLOWED_HOSTS="127.0.0.1,localhost,testserver"
export SECRET_KEY="test-only-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
export FIELD_ENCRYPTION_KEYS="$(.venv/bin/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
export REDIS_URL="${REDIS_URL%/0}/1"
# pytest's temporary directories under this run's own VAR_DIR: concurrent runs (other checkouts, other
# ports) never prune each other's directories while a test still uses them.
export PYTEST_DEBUG_TEMPROOT="$VAR_DIR/tmp"
mkdir -p "$PYTEST_DEBUG_TEMPROOT"

if [ "${LINT:-1}" = 1 ]; then
  echo "==> ruff"
  .venv/bin/ruff check .
  echo "==> import contracts"
  .venv/bin/lint-imports --no-cache
fi
# The whole suite runs on parallel workers (pytest-xdist), a test file per worker at a time, each with a test
# database and a Redis database of its own (config/settings.py); most of the slow tests wait on processes
# they started, so more workers than cores pays. A run of chosen tests stays in one process unless
# TEST_WORKERS says otherwise.
workers="${TEST_WORKERS:-$([ $# -eq 0 ] && echo 3 || echo 0)}"
echo "==> pytest ($workers parallel workers)"
set +e
.venv/bin/pytest -n "$workers" --dist loadfile "$@"
code=$?
set -e
# pytest exits 5 when it collected nothing: that is a failure of the suite, say so.
[ $code -eq 5 ] && echo "pytest collected no tests" >&2
exit $code
