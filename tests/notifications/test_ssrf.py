"""Webhook and Apprise targets must be public addresses unless the operator allows the host;
checked when a channel is saved and again at send time, redirect hops included."""

import pytest

from notifications.models import Channel, Outbox
from notifications.netguard import TargetRefused, check_host
from notifications.services import channel_create, channel_test, outbox_deliver
from notifications.transports.apprise import AppriseTransport
from notifications.transports.base import Message, TransportError


@pytest.mark.parametrize("host, words", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("localhost", "loopback"),
    ("10.1.2.3", "private"), ("192.168.0.10", "private"), ("172.16.5.4", "private"), ("fd00::1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("0.0.0.0", "private"), ("100.64.0.1", "non-public"), ("224.0.0.1", "multicast"),
])
def test_non_public_targets_are_refused(host, words):
    with pytest.raises(TargetRefused) as exc:
        check_host(host, 80, allowed=[])
    assert words in exc.value.reason and "NOTIFICATION_ALLOWED_HOSTS" in exc.value.reason


def test_public_and_allowed_targets_pass():
    check_host("8.8.8.8", 443, allowed=[])
    check_host("127.0.0.1", 80, allowed=["127.0.0.1"])
    check_host("hooks.internal", 80, allowed=[".internal"])


@pytest.mark.django_db
@pytest.mark.parametrize("url, words", [
    ("json://127.0.0.1:9/hook", "loopback"),
    ("json://localhost:9/hook", "loopback"),
    ("json://10.0.0.5/hook", "private"),
    ("jsons://169.254.169.254/latest/meta-data", "link-local"),
    ("json://[::1]:9/hook", "loopback"),
])
def test_saving_an_apprise_channel_to_a_private_target_is_refused(api, alice, url, words):
    r = api(alice).post("/api/notifications/channels/", {"kind": "apprise", "name": "hook", "apprise_url": url},
                        format="json")
    assert r.status_code == 400, r.content
    assert words in r.json()["error"]["fields"]["apprise_url"][0]
    assert Channel.objects.count() == 0


@pytest.mark.django_db
def test_dingtalk_channels_must_use_the_dingtalk_host_unless_allowed(api, alice, standin, settings):
    settings.NOTIFICATION_ALLOWED_HOSTS = []
    r = api(alice).post("/api/notifications/channels/", {"kind": "dingtalk", "name": "d", "webhook_url": standin.url},
                        format="json")
    assert r.status_code == 400 and "oapi.dingtalk.com" in r.json()["error"]["message"]
    settings.NOTIFICATION_ALLOWED_HOSTS = ["127.0.0.1"]
    r = api(alice).post("/api/notifications/channels/", {"kind": "dingtalk", "name": "d", "webhook_url": standin.url},
                        format="json")
    assert r.status_code == 201, r.content


@pytest.mark.django_db
def test_the_target_is_checked_again_at_send_time(alice, standin, allow_local, enqueued):
    channel = channel_create(owner=alice, kind="dingtalk", name="desk", webhook_url=standin.url,
                             secret=standin.secret)
    allow_local.NOTIFICATION_ALLOWED_HOSTS = []  # the operator withdrew the allowance (or DNS changed)
    outcome = channel_test(channel=channel, actor=alice)
    assert not outcome["ok"] and "Not delivered" in outcome["message"]
    assert standin.requests == []
    channel.refresh_from_db()
    assert not channel.is_active and "oapi.dingtalk.com" in channel.disabled_reason


@pytest.mark.django_db
def test_an_apprise_target_refused_at_send_time_disables_the_channel(alice, sink, allow_local, enqueued):
    channel = channel_create(owner=alice, kind="apprise", name="hook", apprise_url=f"json://127.0.0.1:{sink.port}/h")
    allow_local.NOTIFICATION_ALLOWED_HOSTS = []
    outcome = channel_test(channel=channel, actor=alice)
    assert not outcome["ok"] and "loopback" in outcome["message"] and sink.hits == []
    assert Outbox.objects.get().state == "failed"


def test_an_apprise_redirect_to_a_private_target_is_refused(sink):
    inner = type(sink)().start()  # the private target the redirect points at
    try:
        sink.mode, sink.redirect_to = "redirect", f"http://localhost:{inner.port}/internal"
        transport = AppriseTransport(url=f"json://127.0.0.1:{sink.port}/hook", allowed_hosts=["127.0.0.1"])
        with pytest.raises(TransportError) as exc:
            transport.send(Message(title="t", text="x"))
        assert exc.value.permanent and "localhost is a loopback address" in exc.value.reason
        assert len(sink.hits) == 1 and inner.hits == []
    finally:
        inner.stop()


def test_a_dingtalk_redirect_to_a_private_target_is_not_followed(standin, sink):
    from notifications.transports.dingtalk import DingTalkTransport

    standin.mode, standin.redirect_to = "redirect", f"http://10.0.0.1:{sink.port}/x"
    with pytest.raises(TransportError) as exc:
        DingTalkTransport(webhook_url=standin.url, secret=standin.secret, allowed_hosts=["127.0.0.1"]).send(
            Message(title="t", text="x"))
    assert "redirects are not followed" in exc.value.reason and sink.hits == []


@pytest.mark.django_db
def test_a_refused_send_is_recorded_without_retrying(alice, sink, allow_local, enqueued):
    channel = channel_create(owner=alice, kind="apprise", name="hook", apprise_url=f"json://127.0.0.1:{sink.port}/h")
    allow_local.NOTIFICATION_ALLOWED_HOSTS = []
    from notifications.services import notify

    notify(user=alice, event="risk", severity="critical", title="t", text="x")
    row = Outbox.objects.get()
    assert outbox_deliver(outbox_id=row.pk, now=row.next_attempt_at) == "failed"
    channel.refresh_from_db()
    assert not channel.is_active and "refused target" in channel.disabled_reason


@pytest.mark.django_db
def test_an_apprise_url_is_checked_against_the_allowed_hosts_on_every_save(api, alice, client, sink, settings):
    """Create (API and page) and change: a target outside the allowed hosts is refused when saved, not only
    when a message is sent; allowing the host lets the same URL through."""
    settings.NOTIFICATION_ALLOWED_HOSTS = []
    url = f"json://127.0.0.1:{sink.port}/hook"
    refused = api(alice).post("/api/notifications/channels/", {"kind": "apprise", "name": "hook", "apprise_url": url},
                              format="json")
    assert refused.status_code == 400 and "loopback" in refused.json()["error"]["fields"]["apprise_url"][0]
    client.force_login(alice)
    page = client.post("/notifications/", {"kind": "apprise", "name": "hook", "apprise_url": url,
                                           "min_severity": "info"})
    assert page.status_code == 200 and "127.0.0.1 is a loopback address" in page.content.decode()
    assert not Channel.objects.exists()

    settings.NOTIFICATION_ALLOWED_HOSTS = ["127.0.0.1"]
    created = api(alice).post("/api/notifications/channels/", {"kind": "apprise", "name": "hook", "apprise_url": url},
                              format="json")
    assert created.status_code == 201, created.content
    cid = created.json()["id"]
    for target in ("json://10.0.0.7/hook", "json://169.254.169.254/latest", "json://localhost:9/x"):
        r = api(alice).patch(f"/api/notifications/channels/{cid}/", {"apprise_url": target}, format="json")
        assert r.status_code == 400 and "apprise_url" in r.json()["error"]["fields"], target
    assert api(alice).get(f"/api/notifications/channels/{cid}/").json()["target_masked"] == "JSON · 127.0.0.1"
