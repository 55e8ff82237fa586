"""Manual control: POST /api/bots/{id}/close-position/, /api/bots/{id}/cancel-orders/, /api/bots/resume-all/."""

from decimal import Decimal

import pytest

from accounts.models import AuditEvent
from risk.models import RiskEvent
from tests.bots_support import poll_and_tick, use_replay, write_recording
from trading.execution.safety import bot_halt, emergency_stop
from trading.models import Bot, Order
from trading.services.bots import bot_create, bot_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def recording(settings, tmp_path):
    path = write_recording(tmp_path)
    use_replay(settings, tmp_path)
    return path


def _bot(owner, **kw):
    args = {"name": "Stacker", "exchange": "binance", "symbol": "BTC/USDT", "strategy": "dca",
            "params": {"interval_minutes": 1, "order_amount": "100"}, "starting_balance": Decimal("1000"), "seed": 7}
    args.update(kw)
    return bot_start(bot=bot_create(owner=owner, **args), actor=owner)


def _holding(owner, **kw):
    bot = _bot(owner, **kw)
    for _ in range(5):
        poll_and_tick()
        bot.refresh_from_db()
        if bot.base > 0:
            return bot
    raise AssertionError("the DCA bot never bought")


def test_close_position_sells_everything_at_market_through_the_venue_and_is_audited(api, alice, recording):
    bot = _holding(alice)
    held = bot.base
    r = api(alice).post(f"/api/bots/{bot.pk}/close-position/")
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["order"]["side"] == "sell" and body["order"]["type"] == "market"
    assert body["order"]["status"] == "filled" and Decimal(body["order"]["filled"]) == held
    assert "closed at market by alice" in body["order"]["reason"]
    assert body["bot"]["base"] == "0" and Decimal(body["bot"]["quote"]) > 0
    bot.refresh_from_db()
    assert bot.base == 0 and bot.fills.filter(side="sell").exists()
    assert AuditEvent.objects.filter(actor=alice, action="bot.close_position", target=f"bot:{bot.pk}").exists()
    again = api(alice).post(f"/api/bots/{bot.pk}/close-position/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "nothing_to_close"


def test_the_risk_gate_refuses_closing_a_halted_bot_and_records_why(api, alice, recording):
    bot = _holding(alice)
    bot_halt(bot=bot, actor=alice, reason="looked wrong")
    r = api(alice).post(f"/api/bots/{bot.pk}/close-position/")
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "risk_refused" and "halted" in err["message"]
    bot.refresh_from_db()
    assert bot.base > 0  # nothing sold
    assert RiskEvent.objects.filter(bot=bot, code="halted").exists()  # the gate's refusal was kept


def test_cancel_all_orders_cancels_every_resting_order_and_frees_the_reservations(api, alice, recording):
    bot = _bot(alice, strategy="grid", params={"lower": "90", "upper": "110", "levels": 5, "order_amount": "50"})
    poll_and_tick()
    open_before = Order.objects.filter(bot=bot, status__in=Order.OPEN_STATUSES).count()
    assert open_before >= 2
    r = api(alice).post(f"/api/bots/{bot.pk}/cancel-orders/")
    assert r.status_code == 200
    assert r.json()["cancelled"] == open_before and r.json()["bot"]["quote_reserved"] == "0"
    assert not Order.objects.filter(bot=bot, status__in=Order.OPEN_STATUSES).exists()
    assert Order.objects.filter(bot=bot, status="cancelled", reason__contains="cancelled by alice").count() == open_before
    assert AuditEvent.objects.filter(actor=alice, action="bot.cancel_orders").exists()


def test_resume_all_resumes_every_halted_bot_and_is_refused_under_a_kill_switch(api, alice, bob):
    mine = [_bot(alice, name=f"B{i}") for i in range(2)]
    theirs = _bot(bob, name="Bob's")
    for b in [*mine, theirs]:
        bot_halt(bot=b, actor=None, reason="breaker")
    r = api(alice).post("/api/bots/resume-all/")
    assert r.status_code == 200
    assert sorted(b["id"] for b in r.json()["resumed"]) == sorted(b.pk for b in mine)
    assert all(b["status"] == "running" for b in r.json()["resumed"])
    assert Bot.objects.get(pk=theirs.pk).status == "halted"  # only the caller's bots
    assert AuditEvent.objects.filter(actor=alice, action="bot.resume_all").exists()
    assert AuditEvent.objects.filter(actor=alice, action="bot.resume").count() == 2

    emergency_stop(actor=alice)
    assert Bot.objects.filter(owner=alice, status="halted").count() == 2
    refused = api(alice).post("/api/bots/resume-all/")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "kill_switch_engaged"
    assert Bot.objects.filter(owner=alice, status="halted").count() == 2


def test_another_users_bot_is_404_for_every_control(api, alice, bob):
    bot = _bot(alice)
    for action in ("close-position", "cancel-orders"):
        assert api(bob).post(f"/api/bots/{bot.pk}/{action}/").status_code == 404
