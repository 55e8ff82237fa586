#!/usr/bin/env bash
# `make bench`: install what is missing (plus requirements/bench.txt), start local PostgreSQL + Redis of its
# own, migrate, run every benchmark in bench/ (bench/run_all.py: quick forms, under 10 minutes in all) and
# rewrite the generated block of docs/benchmarks.md. Arguments go to bench/run_all.py (e.g. --only engine).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
scripts/bootstrap.sh
.venv/bin/python -c 'import locust' 2>/dev/null \
  || .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements/bench.txt

# Like the tests: services and settings of its own, never a developer's .env or database.
export ENV_FILE=/dev/null
export VAR_DIR="${BENCH_VAR_DIR:-$ROOT/var/bench}"
export PG_PORT="${BENCH_PG_PORT:-55452}" REDIS_PORT="${BENCH_REDIS_PORT:-56399}"
unset DATABASE_URL REDIS_URL
.venv/bin/python scripts/stack.py up --fast
trap 'env -u DATABASE_URL -u REDIS_URL .venv/bin/python scripts/stack.py down >/dev/null' EXIT
eval "$(.venv/bin/python scripts/stack.py env)"
export DEBUG=false HTTPS=false ALLOWED_HOSTS="127.0.0.1,localhost,testserver"
export SECRET_KEY="bench-only-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
export FIELD_ENCRYPTION_KEYS="$(.venv/bin/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
.venv/bin/python manage.py migrate --noinput -v 0
.venv/bin/python bench/run_all.py "$@"  # not exec: the trap above stops the services
