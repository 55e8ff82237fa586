"""Alerts from risk: a user's stop alerts the user; a global stop alerts every affected trader (and the operator)."""

import time

import pytest

from notifications.models import Outbox
from notifications.services import channel_create
from risk.services import emergency_stop
from tests.risk.conftest import create_bot


def channel_for(user):
    return channel_create(owner=user, kind="apprise", name="desk", apprise_url="json://127.0.0.1:9/alerts",
                          events=["risk", "kill_switch"], min_severity="warning")


@pytest.fixture(autouse=True)
def _allow_loopback(settings):
    settings.NOTIFICATION_ALLOWED_HOSTS = ["127.0.0.1"]


@pytest.mark.django_db
def test_a_users_stop_alerts_that_user(alice):
    channel_for(alice)
    create_bot(alice)
    emergency_stop(actor=alice, scope="user")
    alert = Outbox.objects.get(user=alice, event="kill_switch")
    assert alert.severity == "critical" and "1" in alert.text and "halted" in alert.text.lower()


@pytest.mark.django_db(transaction=True)
def test_a_global_stop_alerts_every_affected_trader(make_user, alice, bob, charlie):
    root = make_user("root", staff=True, is_superuser=True)
    for user in (alice, bob, charlie):
        channel_for(user)
    create_bot(alice)
    create_bot(bob)  # charlie has no bot: nothing of his was stopped
    emergency_stop(actor=root, scope="global", reason="exchange outage")
    deadline = time.monotonic() + 10
    while Outbox.objects.filter(event="kill_switch").count() < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    alerted = set(Outbox.objects.filter(event="kill_switch").values_list("user__username", flat=True))
    assert alerted == {"alice", "bob"}
    assert "exchange outage" in Outbox.objects.filter(user=alice).first().text
