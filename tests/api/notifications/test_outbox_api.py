import pytest

from notifications.models import Outbox
from notifications.services import channel_create, channel_test, notify, outbox_deliver

pytestmark = pytest.mark.django_db


def test_the_delivery_log_lists_my_messages_with_every_attempt(api, alice, bob, standin, allow_local, enqueued):
    channel = channel_create(owner=alice, kind="dingtalk", name="desk", webhook_url=standin.url,
                             secret=standin.secret)
    channel_test(channel=channel, actor=alice)
    standin.mode = "fail"
    notify(user=alice, event="risk", severity="critical", title="Bot halted", text="x")
    row = Outbox.objects.get(event="risk")
    outbox_deliver(outbox_id=row.pk, now=row.next_attempt_at)
    r = api(alice).get("/api/notifications/")
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 2
    newest, test = body["results"]
    assert newest["title"] == "Bot halted" and newest["state"] == "pending"
    assert newest["channel"] == {"id": channel.pk, "name": "desk", "kind": "dingtalk"}
    assert newest["attempts_log"][0]["outcome"] == "retry" and "HTTP 503" in newest["attempts_log"][0]["reason"]
    assert test["event"] == "test" and test["state"] == "sent" and test["attempts_log"][0]["outcome"] == "ok"
    assert api(bob).get("/api/notifications/").json()["count"] == 0


def test_the_log_is_paginated(api, alice, standin, allow_local, enqueued):
    channel_create(owner=alice, kind="dingtalk", name="desk", webhook_url=standin.url)
    for i in range(60):
        notify(user=alice, event="fills", severity="info", title=f"fill {i}", text="x")
    first = api(alice).get("/api/notifications/").json()
    assert first["count"] == 60 and len(first["results"]) == 50 and first["next"]
    assert len(api(alice).get("/api/notifications/?page=2").json()["results"]) == 10
