"""Alerts from risk: a user's stop alerts the user; a global stop alerts every affected trader (and the operator)."""

import threading
import time

import pytest

from notifications.models import Outbox
from notifications.services import channel_create
from tests.risk.conftest import create_bot
from trading.execution.safety import emergency_stop


def channel_for(user):
    return channel_create(owner=user, kind="apprise", name="desk", apprise_url="json://127.0.0.1:9/alerts",
                          events=["risk", "kill_switch"], min_severity="warning")


@pytest.fixture(autouse=True)
def _allow_loopback(settings):
    settings.NOTIFICATION_ALLOWED_HOSTS = ["127.0.0.1"]


def wait_for(query, count=1, timeout=10.0):
    deadline = time.monotonic() + timeout
    while query.count() < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return query


@pytest.mark.django_db(transaction=True)
def test_a_users_stop_alerts_that_user(alice):
    channel_for(alice)
    create_bot(alice)
    emergency_stop(actor=alice, scope="user")
    alert = wait_for(Outbox.objects.filter(user=alice, event="kill_switch")).get()
    assert alert.severity == "critical" and "Bots halted: 1" in alert.text


@pytest.mark.django_db(transaction=True)
def test_the_stop_does_not_wait_for_a_hanging_broker(alice, monkeypatch):
    """Celery's broker unreachable (every worker and beat down with it): the stop answers anyway."""
    from notifications.tasks import deliver

    release = threading.Event()

    def hang(*args, **kwargs):
        release.wait(10)
        raise ConnectionError("broker down")

    monkeypatch.setattr(deliver, "apply_async", hang)
    channel_for(alice)
    bot = create_bot(alice)
    started = time.perf_counter()
    result = emergency_stop(actor=alice, scope="user")
    elapsed = time.perf_counter() - started
    try:
        assert result.bots_halted == [bot.pk]
        assert elapsed < 5, f"the stop waited {elapsed:.1f} s for the broker"
        assert wait_for(Outbox.objects.filter(user=alice, event="kill_switch")).exists()  # queued for later
    finally:
        release.set()


@pytest.mark.django_db(transaction=True)
def test_a_global_stop_alerts_every_affected_trader(make_user, alice, bob, charlie):
    root = make_user("root", staff=True, is_superuser=True)
    for user in (root, alice, bob, charlie):
        channel_for(user)
    create_bot(alice)
    create_bot(bob)  # charlie has no bot: nothing of his was stopped
    emergency_stop(actor=root, scope="global", reason="exchange outage")
    wait_for(Outbox.objects.filter(event="kill_switch"), count=3)
    time.sleep(0.2)  # nothing more arrives for charlie
    alerted = set(Outbox.objects.filter(event="kill_switch").values_list("user__username", flat=True))
    assert alerted == {"root", "alice", "bob"}  # who pressed it, and every affected trader
    assert "exchange outage" in Outbox.objects.filter(user=alice).first().text
