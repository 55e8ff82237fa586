"""The paper tick goes through order_gate: a kill switch or a tightened limit stops orders on the real tick path,
and each refusal is a risk event on the bot."""

from decimal import Decimal

import pytest

from risk.models import RiskEvent
from risk.services import kill_switch_engage, policy_tighten
from tests.bots_support import poll_and_tick, use_replay, write_recording
from tests.conftest import PASSWORD
from trading.execution.safety import kill_switch_release
from trading.models import Fill, Order
from trading.services.bots import bot_create, bot_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def trend_bot(alice, settings, tmp_path):
    write_recording(tmp_path)
    use_replay(settings, tmp_path)
    bot = bot_create(owner=alice, name="Trend", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     params={"fast": 3, "slow": 8}, starting_balance=Decimal("1000"), seed=7)
    return bot_start(bot=bot, actor=alice)


def test_no_order_while_the_kill_switch_is_engaged_then_trading_resumes(alice, trend_bot):
    kill_switch_engage(scope="user", user=alice, actor=alice, reason="test")
    for _ in range(60):
        poll_and_tick()
    placed = Order.objects.filter(bot=trend_bot).exclude(status="rejected")
    assert not placed.exists()
    refusals = RiskEvent.objects.filter(bot=trend_bot, code="kill_switch")
    assert refusals.exists(), "the strategy wanted to trade and was refused"
    assert "your kill switch" in refusals.first().message.lower()
    # the bot's order history shows each refusal with its reason; the risk log keeps one per 5 minutes
    rejected = Order.objects.filter(bot=trend_bot, status="rejected")
    assert rejected.count() >= refusals.count() >= 1 and "kill switch" in rejected.first().reason.lower()

    kill_switch_release(scope="user", user=alice, actor=alice, password=PASSWORD)
    for _ in range(60):
        poll_and_tick()
    assert placed.exists()


def test_a_tightened_daily_trade_limit_holds_on_the_tick(alice, trend_bot):
    policy_tighten(actor=alice, user=alice, bot=trend_bot, values={"max_trades_per_day": 1})
    for _ in range(200):
        poll_and_tick()
    # entries beyond the limit are refused (the replay crosses midnight UTC: a new day, a new allowance);
    # exits stay allowed so the bot can always get out
    buy_days = [f.ts.date() for f in Fill.objects.filter(bot=trend_bot, side="buy")]
    assert buy_days and len(buy_days) == len(set(buy_days))
    assert RiskEvent.objects.filter(bot=trend_bot, code="max_trades_per_day").exists()
    assert Order.objects.filter(bot=trend_bot, status="rejected", reason__icontains="trade limit").exists()
