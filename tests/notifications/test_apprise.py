"""Every other channel goes through Apprise: a real JSON webhook delivery to a local sink."""

import json

import pytest

from notifications.models import Outbox
from notifications.services import channel_create, notify, outbox_deliver

pytestmark = pytest.mark.django_db


def test_an_apprise_json_webhook_receives_the_alert(alice, sink, allow_local, enqueued):
    channel_create(owner=alice, kind="apprise", name="hook", apprise_url=f"json://127.0.0.1:{sink.port}/alerts")
    notify(user=alice, event="fills", severity="info", title="Filled 0.01 BTC", text="at 64,000.50 USDT")
    row = Outbox.objects.get()
    assert outbox_deliver(outbox_id=row.pk, now=row.next_attempt_at) == "ok"
    body = json.loads(sink.hits[0]["body"])
    assert body["title"] == "Filled 0.01 BTC" and "64,000.50" in body["message"]
    assert "https://trade.example.com/" in body["message"]


def test_an_apprise_failure_is_retried_with_a_reason(alice, sink, allow_local, enqueued):
    channel_create(owner=alice, kind="apprise", name="hook", apprise_url=f"json://127.0.0.1:{sink.port}/alerts")
    sink.mode = "fail"
    notify(user=alice, event="fills", severity="info", title="t", text="x")
    row = Outbox.objects.get()
    assert outbox_deliver(outbox_id=row.pk, now=row.next_attempt_at) == "retry"
    row.refresh_from_db()
    assert row.state == "pending" and "did not accept" in row.last_error and "500" in row.last_error


@pytest.mark.parametrize("url, words", [
    ("nonsense://whatever", "does not recognise"),
    ("dingtalk://token/", "DingTalk kind"),
    ("tgram://bad token", "without spaces"),
])
def test_unusable_apprise_urls_are_refused_with_a_clear_message(api, alice, url, words):
    r = api(alice).post("/api/notifications/channels/", {"kind": "apprise", "name": "x", "apprise_url": url},
                        format="json")
    assert r.status_code == 400 and words in r.json()["error"]["message"]
