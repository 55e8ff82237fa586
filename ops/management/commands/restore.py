"""manage.py restore FILE [--force]: restore a `manage.py backup` file into the configured (empty) database."""

from django.core.management.base import BaseCommand, CommandError

from ops.backups import BackupError, backup_restore, secrets_check


class Command(BaseCommand):
    help = ("Restore a backup into the database in DATABASE_URL. Refuses a database that already has tables "
            "unless --force; afterwards checks that every stored secret opens with FIELD_ENCRYPTION_KEYS.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="a tradeplatform-*.dump.gz written by manage.py backup")
        parser.add_argument("--force", action="store_true",
                            help="restore over a database that has tables (drops and recreates what the backup holds)")

    def handle(self, *args, **opts):
        try:
            seconds = backup_restore(path=opts["file"], force=opts["force"])
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"restored {opts['file']} in {seconds:.1f} s")
        opened, failed = secrets_check()
        if failed:
            raise CommandError(f"{failed} stored secrets do not open with FIELD_ENCRYPTION_KEYS ({opened} do): put "
                               "the key the backup's secrets were encrypted with back in FIELD_ENCRYPTION_KEYS")
        self.stdout.write(f"{opened} stored secrets open with the configured FIELD_ENCRYPTION_KEYS")
        self.stdout.write("Next: manage.py migrate (if this code is newer than the backup), then start the services.")
