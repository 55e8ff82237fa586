import pytest

from notifications.services import channel_test
from tests.notifications.dingtalk_standin import SECRET, TOKEN

pytestmark = pytest.mark.django_db


@pytest.fixture
def charlie(charlie):
    charlie.is_superuser = True  # the platform operator
    charlie.save(update_fields=["is_superuser"])
    return charlie


def test_staff_see_channels_masked_and_the_outbox_read_only(client, charlie, dingtalk_channel, alice, enqueued):
    channel_test(channel=dingtalk_channel, actor=alice)
    client.force_login(charlie)
    pages = [client.get("/admin/notifications/channel/"),
             client.get(f"/admin/notifications/channel/{dingtalk_channel.pk}/change/"),
             client.get("/admin/notifications/outbox/"), client.get("/admin/notifications/deliveryattempt/")]
    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert TOKEN not in html and SECRET not in html and "webhook_url_enc" not in html
    assert "access_token=…" in pages[0].content.decode()
    assert client.get("/admin/notifications/channel/add/").status_code == 403
    assert client.get("/admin/notifications/outbox/add/").status_code == 403


def test_staff_can_disable_a_channel(client, charlie, dingtalk_channel):
    client.force_login(charlie)
    r = client.post("/admin/notifications/channel/", {"action": "disable_channels",
                                                      "_selected_action": [dingtalk_channel.pk]})
    assert r.status_code == 302
    dingtalk_channel.refresh_from_db()
    assert not dingtalk_channel.is_active and dingtalk_channel.disabled_reason == "Disabled by staff"
