"""notify() -> outbox -> delivery against the stand-in: retries with backoff, rate-limit queueing,
storm folding, permanent failures disabling the channel. Time is injected, never slept."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.utils import timezone

from notifications.models import Channel, DeliveryAttempt, Outbox
from notifications.services import channel_create, notify, notify_operator, outbox_deliver, outbox_sweep
from tests.notifications.dingtalk_standin import SECRET

pytestmark = pytest.mark.django_db

BOT = SimpleNamespace(pk=7, name="grid-1", symbol="BTC/USDT")


def _notify(user, n=1, **over):
    kw = {"event": "risk", "severity": "critical", "title": "Bot halted", "text": "daily loss 5.1 % > 5 %",
          "url_path": "/bots/7/", "bot": BOT, **over}
    for i in range(n):
        notify(user=user, **{**kw, "title": kw["title"] if n == 1 else f"{kw['title']} #{i}"})
    return list(Outbox.objects.order_by("pk"))


def _at(row, seconds=0):
    return row.next_attempt_at + timedelta(seconds=seconds)


def test_notify_queues_one_row_per_matching_channel_and_enqueues_after_commit(
        dingtalk_channel, alice, bob, standin, enqueued, django_capture_on_commit_callbacks):
    channel_create(owner=alice, kind="dingtalk", name="fills only", webhook_url=standin.url, events=["fills"])
    channel_create(owner=alice, kind="dingtalk", name="critical", webhook_url=standin.url, min_severity="critical")
    channel_create(owner=bob, kind="dingtalk", name="bobs", webhook_url=standin.url)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        notify(user=alice, event="risk", severity="warning", title="Near limit", text="x", bot=BOT)
        assert enqueued == []  # nothing is enqueued before the commit
    rows = list(Outbox.objects.all())
    assert [r.channel.name for r in rows] == ["desk"]  # not fills-only, not critical-only, not bob's
    assert rows[0].bot_label == "grid-1 (BTC/USDT)" and rows[0].state == "pending"
    assert [pk for pk, _ in enqueued] == [rows[0].pk]


def test_notify_rolls_back_with_the_caller_and_never_raises(dingtalk_channel, alice, enqueued,
                                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                notify(user=alice, event="risk", severity="critical", title="t", text="x")
                raise RuntimeError("the trade failed")
        except RuntimeError:
            pass
    assert Outbox.objects.count() == 0 and enqueued == []
    # garbage in: no exception, and the caller's transaction stays usable
    with transaction.atomic():
        notify(user=alice, event="risk", severity="critical", title=object(), text=None, bot=object())
        notify(user=None, event="risk", severity="critical", title="t", text="x")
        assert Channel.objects.count() == 1


def test_a_storm_in_one_transaction_costs_the_caller_one_celery_message(
        dingtalk_channel, alice, standin, enqueued, django_capture_on_commit_callbacks):
    from notifications.tasks import deliver

    second = channel_create(owner=alice, kind="dingtalk", name="second", webhook_url=standin.url)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for i in range(50):
            notify(user=alice, event="kill_switch", severity="critical", title=f"halted {i}", text="x")
    assert len(enqueued) == 100 and len(enqueued.publishes) == 1
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():  # the next transaction
        notify(user=alice, event="kill_switch", severity="critical", title="again", text="x")
    assert len(enqueued.publishes) == 2
    # the worker splits a message per channel, so a slow channel never holds up another
    deliver(enqueued.publishes[0][0])
    split = enqueued.publishes[2:]
    assert len(split) == 2 and {len(ids) for ids, _ in split} == {50}
    assert {Outbox.objects.get(pk=ids[0]).channel_id for ids, _ in split} == {dingtalk_channel.pk, second.pk}
    assert standin.requests == []  # splitting sends nothing itself


def test_alerts_of_a_rolled_back_savepoint_are_not_published_and_later_ones_are(
        dingtalk_channel, alice, enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        try:
            with transaction.atomic():
                notify(user=alice, event="risk", severity="critical", title="rolled back", text="x")
                raise RuntimeError
        except RuntimeError:
            pass
        notify(user=alice, event="risk", severity="critical", title="kept", text="x")
    kept = Outbox.objects.get()
    assert kept.title == "kept" and [pk for pk, _ in enqueued] == [kept.pk]


def test_a_dedupe_key_queues_a_message_once(dingtalk_channel, alice, enqueued):
    for _ in range(3):
        notify(user=alice, event="kill_switch", severity="critical", title="Kill switch on", text="x",
               dedupe_key="kill:alice:1")
    assert Outbox.objects.count() == 1


def test_a_delivered_message_is_recorded(dingtalk_channel, alice, standin, enqueued):
    [row] = _notify(alice)
    assert outbox_deliver(outbox_id=row.pk, now=_at(row)) == "ok"
    row.refresh_from_db()
    assert row.state == "sent" and row.attempts == 1
    attempt = row.delivery_attempts.get()
    assert (attempt.outcome, attempt.http_status, attempt.errcode) == ("ok", 200, 0)
    card = standin.received[0]["actionCard"]
    assert card["singleURL"] == "https://trade.example.com/bots/7/"
    assert "CRITICAL" in card["text"] and "grid-1 (BTC/USDT)" in card["text"] and "5.1 %" in card["text"]
    assert "UTC" in card["text"]
    assert outbox_deliver(outbox_id=row.pk, now=_at(row)) == "skipped"  # delivered once
    assert len(standin.received) == 1


def test_a_failing_dingtalk_is_retried_with_exponential_backoff_then_delivered(
        dingtalk_channel, alice, standin, enqueued, settings, django_capture_on_commit_callbacks):
    settings.NOTIFICATION_RETRY_BASE_SECONDS = 15
    standin.mode = "fail"
    with django_capture_on_commit_callbacks(execute=True):  # the alert's own transaction commits
        [row] = _notify(alice)
    t0 = _at(row)
    delays = []
    now = t0
    for _ in range(4):
        with django_capture_on_commit_callbacks(execute=True):
            assert outbox_deliver(outbox_id=row.pk, now=now) == "retry"
        row.refresh_from_db()
        delays.append((row.next_attempt_at - now).total_seconds())
        assert outbox_deliver(outbox_id=row.pk, now=row.next_attempt_at - timedelta(seconds=1)) == "skipped"
        now = row.next_attempt_at
    assert delays == [15, 30, 60, 120]
    assert enqueued[-1] == (row.pk, 120)  # the retry is scheduled, not slept
    standin.mode = "ok"
    assert outbox_deliver(outbox_id=row.pk, now=now) == "ok"
    row.refresh_from_db()
    assert row.state == "sent" and row.attempts == 5
    assert list(row.delivery_attempts.order_by("at").values_list("outcome", flat=True)) == ["retry"] * 4 + ["ok"]
    assert "HTTP 503" in row.delivery_attempts.order_by("at").first().reason
    assert Channel.objects.get().is_active  # transient failures never disable a channel


def test_a_message_gives_up_after_max_attempts(dingtalk_channel, alice, standin, enqueued, settings):
    settings.NOTIFICATION_MAX_ATTEMPTS = 3
    standin.mode = "fail"
    [row] = _notify(alice)
    now = _at(row)
    outcomes = []
    for _ in range(3):
        outcomes.append(outbox_deliver(outbox_id=row.pk, now=now))
        row.refresh_from_db()
        now = row.next_attempt_at
    assert outcomes == ["retry", "retry", "failed"]
    assert row.state == "failed" and "gave up after 3 attempts" in row.last_error


def test_a_slow_dingtalk_counts_as_a_transient_failure(dingtalk_channel, alice, standin, enqueued):
    standin.mode, standin.delay = "slow", 6
    [row] = _notify(alice)
    assert outbox_deliver(outbox_id=row.pk, now=_at(row)) == "retry"
    attempt = DeliveryAttempt.objects.get()
    assert "did not answer within 5 s" in attempt.reason and attempt.duration_ms >= 4900


def test_throttling_by_dingtalk_waits_a_minute(dingtalk_channel, alice, standin, enqueued):
    standin.mode = "throttle"
    [row] = _notify(alice)
    assert outbox_deliver(outbox_id=row.pk, now=_at(row)) == "retry"
    row.refresh_from_db()
    assert (row.next_attempt_at - _at(row, 0)).total_seconds() >= 0
    attempt = DeliveryAttempt.objects.get()
    assert attempt.errcode == 130101 and "too many messages" in attempt.reason
    assert (row.next_attempt_at - attempt.at).total_seconds() == 60


def test_the_rate_limit_queues_instead_of_dropping(dingtalk_channel, alice, standin, enqueued, settings):
    settings.NOTIFICATION_FOLD_THRESHOLD = 1000  # no folding: prove plain queueing
    rows = _notify(alice, n=25)
    now = max(r.next_attempt_at for r in rows)
    standin.clock = lambda: now.timestamp()
    outcomes = [outbox_deliver(outbox_id=r.pk, now=now + timedelta(milliseconds=i)) for i, r in enumerate(rows)]
    assert outcomes == ["ok"] * 20 + ["rate_limited"] * 5
    assert len(standin.received) == 20
    assert all(req["answer"]["errcode"] == 0 for req in standin.requests)  # DingTalk never had to throttle us
    later = list(Outbox.objects.filter(state="pending"))
    assert len(later) == 5 and all(r.next_attempt_at == now + timedelta(minutes=1) for r in later)
    assert outbox_deliver(outbox_id=later[0].pk, now=now + timedelta(seconds=30)) == "skipped"  # not due yet
    after = now + timedelta(minutes=1, seconds=1)
    standin.clock = lambda: after.timestamp()
    assert [outbox_deliver(outbox_id=r.pk, now=after) for r in later] == ["ok"] * 5
    assert Outbox.objects.filter(state="sent").count() == 25 and len(standin.received) == 25


def test_an_alert_storm_folds_into_one_summary_message(dingtalk_channel, alice, standin, enqueued):
    rows = _notify(alice, n=200, title="Bot halted by the global kill switch")
    now = max(r.next_attempt_at for r in rows)
    outcomes = [outbox_deliver(outbox_id=r.pk, now=now) for r in rows]
    assert outcomes[0] == "ok" and set(outcomes[1:]) == {"skipped"}
    assert len(standin.received) == 1
    card = standin.received[0]["actionCard"]
    assert card["title"].startswith("200 alerts")
    assert "Bot halted by the global kill switch #0" in card["text"] and "and 175 more" in card["text"]
    assert Outbox.objects.filter(state="sent").count() == 1
    assert Outbox.objects.filter(state="folded", folded_into=rows[0]).count() == 199
    attempt = DeliveryAttempt.objects.get()
    assert attempt.messages == 200 and "summary of 200" in attempt.reason


def test_a_throttled_storm_is_retried_as_one_summary(dingtalk_channel, alice, standin, enqueued):
    standin.mode = "throttle"
    rows = _notify(alice, n=50)
    now = max(r.next_attempt_at for r in rows)
    assert outbox_deliver(outbox_id=rows[0].pk, now=now) == "retry"
    assert Outbox.objects.filter(state="pending").count() == 50  # nothing dropped
    standin.mode = "ok"
    retry_at = Outbox.objects.get(pk=rows[0].pk).next_attempt_at
    assert outbox_deliver(outbox_id=rows[0].pk, now=retry_at) == "ok"
    assert len(standin.received) == 1 and standin.received[0]["actionCard"]["title"].startswith("50 alerts")
    assert Outbox.objects.exclude(state__in=["sent", "folded"]).count() == 0


def test_a_bad_signature_disables_the_channel_with_the_reason(alice, standin, allow_local, enqueued):
    channel = channel_create(owner=alice, kind="dingtalk", name="desk", webhook_url=standin.url,
                             secret="SECwrong0secret0000000000")
    [first, second] = _notify(alice, n=2)
    assert outbox_deliver(outbox_id=first.pk, now=_at(first)) == "failed"
    channel.refresh_from_db()
    assert not channel.is_active and "bad signature" in channel.disabled_reason
    assert outbox_deliver(outbox_id=second.pk, now=_at(second)) == "failed"
    second.refresh_from_db()
    assert second.last_error.startswith("channel disabled: bad signature")
    assert len(standin.requests) == 1  # no hammering once we know
    notify(user=alice, event="risk", severity="critical", title="t", text="x")
    assert Outbox.objects.count() == 2  # disabled channels get nothing new


def test_the_sweep_releases_stuck_rows_and_enqueues_due_ones(dingtalk_channel, alice, enqueued,
                                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the alert's own transaction commits
        rows = _notify(alice, n=2)
    Outbox.objects.filter(pk=rows[0].pk).update(state="sending", claimed_at=timezone.now() - timedelta(hours=1))
    enqueued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_sweep(now=timezone.now()) == 2
    assert sorted(pk for pk, _ in enqueued) == sorted(r.pk for r in rows)
    assert Outbox.objects.get(pk=rows[0].pk).state == "pending"


def test_the_sweep_forgets_finished_messages_after_90_days(dingtalk_channel, alice, enqueued):
    old, recent, stuck = _notify(alice, n=3)
    Outbox.objects.filter(pk=old.pk).update(state="sent", created_at=timezone.now() - timedelta(days=91))
    Outbox.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - timedelta(days=91))  # still pending
    outbox_sweep(now=timezone.now())
    assert set(Outbox.objects.values_list("pk", flat=True)) == {recent.pk, stuck.pk}


def test_operator_alerts_go_to_the_platform_channel_from_the_environment(db, standin, allow_local, enqueued):
    allow_local.DINGTALK_WEBHOOK_URL, allow_local.DINGTALK_SECRET = standin.url, SECRET
    notify_operator(event="kill_switch", severity="critical", title="Global kill switch ON",
                    text="All bots halted by charlie", url_path="/risk/")
    row = Outbox.objects.get()
    assert row.channel is None and row.user is None
    assert outbox_deliver(outbox_id=row.pk, now=_at(row)) == "ok"
    assert standin.received[0]["actionCard"]["singleURL"] == "https://trade.example.com/risk/"


def test_without_a_platform_channel_operator_alerts_are_only_logged(db, settings, caplog, enqueued):
    settings.DINGTALK_WEBHOOK_URL = ""
    notify_operator(event="kill_switch", severity="critical", title="Global kill switch ON", text="x")
    assert Outbox.objects.count() == 0 and "no DINGTALK_WEBHOOK_URL" in caplog.text


def test_end_to_end_through_the_real_celery_task(dingtalk_channel, alice, standin, django_capture_on_commit_callbacks):
    """With Celery eager (as a worker would run it), 30 alerts written in one transaction arrive as one message."""
    from config.celery import app
    from notifications import tasks  # noqa: F401  (registered, as in a worker: eager runs it by name)

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            for i in range(30):
                notify(user=alice, event="kill_switch", severity="critical", title="Bot halted", text=f"bot {i}")
    finally:
        app.conf.task_always_eager = previous
    assert len(standin.received) == 1 and standin.received[0]["actionCard"]["title"] == "30 alerts: Bot halted"
    assert Outbox.objects.filter(state="folded").count() == 29 and Outbox.objects.filter(state="sent").count() == 1


def test_beat_has_the_retry_sweep_and_the_task_runs_it(dingtalk_channel, alice, enqueued,
                                                       django_capture_on_commit_callbacks):
    from django_celery_beat.models import PeriodicTask

    from notifications.tasks import deliver_due

    task = PeriodicTask.objects.get(task="notifications.deliver_due")
    assert task.enabled and task.interval.every == 15
    with django_capture_on_commit_callbacks(execute=True):  # the alert's own transaction commits
        [row] = _notify(alice)
    enqueued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        deliver_due()
    assert enqueued == [(row.pk, 0)]
