"""What an alert costs the code that raises it, and how fast a storm reaches a DingTalk robot.

1. notify() inside the caller's transaction (as a tick or a kill switch calls it), for a user with
   0, 1 and 5 matching channels: time in notify() itself, and the after-commit enqueue (one Celery
   publish per channel per transaction, to the real Redis broker).
2. An alert storm: N alerts in one transaction for one DingTalk channel, then delivery against the
   local DingTalk stand-in (signature checked): messages DingTalk receives and wall time.

Runs in its own throwaway database `test_<name>` next to the one DATABASE_URL names, e.g. with the
local services up:

    eval "$(.venv/bin/python scripts/stack.py env)"
    DEBUG=true .venv/bin/python bench/notify.py --calls 300 --storm 200
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def _ms(samples: list[float]) -> str:
    s = sorted(samples)
    p = lambda q: s[min(len(s) - 1, int(q * len(s)))] * 1000  # noqa: E731
    return f"{p(0.5):8.2f} {p(0.95):8.2f} {s[-1] * 1000:8.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--storm", type=int, default=200)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0)
    try:
        run(settings, args)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run(settings, args) -> None:
    from django.db import transaction

    from accounts.models import User
    from notifications.models import Outbox
    from notifications.services import channel_create, notify, outbox_deliver
    from notifications.tasks import deliver

    published = []
    real_apply_async = deliver.apply_async

    def counting_apply_async(*a, **kw):
        published.append(1)
        return real_apply_async(*a, **kw)

    deliver.apply_async = counting_apply_async
    from tests.notifications.dingtalk_standin import SECRET, DingTalkStandIn

    settings.NOTIFICATION_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.DASHBOARD_PUBLIC_URL = "https://trade.example.com"
    standin = DingTalkStandIn().start()
    print(f"\nnotify() in the caller's transaction, {args.calls} calls each (ms)")
    print(f"{'channels':>8} {'':>4}{'notify p50':>10} {'p95':>8} {'max':>8}   {'enqueue p50':>11} {'p95':>8} {'max':>8}")
    for n in (0, 1, 5):
        user = User.objects.create_user(username=f"u{n}", password="x" * 12)
        for i in range(n):
            channel_create(owner=user, kind="dingtalk", name=f"c{i}", webhook_url=standin.url, secret=SECRET)
        inside, after = [], []
        for i in range(args.calls):
            with transaction.atomic():
                t0 = time.perf_counter()
                notify(user=user, event="risk", severity="critical", title=f"alert {i}", text="x")
                t1 = time.perf_counter()
            t2 = time.perf_counter()  # on_commit callbacks (the enqueue) ran on leaving atomic()
            inside.append(t1 - t0)
            after.append(t2 - t1)
        print(f"{n:>8} {'':>4}{_ms(inside)}   {'':>3}{_ms(after)}")
    Outbox.objects.all().delete()

    user = User.objects.create_user(username="storm", password="x" * 12)
    channel_create(owner=user, kind="dingtalk", name="desk", webhook_url=standin.url, secret=SECRET)
    before = len(standin.received)
    published.clear()
    t0 = time.perf_counter()
    with transaction.atomic():
        for i in range(args.storm):
            notify(user=user, event="kill_switch", severity="critical", title="Bot halted by the kill switch",
                   text=f"bot {i}")
    t1 = time.perf_counter()
    rows = list(Outbox.objects.filter(user=user).order_by("pk"))
    now = max(r.next_attempt_at for r in rows)  # the task runs NOTIFICATION_FOLD_SECONDS after the commit
    for row in rows:  # what the worker does with the one published task: the first row folds the rest
        outbox_deliver(outbox_id=row.pk, now=now)
    t2 = time.perf_counter()
    states = {s: Outbox.objects.filter(user=user, state=s).count() for s in ("sent", "folded", "pending", "failed")}
    print(f"\nstorm: {args.storm} alerts in one transaction -> {len(standin.received) - before} DingTalk message(s); "
          f"write+enqueue {1000 * (t1 - t0):.0f} ms ({len(published)} Celery message), delivery of all rows {1000 * (t2 - t1):.0f} ms; states {states}")
    standin.stop()


if __name__ == "__main__":
    main()
