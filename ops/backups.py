"""Database backups with PostgreSQL's own tools: `pg_dump` in its custom format, gzipped, a retention count;
`pg_restore` into an empty database (or over a used one only when asked to).

The dump holds the encrypted secrets, not the keys that open them: FIELD_ENCRYPTION_KEYS lives in the
environment file, which is backed up separately (docs/operations.md). A restore checks that every stored
secret opens with the configured keys.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.db import connection

from config.vault import vault
from keys.services import encrypted_models

PREFIX = "tradeplatform-"
SUFFIX = ".dump.gz"
CHUNK = 1 << 20


class BackupError(Exception):
    pass


@dataclass
class BackupResult:
    path: Path
    size: int
    seconds: float
    removed: list[Path]


def _pg_env() -> dict[str, str]:
    db = settings.DATABASES["default"]
    env = {**os.environ, "PGDATABASE": str(db["NAME"]), "PGCONNECT_TIMEOUT": "10"}
    for key, var in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"), ("PASSWORD", "PGPASSWORD")):
        if db.get(key):
            env[var] = str(db[key])  # the password goes through the environment, never the command line
    return env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} not found: install the PostgreSQL client (apt-get install postgresql-client)")
    return path


def backups_list(*, directory: Path) -> list[Path]:
    """The backups in `directory`, oldest first (the names sort by time)."""
    return sorted(p for p in Path(directory).glob(f"{PREFIX}*{SUFFIX}") if p.is_file())


def backup_create(*, directory: Path, keep: int) -> BackupResult:
    """Dump the database into `directory` (mode 600), then keep only the newest `keep` backups."""
    if keep < 1:
        raise BackupError("keep at least one backup")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = datetime.now(UTC)
    path = directory / f"{PREFIX}{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z{SUFFIX}"
    partial = path.with_name(f".{path.name}.partial")
    started = time.monotonic()
    # -Z0: gzip compresses the stream once, instead of pg_dump's own compression and gzip on top of it
    proc = subprocess.Popen([_tool("pg_dump"), "--format=custom", "--compress=0", "--no-password"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_pg_env())
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) as out:
            while chunk := proc.stdout.read(CHUNK):
                out.write(chunk)
        stderr = proc.stderr.read().decode(errors="replace")
        if proc.wait() != 0:
            raise BackupError(f"pg_dump failed: {stderr.strip()[:500]}")
        os.replace(partial, path)
    finally:
        if proc.poll() is None:
            proc.kill()
        partial.unlink(missing_ok=True)
    removed = backups_prune(directory=directory, keep=keep)
    return BackupResult(path, path.stat().st_size, time.monotonic() - started, removed)


def backups_prune(*, directory: Path, keep: int) -> list[Path]:
    old = backups_list(directory=directory)[:-keep]
    for path in old:
        path.unlink()
    return old


def database_tables() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
        return cur.fetchone()[0]


def backup_restore(*, path: Path, force: bool = False) -> float:
    """Restore `path` into the configured database. Refuses a database with tables unless `force`."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"no such backup: {path}")
    tables = database_tables()
    if tables and not force:
        name = settings.DATABASES["default"]["NAME"]
        raise BackupError(f"database {name!r} is not empty ({tables} tables): restore into an empty database, "
                          "or pass --force to replace what the backup holds")
    connection.close()  # pg_restore works in its own session
    started = time.monotonic()
    args = [_tool("pg_restore"), "--no-password", "--no-owner", "--no-privileges", "--exit-on-error",
            "--single-transaction", "--dbname", settings.DATABASES["default"]["NAME"]]
    if force:
        args += ["--clean", "--if-exists"]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=_pg_env())
    try:
        with gzip.open(path, "rb") as src:
            while chunk := src.read(CHUNK):
                proc.stdin.write(chunk)
        proc.stdin.close()
    except (OSError, EOFError) as exc:
        proc.kill()
        proc.wait()
        raise BackupError(f"cannot read {path}: {exc}") from None
    stderr = proc.stderr.read().decode(errors="replace")
    if proc.wait() != 0:
        raise BackupError(f"pg_restore failed: {stderr.strip()[:500]}")
    return time.monotonic() - started


def secrets_check() -> tuple[int, int]:
    """(opened, failed): every encrypted value stored, tried with the configured FIELD_ENCRYPTION_KEYS."""
    v = vault()
    opened = failed = 0
    for model, fields in encrypted_models():
        for row in model.objects.values_list(*fields).iterator():
            for value in row:
                if not value:
                    continue
                try:
                    v.decrypt(value)
                    opened += 1
                except InvalidToken:
                    failed += 1
    return opened, failed
