"""manage.py emergency_stop: the same stop as the header button and the API, from a shell. No Celery needed."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from config.api import DomainError
from trading.execution.safety import emergency_stop


class Command(BaseCommand):
    help = "Engage a kill switch now: halt every bot in scope and cancel their open orders."

    def add_arguments(self, parser):
        parser.add_argument("--as", dest="actor", required=True,
                            help="Username doing this (audited). Global needs a risk officer or superuser.")
        parser.add_argument("--scope", choices=["user", "global"], default="global")
        parser.add_argument("--user", help="For --scope user: whose bots (default: the --as user).")
        parser.add_argument("--flatten", action="store_true", help="Also sell open positions at market.")
        parser.add_argument("--reduce-only", action="store_true", help="Keep bots running, exits only.")
        parser.add_argument("--reason", default="")

    def handle(self, *args, **opts):
        try:
            actor = User.objects.get(username=opts["actor"], is_active=True)
            user = User.objects.get(username=opts["user"]) if opts["user"] else None
        except User.DoesNotExist as exc:
            raise CommandError(f"No such active user: {exc}") from None
        try:
            result = emergency_stop(actor=actor, scope=opts["scope"], user=user, flatten=opts["flatten"],
                                    reduce_only=opts["reduce_only"], reason=opts["reason"] or
                                    f"Emergency stop from the command line by {actor.username}")
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(self.style.WARNING(
            f"Kill switch {result.switch.key} engaged in {result.elapsed_ms:.0f} ms: "
            f"{len(result.bots_halted)} bot(s) halted, {len(result.bots_reduce_only)} reduce-only, "
            f"{result.orders_cancelled} order(s) cancelled, {result.positions_flattened} position(s) closed."))
