#!/usr/bin/env bash
# Production install on one Debian/Ubuntu host: nginx (TLS) -> uvicorn (unix socket) + Celery workers
# + Celery beat under systemd, with the system PostgreSQL and Redis. Run as root from a checkout:
#
#   SERVER_NAME=trade.example.com TLS_CERT=/etc/letsencrypt/live/trade.example.com/fullchain.pem \
#   TLS_KEY=/etc/letsencrypt/live/trade.example.com/privkey.pem deploy/install.sh
#
# Safe to run again to upgrade: code is replaced, the environment file, the admin password file and the
# database are kept, migrations run, services restart, and `manage.py verify_deployment` checks the result.
#
#   deploy/install.sh --dry-run            print every step it would take; changes nothing (any user)
#   deploy/install.sh --configure          only the configuration step: the environment file in $ETC
#                                          (written once, never overwritten) and, with
#                                          ADMIN_BASIC_AUTH_USER set, the htpasswd for /admin/
#   deploy/install.sh --render-nginx DIR   only render the nginx site into DIR (used by the tests)
#
# ADMIN_BASIC_AUTH_USER=name puts HTTP basic auth in front of /admin/ (a second lock before Django's own
# login). The password comes from ADMIN_BASIC_AUTH_PASSWORD or is generated and written, readable by
# root only, to $ETC/admin-basic-auth.password: read it once, keep it in a password manager, delete it.
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
# web processes, each on its own socket (config/serve.py); nginx lists them all. Unset: what the env file says
if [ -z "${WEB_WORKERS:-}" ] && [ -r "$ETC/env" ]; then
  WEB_WORKERS=$(sed -n 's/^WEB_WORKERS=\([0-9][0-9]*\)$/\1/p' "$ETC/env" | tail -n 1)
fi
WEB_WORKERS=${WEB_WORKERS:-2}
[[ $WEB_WORKERS =~ ^[1-9][0-9]?$ ]] || { echo "install: WEB_WORKERS must be a number from 1 to 99" >&2; exit 1; }
# several web instances (scale-out): space separated; by default this host's WEB_WORKERS sockets
UPSTREAM=${UPSTREAM:-$(for n in $(seq 1 "$WEB_WORKERS"); do printf 'unix:/run/tradeplatform/web-%s.sock ' "$n"; done)}
STATIC_ROOT=${STATIC_ROOT:-$STATE/static}
BACKUP_DIR=${BACKUP_DIR:-$STATE/backups}
NGINX_SNIPPETS=${NGINX_SNIPPETS:-/etc/nginx/snippets}
PROXY_SNIPPET=${PROXY_SNIPPET:-$NGINX_SNIPPETS/tradeplatform-proxy.conf}
HEADERS_SNIPPET=${HEADERS_SNIPPET:-$NGINX_SNIPPETS/tradeplatform-headers.conf}
NGINX_GROUP=${NGINX_GROUP:-www-data}
ADMIN_BASIC_AUTH_USER=${ADMIN_BASIC_AUTH_USER:-}
ADMIN_HTPASSWD=${ADMIN_HTPASSWD:-$ETC/admin.htpasswd}
PYTHON=${PYTHON:-python3}
DRY_RUN=0

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
die() { printf 'install: %s\n' "$*" >&2; exit 1; }
# Every command that changes the machine goes through `run`: with --dry-run it is printed instead.
run() {
  if [ "$DRY_RUN" = 1 ]; then
    printf '    would run:'; printf ' %q' "$@"; printf '\n'
  else
    "$@"
  fi
}
would() { printf '    would %s\n' "$*"; }

# Writes the site and its snippets into $1 with every @PLACEHOLDER@ filled in.
render_nginx() {
  local out=$1 port_suffix="" admin_auth="auth_basic off;"
  [ -n "$SERVER_NAME" ] || die "set SERVER_NAME (the public host name, e.g. trade.example.com)"
  [ "${HTTPS_LISTEN##*:}" = 443 ] || port_suffix=":${HTTPS_LISTEN##*:}"
  if [ -n "$ADMIN_BASIC_AUTH_USER" ] || [ -f "$ADMIN_HTPASSWD" ]; then
    admin_auth="auth_basic \"Trading platform admin\"; auth_basic_user_file $ADMIN_HTPASSWD;"
  fi
  local servers="" server
  for server in ${UPSTREAM//,/ }; do
    servers+="server $server max_fails=1 fail_timeout=5s; "
  done
  [ -n "$servers" ] || die "set UPSTREAM (the web instance(s): unix:/path or host:port, space separated)"
  mkdir -p "$out"
  sed -e "s|@UPSTREAM_SERVERS@|$servers|g" -e "s|@SERVER_NAME@|$SERVER_NAME|g" \
      -e "s|@HTTP_LISTEN@|$HTTP_LISTEN|g" -e "s|@HTTPS_LISTEN@|$HTTPS_LISTEN|g" \
      -e "s|@HTTPS_PORT_SUFFIX@|$port_suffix|g" -e "s|@TLS_CERT@|$TLS_CERT|g" -e "s|@TLS_KEY@|$TLS_KEY|g" \
      -e "s|@STATIC_ROOT@|$STATIC_ROOT|g" -e "s|@PROXY_SNIPPET@|$PROXY_SNIPPET|g" \
      -e "s|@HEADERS_SNIPPET@|$HEADERS_SNIPPET|g" -e "s|@ADMIN_AUTH@|$admin_auth|g" \
      "$SRC/deploy/nginx/tradeplatform.conf" > "$out/tradeplatform.conf"
  cp "$SRC/deploy/nginx/proxy.conf" "$out/tradeplatform-proxy.conf"
  cp "$SRC/deploy/nginx/headers.conf" "$out/tradeplatform-headers.conf"
  if grep -q '@[A-Z_]*@' "$out/tradeplatform.conf"; then
    die "unrendered placeholder in the nginx site: $(grep -o '@[A-Z_]*@' "$out/tradeplatform.conf" | head -1)"
  fi
}

random_token() { "$PYTHON" -c 'import secrets, sys; print(secrets.token_urlsafe(int(sys.argv[1])))' "$1"; }
# A Fernet key is 32 random bytes, urlsafe base64: no library needed to make one.
fernet_key() { "$PYTHON" -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'; }

ENV_CREATED=0
DB_PASSWORD=""
# The environment file: written once with fresh secrets, never overwritten (an upgrade keeps every secret).
configure_env() {
  local envfile="$ETC/env" key
  if [ -f "$envfile" ]; then
    say "Keeping $envfile (never overwritten; edit it by hand, see docs/operations.md)"
    for key in SECRET_KEY FIELD_ENCRYPTION_KEYS DATABASE_URL; do
      grep -Eq "^$key=.+" "$envfile" || die "$envfile has no value for $key: fix it by hand (docs/operations.md)"
    done
    return
  fi
  say "Writing $envfile with fresh secrets (mode 640, root:$APP_USER)"
  if [ "$DRY_RUN" = 1 ]; then
    would "write $envfile: SECRET_KEY, JWT_SIGNING_KEY, FIELD_ENCRYPTION_KEYS and a database password, each new"
    ENV_CREATED=1
    return
  fi
  getent group "$APP_USER" >/dev/null || die "no group $APP_USER for $envfile (set APP_USER)"
  install -d -o root -g "$APP_USER" -m 750 "$ETC"
  DB_PASSWORD=$(random_token 24)
  local tmp
  tmp=$(mktemp "$ETC/.env.XXXXXX")  # mode 600 from mktemp; moved into place whole, never half-written
  {
    echo "# Written by deploy/install.sh on $(date -u +%Y-%m-%dT%H:%MZ). Never overwritten by an upgrade."
    echo "# How to rotate each secret: docs/operations.md. Every setting: deploy/env.example."
    echo "DEBUG=false"
    echo "SECRET_KEY=$(random_token 50)"
    echo "JWT_SIGNING_KEY=$(random_token 50)"
    echo "ALLOWED_HOSTS=$SERVER_NAME"
    echo "CSRF_TRUSTED_ORIGINS=https://$SERVER_NAME"
    echo "HTTPS=true"
    echo "NUM_PROXIES=1"
    echo "DATABASE_URL=postgres://$APP_USER:$DB_PASSWORD@127.0.0.1:5432/$APP_USER"
    echo "REDIS_URL=redis://127.0.0.1:6379/0"
    echo "FIELD_ENCRYPTION_KEYS=$(fernet_key)"
    echo "STATIC_ROOT=$STATIC_ROOT"
    echo "BACKUP_DIR=$BACKUP_DIR"
    echo "DASHBOARD_PUBLIC_URL=https://$SERVER_NAME"
    echo "ENABLE_TRADING=true"
    echo "ENABLE_LIVE_TRADING=false"
    echo "ENABLE_SCHEDULERS=true"
    echo "WEB_WORKERS=$WEB_WORKERS"  # nginx's upstream lists this many sockets: change both with the installer
    echo "CELERY_CONCURRENCY=2"
    echo "ALERTS_CONCURRENCY=2"
  } > "$tmp"
  chown "root:$APP_USER" "$tmp"
  chmod 640 "$tmp"
  mv "$tmp" "$envfile"
  ENV_CREATED=1
}

# The htpasswd for /admin/ (only with ADMIN_BASIC_AUTH_USER): created once, never overwritten.
configure_admin_auth() {
  [ -n "$ADMIN_BASIC_AUTH_USER" ] || return 0
  if [ -f "$ADMIN_HTPASSWD" ]; then
    say "Keeping $ADMIN_HTPASSWD (basic auth in front of /admin/)"
    return
  fi
  say "Basic auth for /admin/: user $ADMIN_BASIC_AUTH_USER in $ADMIN_HTPASSWD"
  if [ "$DRY_RUN" = 1 ]; then
    would "write $ADMIN_HTPASSWD (SHA-512 crypt, mode 640 root:$NGINX_GROUP)"
    [ -n "${ADMIN_BASIC_AUTH_PASSWORD:-}" ] || would "write the generated password to $ETC/admin-basic-auth.password (mode 600)"
    return
  fi
  [[ "$ADMIN_BASIC_AUTH_USER" =~ ^[A-Za-z0-9._-]+$ ]] || die "ADMIN_BASIC_AUTH_USER: letters, digits, . _ - only"
  command -v openssl >/dev/null || die "openssl is needed to hash the admin password"
  getent group "$NGINX_GROUP" >/dev/null || die "no group $NGINX_GROUP for $ADMIN_HTPASSWD (set NGINX_GROUP)"
  local password=${ADMIN_BASIC_AUTH_PASSWORD:-} hash
  if [ -z "$password" ]; then
    password=$(random_token 18)
    (umask 077; printf '%s\n' "$password" > "$ETC/admin-basic-auth.password")
    say "Generated password in $ETC/admin-basic-auth.password: read it once, then delete the file"
  fi
  hash=$(printf '%s' "$password" | openssl passwd -6 -stdin)
  (umask 027; printf '%s:%s\n' "$ADMIN_BASIC_AUTH_USER" "$hash" > "$ADMIN_HTPASSWD")
  chown "root:$NGINX_GROUP" "$ADMIN_HTPASSWD"
  chmod 640 "$ADMIN_HTPASSWD"
}

case "${1:-}" in
  --render-nginx)
    [ -n "${2:-}" ] || die "usage: install.sh --render-nginx DIR"
    render_nginx "$2"
    exit 0 ;;
  --configure)
    [ -n "$SERVER_NAME" ] || die "set SERVER_NAME (the public host name, e.g. trade.example.com)"
    configure_env
    configure_admin_auth
    exit 0 ;;
  --dry-run) DRY_RUN=1 ;;
  "") ;;
  *) die "unknown option $1 (see the top of deploy/install.sh)" ;;
esac

[ "$DRY_RUN" = 1 ] || [ "$(id -u)" = 0 ] || die "run as root (it installs packages, a system user and systemd units)"
[ -n "$SERVER_NAME" ] || die "set SERVER_NAME (the public host name, e.g. trade.example.com)"
[ "$DRY_RUN" = 0 ] || say "Dry run: nothing below is changed, every step is only printed"

say "System packages"
export DEBIAN_FRONTEND=noninteractive
run apt-get update -qq
run apt-get install -y -qq --no-install-recommends python3 python3-venv postgresql postgresql-client \
  redis-server nginx ssl-cert rsync openssl

say "Service user and directories"
id "$APP_USER" >/dev/null 2>&1 || run useradd --system --home-dir "$STATE" --shell /usr/sbin/nologin "$APP_USER"
run usermod -a -G "$APP_USER" "$NGINX_GROUP"  # nginx reaches the web socket through the group
run install -d -o "$APP_USER" -g "$APP_USER" -m 750 "$STATE" "$STATE/static"
run install -d -o "$APP_USER" -g "$APP_USER" -m 700 "$BACKUP_DIR"
run install -d -m 755 "$PREFIX"
run install -d -o root -g "$APP_USER" -m 750 "$ETC"

say "Code and virtualenv in $PREFIX"
run rsync -a --delete --exclude .git --exclude .venv --exclude var --exclude .env "$SRC/" "$PREFIX/app/"
[ -x "$PREFIX/venv/bin/python" ] || run python3 -m venv "$PREFIX/venv"
run "$PREFIX/venv/bin/pip" install -q --disable-pip-version-check -r "$PREFIX/app/requirements/base.txt"

configure_env
configure_admin_auth

if [ "$ENV_CREATED" = 1 ]; then
  say "Database role and database"
  run systemctl enable --now postgresql redis-server
  if [ "$DRY_RUN" = 1 ]; then
    would "create the PostgreSQL role and database $APP_USER (password from the new environment file)"
  else
    # the password goes through stdin, never a command line another user could read in ps
    runuser -u postgres -- psql -v ON_ERROR_STOP=1 -q <<SQL
CREATE ROLE $APP_USER LOGIN PASSWORD '$DB_PASSWORD';
CREATE DATABASE $APP_USER OWNER $APP_USER;
SQL
  fi
fi

run_manage() {
  run runuser -u "$APP_USER" -- bash -c 'set -a; . "$0"; set +a; cd "$1"; shift; exec "$@"' "$ETC/env" \
    "$PREFIX/app" "$PREFIX/venv/bin/python" "$PREFIX/app/manage.py" "$@"
}
say "Migrations, static files, deploy checks"
run_manage migrate --noinput
run_manage collectstatic --noinput -v 0
run_manage check --deploy --fail-level WARNING

say "nginx site"
tmp=$(mktemp -d)
render_nginx "$tmp"
run install -d -m 755 "$NGINX_SNIPPETS"
run install -m 644 "$tmp/tradeplatform-proxy.conf" "$PROXY_SNIPPET"
run install -m 644 "$tmp/tradeplatform-headers.conf" "$HEADERS_SNIPPET"
run install -m 644 "$tmp/tradeplatform.conf" /etc/nginx/sites-available/tradeplatform
run ln -sf /etc/nginx/sites-available/tradeplatform /etc/nginx/sites-enabled/tradeplatform
rm -rf "$tmp"
run nginx -t
run systemctl reload-or-restart nginx

say "systemd units"
units=(tradeplatform-web tradeplatform-worker tradeplatform-alerts tradeplatform-beat)
run install -m 644 "$SRC"/deploy/systemd/tradeplatform*.service "$SRC"/deploy/systemd/tradeplatform*.timer \
  "$SRC"/deploy/systemd/tradeplatform.target /etc/systemd/system/
run systemctl daemon-reload
run systemctl enable tradeplatform.target "${units[@]}" tradeplatform-backup.timer
run systemctl restart "${units[@]}"
run systemctl start tradeplatform-backup.timer

say "Post-deploy verification"
run sleep 3
run_manage verify_deployment --url "https://$SERVER_NAME" ${VERIFY_ARGS:-}
if [ "$DRY_RUN" = 1 ]; then
  say "Dry run finished: nothing was changed"
else
  say "Installed. Create a staff account: see docs/deploy.md"
fi
