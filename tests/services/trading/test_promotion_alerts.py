"""Every promotion step reaches the owner's DingTalk robot as an ActionCard whose button opens the bot page
(delivered to the signed DingTalk stand-in)."""

import pytest

from notifications.models import Outbox
from notifications.services import channel_create, outbox_deliver
from tests.notifications.conftest import allow_local, standin  # noqa: F401
from tests.notifications.dingtalk_standin import SECRET
from tests.promotion.fixtures import *  # noqa: F403
from trading.promotion.demotion import promotion_demote
from trading.promotion.services import promotion_approve, promotion_confirm, promotion_request

pytestmark = pytest.mark.django_db


def test_each_step_is_an_action_card_linking_to_the_bot(alice, eligible_bot, approver, standin, allow_local):  # noqa: F811
    channel_create(owner=alice, kind="dingtalk", name="desk", webhook_url=standin.url, secret=SECRET,
                   events=["promotion"])
    promotion_request(bot=eligible_bot, actor=alice, allocation="500")
    promotion_approve(promotion=promotion_confirm(bot=eligible_bot, actor=alice, phrase="I UNDERSTAND"),
                      actor=approver, note="fine")
    promotion_demote(bot=eligible_bot, actor=alice)
    for row in Outbox.objects.filter(user=alice).order_by("pk"):
        assert outbox_deliver(outbox_id=row.pk, fold=False) == "ok"
    cards = [m["actionCard"] for m in standin.received]
    assert [m["msgtype"] for m in standin.received] == ["actionCard"] * 4
    assert [c["title"] for c in cards] == ["Promotion of “trend” requested", "Promotion of “trend” confirmed",
                                           "“trend” is LIVE", "“trend” is back on paper"]
    assert {c["singleURL"] for c in cards} == {f"https://trade.example.com/bots/{eligible_bot.pk}/"}
    assert "500 USDT" in cards[2]["text"] and "emulatorSecret" not in str(standin.received)


def test_staff_hear_of_a_request_waiting_for_approval_on_the_operator_channel(alice, eligible_bot, settings):
    settings.DINGTALK_WEBHOOK_URL = "http://127.0.0.1:9/robot/send?access_token=placeholder"  # never sent
    promotion = promotion_request(bot=eligible_bot, actor=alice, allocation="500")
    assert not Outbox.objects.filter(user=None).exists()  # nothing to decide before the owner confirms
    promotion_confirm(bot=eligible_bot, actor=alice, phrase="I UNDERSTAND")
    row = Outbox.objects.get(user=None, event="promotion")
    assert row.title == f"Promotion #{promotion.pk} waits for approval"
    assert row.url_path == f"/admin/trading/promotionrequest/{promotion.pk}/change/"
    assert "alice" in row.text and "500 USDT" in row.text
