"""Re-encrypt every stored secret under the newest FIELD_ENCRYPTION_KEYS key.

In batches, resumable (rows already under the newest key are skipped), with a progress
bar and a final count. Rows that no configured key can open are reported and make the
command fail: nothing is silently skipped. Afterwards the old keys can be dropped.
"""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from accounts.audit import audit_record
from config.vault import vault
from keys.services import encrypted_models, secrets_rotate_batch


class Command(BaseCommand):
    help = "Re-encrypt all stored secrets under the newest encryption key."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=200)
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for logs).")

    def handle(self, *args, batch_size: int, no_progress: bool, **options):
        v = vault()
        total_rotated, failures = 0, []
        for model, fields in encrypted_models():
            name = model._meta.verbose_name_plural
            pending = model.objects.exclude(enc_key_id=v.primary_id).count()
            skip: set[int] = set()
            with tqdm(total=pending, desc=f"Rotating {name}", unit="row", disable=no_progress or pending == 0,
                      file=self.stderr._out) as bar:
                while True:
                    rotated, failed = secrets_rotate_batch(model=model, fields=fields, batch_size=batch_size, skip=skip)
                    skip.update(failed)
                    failures += [(name, pk) for pk in failed]
                    total_rotated += rotated
                    bar.update(rotated + len(failed))
                    if rotated == 0 and not failed:
                        break
        audit_record(action="keys.rotate", details={"rotated": total_rotated, "undecryptable": len(failures),
                                                    "key_id": v.primary_id})
        self.stdout.write(f"Rotated {total_rotated} row(s) to key {v.primary_id}.")
        if failures:
            listed = ", ".join(f"{name} #{pk}" for name, pk in failures[:50])
            more = f" and {len(failures) - 50} more" if len(failures) > 50 else ""
            raise CommandError(
                f"{len(failures)} row(s) could not be decrypted with any configured key and were NOT rotated: "
                f"{listed}{more}. Add the key that encrypted them to FIELD_ENCRYPTION_KEYS and run again."
            )
        self.stdout.write(self.style.SUCCESS("All stored secrets are under the newest key; older keys can be dropped."))
