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


def test_the_other_endings_are_audited_and_are_action_cards_too(alice, make_eligible_bot, live_on, approver, standin,  # noqa: F811
                                                                allow_local):  # noqa: F811
    """A rejection, five wrong confirmations and an expired request: each is in the audit log and reaches the
    owner's robot as an ActionCard linking to the bot (the owner is told either way)."""
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import AuditEvent
    from trading.promotion.services import ConfirmationWrong, promotion_reject, promotions_expire_due

    channel_create(owner=alice, kind="dingtalk", name="desk", webhook_url=standin.url, secret=SECRET,
                   events=["promotion"])
    rejected, wrong, late = (make_eligible_bot(alice, name=n) for n in ("rejected", "wrong", "late"))
    promotion_request(bot=rejected, actor=alice, allocation="100")
    promotion_reject(promotion=promotion_confirm(bot=rejected, actor=alice, phrase="I UNDERSTAND"), actor=approver,
                     note="too volatile")
    promotion_request(bot=wrong, actor=alice, allocation="100")
    for _ in range(5):
        with pytest.raises(ConfirmationWrong):
            promotion_confirm(bot=wrong, actor=alice, phrase="no")
    expiring = promotion_request(bot=late, actor=alice, allocation="100")
    type(expiring).objects.filter(pk=expiring.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert promotions_expire_due() == 1

    def actions(bot):
        return list(AuditEvent.objects.filter(target=f"bot:{bot.pk}", action__startswith="promotion.").order_by("id")
                    .values_list("action", flat=True))

    assert actions(rejected) == ["promotion.request", "promotion.confirm", "promotion.reject"]
    assert actions(wrong) == ["promotion.request", *["promotion.confirm_failed"] * 5]
    assert actions(late) == ["promotion.request", "promotion.expire"]
    for row in Outbox.objects.filter(user=alice).order_by("pk"):
        assert outbox_deliver(outbox_id=row.pk, fold=False) == "ok"
    cards = {m["actionCard"]["title"]: m["actionCard"] for m in standin.received}
    for bot, title in ((rejected, "Promotion of “rejected” rejected"), (wrong, "Promotion of “wrong” cancelled"),
                       (late, "Promotion of “late” expired")):
        assert cards[title]["singleURL"] == f"https://trade.example.com/bots/{bot.pk}/"
    assert "too volatile" in cards["Promotion of “rejected” rejected"]["text"]
