import pytest

from notifications.models import Channel, Outbox
from tests.notifications.dingtalk_standin import SECRET, TOKEN

pytestmark = pytest.mark.django_db

URL = "/api/notifications/channels/"


def _create(client, standin, **over):
    body = {"kind": "dingtalk", "name": "desk", "webhook_url": standin.url, "secret": SECRET,
            "events": ["risk", "kill_switch"], "min_severity": "warning", **over}
    return client.post(URL, body, format="json")


def test_it_saves_a_dingtalk_channel_and_shows_only_a_masked_target(api, alice, standin, allow_local):
    r = _create(api(alice), standin)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["target_masked"] == f"http://127.0.0.1:{standin.port}/robot/send?access_token=…{TOKEN[-4:]}"
    assert body["has_secret"] is True and body["fill_digest_minutes"] == 15
    assert body["events"] == ["risk", "kill_switch"] and body["min_severity"] == "warning"
    assert body["rate_limit_per_minute"] == 20 and body["is_active"] is True
    for name in ("webhook_url", "secret", "apprise_url", "webhook_url_enc", "secret_enc"):
        assert name not in body
    assert [c["id"] for c in api(alice).get(URL).json()] == [body["id"]]
    row = Channel.objects.get()
    assert TOKEN not in row.webhook_url_enc and SECRET not in row.secret_enc


def test_dingtalk_cannot_be_configured_above_its_20_per_minute(api, alice, standin, allow_local):
    r = _create(api(alice), standin, rate_limit_per_minute=100)
    assert r.status_code == 201 and r.json()["rate_limit_per_minute"] == 20


@pytest.mark.parametrize("over, field", [
    ({"kind": "pigeon"}, "kind"),
    ({"name": ""}, "name"),
    ({"events": ["moon"]}, "events"),
    ({"min_severity": "loud"}, "min_severity"),
    ({"secret": "not-a-sec"}, "secret"),
    ({"webhook_url": "not a url"}, "webhook_url"),
])
def test_bad_input_is_a_400_with_the_field(api, alice, standin, allow_local, over, field):
    r = _create(api(alice), standin, **over)
    assert r.status_code == 400, r.content
    assert field in r.json()["error"]["fields"]


def test_names_are_unique_per_user(api, alice, bob, standin, allow_local):
    assert _create(api(alice), standin).status_code == 201
    r = _create(api(alice), standin)
    assert r.status_code == 400 and "already have" in r.json()["error"]["message"]
    assert _create(api(bob), standin).status_code == 201


def test_other_users_channels_are_404(api, alice, bob, standin, allow_local):
    cid = _create(api(alice), standin).json()["id"]
    for method, path in (("get", f"{URL}{cid}/"), ("patch", f"{URL}{cid}/"), ("delete", f"{URL}{cid}/"),
                         ("post", f"{URL}{cid}/test/")):
        assert getattr(api(bob), method)(path, {}, format="json").status_code == 404
    assert api(bob).get(URL).json() == []
    assert Channel.objects.filter(pk=cid).exists() and standin.requests == []


def test_anonymous_is_refused(anon):
    assert anon.get(URL).status_code == 401 and anon.get("/api/notifications/").status_code == 401


def test_the_test_action_reports_delivery_in_plain_words(api, alice, standin, allow_local):
    cid = _create(api(alice), standin).json()["id"]
    r = api(alice).post(f"{URL}{cid}/test/")
    assert r.status_code == 200, r.content
    assert r.json()["ok"] is True and r.json()["message"] == "Delivered: DingTalk accepted the test message."
    assert standin.received[0]["actionCard"]["singleURL"] == "https://trade.example.com/notifications/"
    detail = api(alice).get(f"{URL}{cid}/").json()
    assert detail["last_test_ok"] is True and detail["last_tested_at"]


def test_a_wrong_secret_is_reported_as_a_signature_problem_and_fixed_by_a_new_secret(api, alice, standin,
                                                                                      allow_local):
    cid = _create(api(alice), standin, secret="SECwrong0secret000000000000").json()["id"]
    r = api(alice).post(f"{URL}{cid}/test/")
    assert r.status_code == 502
    message = r.json()["message"]
    assert message.startswith("Not delivered: bad signature") and "disabled" in message
    detail = api(alice).get(f"{URL}{cid}/").json()
    assert detail["is_active"] is False and "bad signature" in detail["disabled_reason"]
    fixed = api(alice).patch(f"{URL}{cid}/", {"secret": SECRET}, format="json")
    assert fixed.status_code == 200 and fixed.json()["is_active"] is True
    assert api(alice).post(f"{URL}{cid}/test/").json()["ok"] is True


def test_patch_changes_settings_and_pausing_stops_alerts(api, alice, standin, allow_local, enqueued):
    from notifications.services import notify

    cid = _create(api(alice), standin).json()["id"]
    r = api(alice).patch(f"{URL}{cid}/", {"name": "ops", "events": ["fills"], "min_severity": "info",
                                          "is_active": False}, format="json")
    assert r.status_code == 200 and r.json()["name"] == "ops" and r.json()["events"] == ["fills"]
    notify(user=alice, event="fills", severity="info", title="t", text="x")
    assert Outbox.objects.count() == 0
    api(alice).patch(f"{URL}{cid}/", {"is_active": True}, format="json")
    notify(user=alice, event="fills", severity="info", title="t", text="x")
    assert Outbox.objects.count() == 1


def test_delete(api, alice, standin, allow_local):
    cid = _create(api(alice), standin).json()["id"]
    assert api(alice).delete(f"{URL}{cid}/").status_code == 204
    assert not Channel.objects.exists()


def test_an_apprise_channel(api, alice, sink, allow_local):
    r = api(alice).post(URL, {"kind": "apprise", "name": "hook", "apprise_url": f"json://127.0.0.1:{sink.port}/x"},
                        format="json")
    assert r.status_code == 201, r.content
    assert r.json()["target_masked"] == "JSON · 127.0.0.1" and r.json()["rate_limit_per_minute"] == 30
    t = api(alice).post(f"{URL}{r.json()['id']}/test/")
    assert t.status_code == 200 and t.json()["message"] == "Delivered: JSON accepted the test message."
    assert len(sink.hits) == 1


def test_the_test_action_respects_the_robots_rate_limit(api, alice, standin, allow_local):
    cid = _create(api(alice), standin).json()["id"]
    codes = [api(alice).post(f"{URL}{cid}/test/").status_code for _ in range(21)]
    assert codes == [200] * 20 + [429]
    last = api(alice).post(f"{URL}{cid}/test/").json()
    assert last["outcome"] == "rate_limited" and "20 messages per minute" in last["message"]
    assert len(standin.received) == 20 and all(r["answer"]["errcode"] == 0 for r in standin.requests)
