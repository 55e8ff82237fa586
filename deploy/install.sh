#!/usr/bin/env bash
# Production install on one Debian/Ubuntu host: nginx (TLS) -> uvicorn (unix socket) + Celery worker
# + Celery beat under systemd, with the system PostgreSQL and Redis. Run as root from a checkout:
#
#   SERVER_NAME=trade.example.com TLS_CERT=/etc/letsencrypt/live/trade.example.com/fullchain.pem \
#   TLS_KEY=/etc/letsencrypt/live/trade.example.com/privkey.pem deploy/install.sh
#
# Safe to run again to upgrade: code is replaced, the environment file and database are kept,
# migrations run, services restart, and `manage.py verify_deployment` checks the result.
#
#   deploy/install.sh --render-nginx DIR   only render the nginx site into DIR (used by the tests)
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

APP_USER=${APP_USER:-tradeplatform}
PREFIX=${PREFIX:-/opt/tradeplatform}
ETC=${ETC:-/etc/tradeplatform}
STATE=${STATE:-/var/lib/tradeplatform}
SERVER_NAME=${SERVER_NAME:-}
TLS_CERT=${TLS_CERT:-/etc/ssl/certs/ssl-cert-snakeoil.pem}
TLS_KEY=${TLS_KEY:-/etc/ssl/private/ssl-cert-snakeoil.key}
HTTP_LISTEN=${HTTP_LISTEN:-80}
HTTPS_LISTEN=${HTTPS_LISTEN:-443}
UPSTREAM=${UPSTREAM:-unix:/run/tradeplatform/web.sock}
STATIC_ROOT=${STATIC_ROOT:-$STATE/static}
PROXY_SNIPPET=${PROXY_SNIPPET:-/etc/nginx/snippets/tradeplatform-proxy.conf}

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
die() { printf 'install: %s\n' "$*" >&2; exit 1; }

# Writes the site and its proxy snippet into $1 with every @PLACEHOLDER@ filled in.
render_nginx() {
  local out=$1 port_suffix=""
  [ -n "$SERVER_NAME" ] || die "set SERVER_NAME (the public host name, e.g. trade.example.com)"
  [ "${HTTPS_LISTEN##*:}" = 443 ] || port_suffix=":${HTTPS_LISTEN##*:}"
  mkdir -p "$out"
  sed -e "s|@UPSTREAM@|$UPSTREAM|g" -e "s|@SERVER_NAME@|$SERVER_NAME|g" \
      -e "s|@HTTP_LISTEN@|$HTTP_LISTEN|g" -e "s|@HTTPS_LISTEN@|$HTTPS_LISTEN|g" \
      -e "s|@HTTPS_PORT_SUFFIX@|$port_suffix|g" -e "s|@TLS_CERT@|$TLS_CERT|g" -e "s|@TLS_KEY@|$TLS_KEY|g" \
      -e "s|@STATIC_ROOT@|$STATIC_ROOT|g" -e "s|@PROXY_SNIPPET@|$PROXY_SNIPPET|g" \
      "$SRC/deploy/nginx/tradeplatform.conf" > "$out/tradeplatform.conf"
  cp "$SRC/deploy/nginx/proxy.conf" "$out/tradeplatform-proxy.conf"
  if grep -q '@[A-Z_]*@' "$out/tradeplatform.conf"; then
    die "unrendered placeholder in the nginx site: $(grep -o '@[A-Z_]*@' "$out/tradeplatform.conf" | head -1)"
  fi
}

if [ "${1:-}" = "--render-nginx" ]; then
  [ -n "${2:-}" ] || die "usage: install.sh --render-nginx DIR"
  render_nginx "$2"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "run as root (it installs packages, a system user and systemd units)"
[ -n "$SERVER_NAME" ] || die "set SERVER_NAME (the public host name, e.g. trade.example.com)"

say "System packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3 python3-venv postgresql redis-server nginx ssl-cert \
  rsync >/dev/null

say "Service user and directories"
id "$APP_USER" >/dev/null 2>&1 || useradd --system --home-dir "$STATE" --shell /usr/sbin/nologin "$APP_USER"
usermod -a -G "$APP_USER" www-data  # nginx reaches the web socket through the group
install -d -o "$APP_USER" -g "$APP_USER" -m 750 "$STATE" "$STATE/static"
install -d -m 755 "$PREFIX"
install -d -o root -g "$APP_USER" -m 750 "$ETC"

say "Code and virtualenv in $PREFIX"
rsync -a --delete --exclude .git --exclude .venv --exclude var --exclude .env "$SRC/" "$PREFIX/app/"
[ -x "$PREFIX/venv/bin/python" ] || python3 -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install -q --disable-pip-version-check -r "$PREFIX/app/requirements/base.txt"

if [ ! -f "$ETC/env" ]; then
  say "Writing $ETC/env with fresh secrets (mode 600)"
  db_password=$("$PREFIX/venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(24))')
  secret_key=$("$PREFIX/venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(50))')
  fernet=$("$PREFIX/venv/bin/python" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')
  umask 077
  {
    echo "DEBUG=false"
    echo "SECRET_KEY=$secret_key"
    echo "ALLOWED_HOSTS=$SERVER_NAME"
    echo "CSRF_TRUSTED_ORIGINS=https://$SERVER_NAME"
    echo "HTTPS=true"
    echo "NUM_PROXIES=1"
    echo "DATABASE_URL=postgres://$APP_USER:$db_password@127.0.0.1:5432/$APP_USER"
    echo "REDIS_URL=redis://127.0.0.1:6379/0"
    echo "FIELD_ENCRYPTION_KEYS=$fernet"
    echo "STATIC_ROOT=$STATIC_ROOT"
    echo "DASHBOARD_PUBLIC_URL=https://$SERVER_NAME"
    echo "ENABLE_TRADING=true"
    echo "ENABLE_LIVE_TRADING=false"
    echo "ENABLE_SCHEDULERS=true"
    echo "WEB_WORKERS=2"
    echo "CELERY_CONCURRENCY=2"
    echo "ALERTS_CONCURRENCY=2"
  } > "$ETC/env"
  umask 022
  chown "root:$APP_USER" "$ETC/env"
  chmod 640 "$ETC/env"
  say "Database role and database"
  systemctl enable --now postgresql redis-server
  runuser -u postgres -- psql -v ON_ERROR_STOP=1 -q \
    -c "CREATE ROLE $APP_USER LOGIN PASSWORD '$db_password'" \
    -c "CREATE DATABASE $APP_USER OWNER $APP_USER"
fi

run_manage() {
  runuser -u "$APP_USER" -- bash -c 'set -a; . "$0"; set +a; exec "$@"' "$ETC/env" \
    "$PREFIX/venv/bin/python" "$PREFIX/app/manage.py" "$@"
}
say "Migrations, static files, deploy checks"
(cd "$PREFIX/app" && run_manage migrate --noinput)
(cd "$PREFIX/app" && run_manage collectstatic --noinput -v 0)
(cd "$PREFIX/app" && run_manage check --deploy --fail-level WARNING)

say "nginx site"
tmp=$(mktemp -d)
render_nginx "$tmp"
install -m 644 "$tmp/tradeplatform-proxy.conf" "$PROXY_SNIPPET"
install -m 644 "$tmp/tradeplatform.conf" /etc/nginx/sites-available/tradeplatform
ln -sf /etc/nginx/sites-available/tradeplatform /etc/nginx/sites-enabled/tradeplatform
rm -rf "$tmp"
nginx -t
systemctl reload nginx || systemctl start nginx

say "systemd units"
install -m 644 "$SRC"/deploy/systemd/tradeplatform*.service "$SRC"/deploy/systemd/tradeplatform.target \
  /etc/systemd/system/
systemctl daemon-reload
systemctl enable tradeplatform.target tradeplatform-web tradeplatform-worker tradeplatform-alerts tradeplatform-beat
systemctl restart tradeplatform-web tradeplatform-worker tradeplatform-alerts tradeplatform-beat

say "Post-deploy verification"
sleep 3
(cd "$PREFIX/app" && run_manage verify_deployment --url "https://$SERVER_NAME" ${VERIFY_ARGS:-})
say "Installed. Create a staff account: see docs/deploy.md"
