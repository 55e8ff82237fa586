"""Automatic demotion of live bots, each way the issue names: an exchange that rejects the key, the kill switch
(a risk officer's global emergency stop, every user's live bots), a user's own emergency stop (no flatten),
a circuit breaker and staff revocation. Each one ends the promotion as `demoted` with its reason, writes the
audit log and raises a `promotion` alert linking to the bot; nothing more reaches the exchange's order
endpoint. Against the Binance emulator through the real ccxt client."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent
from tests.live.conftest import live_tick
from tests.live.test_live_stop import resting
from trading.execution.reconcile import reconcile_live
from trading.models import Bot, PromotionRequest

pytestmark = pytest.mark.django_db
OTHER_KEY = "someoneElsesKey" + "0" * 49  # a well-formed key the exchange does not know: -2015


def demoted(bot) -> PromotionRequest:
    fresh = Bot.objects.get(pk=bot.pk)
    assert fresh.mode == "paper", (fresh.mode, fresh.status, fresh.last_tick_note)
    promotion = PromotionRequest.objects.filter(bot=bot).order_by("-pk").first()
    assert promotion.status == "demoted" and promotion.ended_at is not None
    return promotion


def audited_and_alerted(bot, alerts) -> None:
    audit = AuditEvent.objects.filter(action="promotion.demote", target=f"bot:{bot.pk}").get()
    assert audit.details["reason"]
    back = [a for a in alerts if a.title == f"“{bot.name}” is back on paper"]
    assert len(back) == 1 and back[0].url_path == f"/bots/{bot.pk}/" and back[0].event == "promotion"


def test_an_exchange_that_rejects_the_key_demotes_the_bot_and_nothing_more_is_sent(live_bot, emu, alice,
                                                                                    promotion_alerts):
    alerts = promotion_alerts(alice)
    emu.api_key = OTHER_KEY  # the key was revoked on the exchange
    live_tick()  # the strategy's buy goes out and is refused: -2015
    assert [o.outcome for o in emu.orders_received] != ["accepted"] and len(emu.orders_received) == 1
    promotion = demoted(live_bot)
    assert "rejected the API key" in promotion.ended_reason
    audited_and_alerted(live_bot, alerts)
    live_tick()
    reconcile_live(force=True)
    assert len(emu.orders_received) == 1  # nothing more was sent with that key
    assert not Bot.objects.filter(mode="live").exists()


def test_a_global_kill_switch_demotes_every_users_live_bots(alice, bob, make_live_bot, emu, make_user, api,
                                                             promotion_alerts):
    a_alerts, b_alerts = promotion_alerts(alice), promotion_alerts(bob)
    a_bot, b_bot = make_live_bot(alice, name="a"), make_live_bot(bob, name="b")
    order = resting(Bot.objects.get(pk=a_bot.pk))
    officer = make_user("olivia", staff=True)
    officer.groups.add(Group.objects.get(name="risk officer"))
    r = api(officer).post("/api/system/emergency-stop/", {"scope": "global"}, format="json")
    assert r.status_code == 200, r.content
    assert sorted(r.json()["bots_halted"]) == sorted([a_bot.pk, b_bot.pk])
    assert [c["order"] for c in r.json()["live_orders_cancelled"]] == [order.client_id]
    for bot, alerts in ((a_bot, a_alerts), (b_bot, b_alerts)):
        assert Bot.objects.get(pk=bot.pk).status == "halted"
        assert demoted(bot).ended_reason.startswith("automatic: ")
        audited_and_alerted(bot, alerts)
    before = len(emu.orders_received)
    live_tick()
    assert len(emu.orders_received) == before


def test_a_users_emergency_stop_without_flatten_demotes_their_live_bot(live_bot, emu, alice, api, promotion_alerts):
    alerts = promotion_alerts(alice)
    r = api(alice).post("/api/system/emergency-stop/", {"scope": "user"}, format="json")
    assert r.status_code == 200 and r.json()["bots_halted"] == [live_bot.pk]
    demoted(live_bot)
    audited_and_alerted(live_bot, alerts)
    # resuming the halted bot brings it back on paper, never live: going live again needs a new promotion
    assert Bot.objects.get(pk=live_bot.pk).mode == "paper"


def test_a_daily_loss_breaker_in_the_risk_monitor_demotes_the_live_bot(live_bot, emu, alice, promotion_alerts):
    from trading.execution.monitor import risk_monitor_run

    alerts = promotion_alerts(alice)
    live_tick()  # the bot trades once: its wallet and price are known
    bot = Bot.objects.get(pk=live_bot.pk)
    # the day (UTC) started with the bot's equity at 1000; it holds about 500 now: past the 5 % limit
    today = timezone.now().strftime("%Y-%m-%d")
    Bot.objects.filter(pk=bot.pk).update(state={**bot.state, "risk": {"day": today, "day_start_equity": "1000",
                                                                      "peak_equity": "1000"}})
    assert bot.pk in risk_monitor_run()["halted"]
    halted = Bot.objects.get(pk=bot.pk)
    assert halted.status == "halted" and "Circuit breaker" in halted.halt_reason
    assert "Circuit breaker" in demoted(bot).ended_reason
    audited_and_alerted(bot, alerts)


def test_staff_revocation_in_admin_demotes_and_cancels_on_the_exchange(live_bot, emu, alice, make_user,
                                                                       promotion_alerts):
    alerts = promotion_alerts(alice)
    order = resting(live_bot)
    officer = make_user("olivia", staff=True)
    officer.groups.add(Group.objects.get(name="risk officer"))
    client = Client()
    client.force_login(officer)
    promotion = PromotionRequest.objects.get(bot=live_bot, status="approved")
    r = client.post("/admin/trading/promotionrequest/", {"action": "revoke_live", "_selected_action": [promotion.pk],
                                                        "note": "odd fills"}, follow=True)
    assert "Revoked 1 request(s)." in r.content.decode()
    assert demoted(live_bot).ended_reason == "revoked by staff: odd fills"
    assert emu.orders(order.client_id)[0]["status"] == "CANCELED"
    assert AuditEvent.objects.get(action="promotion.demote", target=f"bot:{live_bot.pk}").actor == officer
    assert [a.title for a in alerts].count(f"“{live_bot.name}” is back on paper") == 1
