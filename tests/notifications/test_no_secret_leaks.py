"""No secret, access token or signed URL in any log line, API response, page, audit entry or attempt row,
across success, wrong secret, failures, slow answers, throttling, SSRF refusals and Apprise failures."""

import logging
from urllib.parse import quote

import pytest

from accounts.models import AuditEvent
from notifications.models import DeliveryAttempt, Outbox
from notifications.services import notify, notify_operator, outbox_deliver
from notifications.transports.dingtalk import sign
from tests.notifications.dingtalk_standin import SECRET, TOKEN

pytestmark = pytest.mark.django_db

APPRISE_TOKEN = "apprisepathtoken0placeholder0xyz"


def test_nothing_secret_reaches_logs_or_responses(api, alice, client, standin, sink, allow_local, enqueued, caplog):
    caplog.set_level(logging.DEBUG)
    c = api(alice)
    texts = []

    def keep(response):
        texts.append(response.content.decode())
        return response

    bad = keep(c.post("/api/notifications/channels/", {"kind": "dingtalk", "name": "x", "secret": "SEC has space",
                                                       "webhook_url": standin.url + " junk"}, format="json"))
    assert bad.status_code == 400
    cid = keep(c.post("/api/notifications/channels/", {"kind": "dingtalk", "name": "desk",
                                                       "webhook_url": standin.url, "secret": SECRET},
                      format="json")).json()["id"]
    keep(c.post(f"/api/notifications/channels/{cid}/test/"))  # delivered
    for mode in ("fail", "throttle", "slow"):
        standin.mode, standin.delay = mode, 5.5
        notify(user=alice, event="risk", severity="critical", title=f"{mode} alert", text="x")
        row = Outbox.objects.filter(state="pending").latest("pk")
        outbox_deliver(outbox_id=row.pk, now=row.next_attempt_at)
    standin.mode = "ok"
    for i in range(30):  # a storm, folded into one summary
        notify(user=alice, event="kill_switch", severity="critical", title=f"halted {i}", text="x")
    storm = list(Outbox.objects.filter(state="pending", title__startswith="halted").order_by("pk"))
    outbox_deliver(outbox_id=storm[0].pk, now=max(r.next_attempt_at for r in storm))
    assert Outbox.objects.filter(state="folded").count() == 29
    keep(c.patch(f"/api/notifications/channels/{cid}/", {"rate_limit_per_minute": 1}, format="json"))
    assert keep(c.post(f"/api/notifications/channels/{cid}/test/")).status_code == 429  # queued by the limit
    allow_local.DINGTALK_WEBHOOK_URL, allow_local.DINGTALK_SECRET = standin.url, SECRET
    notify_operator(event="kill_switch", severity="critical", title="Global kill switch", text="x")
    op = Outbox.objects.get(channel__isnull=True)
    assert outbox_deliver(outbox_id=op.pk, now=op.next_attempt_at) == "ok"
    keep(c.patch(f"/api/notifications/channels/{cid}/", {"secret": "SECwrong0secret0000000000000",
                                                         "rate_limit_per_minute": 20}, format="json"))
    keep(c.post(f"/api/notifications/channels/{cid}/test/"))  # bad signature -> disabled
    apprise_url = f"json://127.0.0.1:{sink.port}/{APPRISE_TOKEN}"
    aid = keep(c.post("/api/notifications/channels/", {"kind": "apprise", "name": "hook", "apprise_url": apprise_url},
                      format="json")).json()["id"]
    sink.mode = "fail"
    keep(c.post(f"/api/notifications/channels/{aid}/test/"))
    allow_local.NOTIFICATION_ALLOWED_HOSTS = []
    keep(c.post(f"/api/notifications/channels/{aid}/test/"))  # refused target
    keep(c.post("/api/notifications/channels/", {"kind": "apprise", "name": "p",
                                                 "apprise_url": f"json://10.0.0.1/{APPRISE_TOKEN}"}, format="json"))
    keep(c.get("/api/notifications/channels/"))
    keep(c.get("/api/notifications/?page_size=100"))
    client.force_login(alice)
    keep(client.get("/notifications/"))

    texts += [caplog.text,
              str(list(AuditEvent.objects.values_list("details", "target"))),
              str(list(DeliveryAttempt.objects.values_list("reason", "http_status", "errcode"))),
              str(list(Outbox.objects.values_list("last_error", "title", "text")))]
    assert "bad signature" in " ".join(texts) and "HTTP 503" in " ".join(texts)  # the run really covered them
    signs = {sign(SECRET, int(r["query"]["timestamp"][0])) for r in standin.requests if r["query"].get("timestamp")}
    assert signs
    forbidden = [TOKEN, SECRET, "SECwrong0secret", APPRISE_TOKEN, standin.url, "&sign=", "&timestamp=",
                 *signs, *(quote(s, safe="") for s in signs)]
    for text in texts:
        for secret in forbidden:
            assert secret not in text, f"{secret[:12]}… leaked"
