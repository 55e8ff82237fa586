"""manage.py backup [--dir DIR] [--keep N]: a pg_dump (custom format, gzipped) of the database; keeps the newest N."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ops.backups import BackupError, backup_create


class Command(BaseCommand):
    help = "Back up the database (pg_dump custom format, gzip) into BACKUP_DIR and keep the newest BACKUP_KEEP."

    def add_arguments(self, parser):
        parser.add_argument("--dir", default=None, help=f"where to write (default BACKUP_DIR: {settings.BACKUP_DIR})")
        parser.add_argument("--keep", type=int, default=None,
                            help=f"how many of the newest backups to keep (default BACKUP_KEEP: {settings.BACKUP_KEEP})")

    def handle(self, *args, **opts):
        directory = Path(opts["dir"] or settings.BACKUP_DIR)
        keep = opts["keep"] if opts["keep"] is not None else settings.BACKUP_KEEP
        try:
            result = backup_create(directory=directory, keep=keep)
        except (BackupError, OSError) as exc:
            raise CommandError(f"backup failed: {exc}") from None
        self.stdout.write(f"wrote {result.path} ({result.size / 1e6:.2f} MB in {result.seconds:.1f} s)")
        for path in result.removed:
            self.stdout.write(f"removed {path.name} (keeping the newest {keep})")
        self.stdout.write("The dump holds encrypted secrets, not FIELD_ENCRYPTION_KEYS: keep the environment "
                          "file's backup apart from it (docs/operations.md).")
