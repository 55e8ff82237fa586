"""Fill alerts come as a digest per bot by default: the first fill after a quiet spell goes out at once, later
ones of that bot wait in one message until `fill_digest_minutes` after the previous one went out; risk and
kill-switch alerts never wait. Through the outbox, delivery and the DingTalk stand-in."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.utils import timezone

from notifications.models import Outbox
from notifications.services import channel_update, notify, outbox_deliver
from tests.notifications.dingtalk_standin import SECRET

pytestmark = pytest.mark.django_db

WAVE = SimpleNamespace(pk=7, name="Wave rider", symbol="BTC/USDT")
GRID = SimpleNamespace(pk=8, name="Grid", symbol="ETH/USDT")


def _fill(user, bot, line="- buy 0.001 BTC @ 65000"):
    notify(user=user, event="fills", severity="info", title=f"{bot.name}: 1 fill(s)", text=line,
           url_path=f"/bots/{bot.pk}/", bot=bot, items=1)


def _deliver_due(at):
    """What the beat sweep and the delivery task do at `at`: send every due row."""
    outcomes = []
    for row in Outbox.objects.filter(state="pending", next_attempt_at__lte=at).order_by("pk"):
        outcomes.append(outbox_deliver(outbox_id=row.pk, now=at))
    return outcomes


def _texts(standin):
    return [m.get("actionCard", m.get("markdown"))["text"] for m in standin.received]


def test_a_busy_bot_sends_its_first_fill_then_one_digest_per_window(dingtalk_channel, alice, standin, enqueued,
                                                                    django_capture_on_commit_callbacks):
    assert dingtalk_channel.fill_digest_minutes == 15  # the default
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        _fill(alice, WAVE, "- buy 0.001 BTC @ 65000")
    first = Outbox.objects.get()
    assert first.next_attempt_at <= timezone.now()  # a quiet bot's first fill is not held back
    assert _deliver_due(timezone.now()) == ["ok"] and len(standin.received) == 1
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for i in range(5):  # a fill a minute after that
            _fill(alice, WAVE, f"- sell 0.001 BTC @ {65010 + i}")
    digest = Outbox.objects.get(state="pending")
    assert digest.items == 5 and digest.title.startswith("Wave rider (BTC/USDT): 5 fill(s) since ")
    sent_at = Outbox.objects.get(pk=first.pk).sent_at
    assert digest.next_attempt_at == sent_at + timedelta(minutes=15)
    assert _deliver_due(sent_at + timedelta(minutes=14)) == [] and len(standin.received) == 1  # not before
    assert _deliver_due(digest.next_attempt_at) == ["ok"]
    assert len(standin.received) == 2  # six fills, two messages
    text = _texts(standin)[1]
    assert "5 fill(s)" in text and all(f"@ {65010 + i}" in text for i in range(5))
    # one delivery task for the first fill (after the usual few seconds), one for the five others, scheduled
    # for the end of the window
    assert [pk for pk, _ in enqueued] == [first.pk, digest.pk]
    assert enqueued[0][1] <= 5 and 14 * 60 < enqueued[1][1] <= 15 * 60


def test_each_bot_has_its_own_digest(dingtalk_channel, alice, standin, enqueued):
    for bot in (WAVE, GRID, WAVE, GRID, GRID):
        _fill(alice, bot)
    rows = {r.bot_id: r for r in Outbox.objects.filter(event="fills")}
    assert set(rows) == {WAVE.pk, GRID.pk} and Outbox.objects.count() == 2  # two messages so far, not five
    assert rows[WAVE.pk].items == 2 and rows[GRID.pk].items == 3  # the fills joined before the first send


def test_risk_and_kill_switch_alerts_never_wait_for_a_digest(dingtalk_channel, alice, standin, enqueued):
    _fill(alice, WAVE)
    _deliver_due(timezone.now())
    _fill(alice, WAVE)  # now held for the window
    notify(user=alice, event="risk", severity="critical", title="Daily loss limit hit", text="halted", bot=WAVE)
    notify(user=alice, event="kill_switch", severity="critical", title="Kill switch engaged", text="all halted")
    now = timezone.now()
    urgent = Outbox.objects.exclude(event="fills")
    assert urgent.count() == 2 and all(r.next_attempt_at <= now for r in urgent)
    _deliver_due(now)
    titles = [m["actionCard"]["title"] for m in standin.received]
    assert "Daily loss limit hit" in titles and "Kill switch engaged" in titles
    assert Outbox.objects.get(event="fills", state="pending").items == 1  # the fill still waits


def test_zero_minutes_sends_every_fill(dingtalk_channel, alice, standin, enqueued):
    channel_update(channel=dingtalk_channel, actor=alice, fill_digest_minutes=0)
    for _ in range(3):
        _fill(alice, WAVE)
    assert Outbox.objects.filter(event="fills").count() == 3
    assert all(r.items == 1 for r in Outbox.objects.all())


def test_the_digest_is_chosen_per_channel_on_the_api(api, alice, standin, allow_local):
    c = api(alice)
    r = c.post("/api/notifications/channels/", {"kind": "dingtalk", "name": "desk", "webhook_url": standin.url,
                                                "secret": SECRET, "fill_digest_minutes": 5}, format="json")
    assert r.status_code == 201 and r.json()["fill_digest_minutes"] == 5
    bad = c.patch(f"/api/notifications/channels/{r.json()['id']}/", {"fill_digest_minutes": -1}, format="json")
    assert bad.status_code == 400 and "fill_digest_minutes" in bad.json()["error"]["fields"]
    ok = c.patch(f"/api/notifications/channels/{r.json()['id']}/", {"fill_digest_minutes": 0}, format="json")
    assert ok.status_code == 200 and ok.json()["fill_digest_minutes"] == 0


def test_a_digest_that_is_being_sent_takes_no_more_fills(dingtalk_channel, alice, standin, enqueued):
    _fill(alice, WAVE)
    Outbox.objects.update(state="sending", claimed_at=timezone.now())  # a worker has it
    _fill(alice, WAVE)
    later = Outbox.objects.get(state="pending")
    assert later.items == 1 and later.next_attempt_at > timezone.now() + timedelta(minutes=14)
