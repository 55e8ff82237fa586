"""The tick catches up the candles a bot missed while its ticks were lost.

What is lost in an outage: a poll that advanced the replay step (or closed a candle) but whose tick never
ran (Redis went down between the poll and the enqueue, the tick expired in the queue while the trading
worker was stopped, PostgreSQL refused the tick). Expected: the next tick evaluates every missed candle,
oldest first, each exactly once and as its own tick would have (closed bars up to it, filled at the next
bar's open), then the newest. So a replay bot with lost ticks trades exactly as the backtest of the whole
recording, one equity point per candle, and running the catch-up tick again evaluates nothing.
A bot further behind than BOT_TICK_CATCHUP_BARS (stopped for a while) goes on from the newest candle.
"""

from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db.models import Count

from tests.bots_support import recording_bars, use_replay, write_recording
from trading.backtest import run_backtest
from trading.engine.types import FillConfig, MarketRules
from trading.models import Bot, EquitySnapshot, Fill, Order
from trading.services.bots import bot_create, bot_start
from trading.services.prices import prices_poll
from trading.services.ticks import tick_run

pytestmark = pytest.mark.django_db
Q18 = Decimal("1e-18")
LOST = set(range(30, 36)) | {50, 51} | set(range(70, 79))  # polls whose tick never ran


def db(value: Decimal) -> Decimal:
    return value.quantize(Q18, rounding=ROUND_HALF_UP)


@pytest.fixture
def recording(settings, tmp_path):
    path = write_recording(tmp_path, bars=120)
    use_replay(settings, tmp_path)
    settings.BOT_TICK_CATCHUP_BARS = 10
    return path


def _bot(owner, seed: int) -> Bot:
    bot = bot_create(owner=owner, name=f"Trend {seed}", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     params={"fast": 3, "slow": 8}, starting_balance=Decimal("1000"), seed=seed)
    return bot_start(bot=bot, actor=owner)


def _poll() -> int:
    result = prices_poll(exchange="binance", symbols={"BTC/USDT"})
    return int(max(t.received_at for t in result.ticks) * 1000)


def test_missed_replay_steps_are_evaluated_on_the_next_tick_as_the_backtest_does(alice, bob, recording):
    bars = recording_bars(recording)
    bots = [_bot(alice, 11), _bot(bob, 12)]
    caught = {}
    for n in range(len(bars)):
        key = _poll()
        if n in LOST:
            continue  # the poll happened, its tick was lost
        summary = tick_run(exchange="binance", tick_key=key)
        if n - 1 in LOST:
            caught[n] = summary.notes.get("caught up (missed bars evaluated)", 0)
            assert tick_run(exchange="binance", tick_key=key).evaluated == 0  # the same tick again: nothing
    # after each gap: every bot evaluated each missed step once (6, 2 and 9 steps) before the newest
    assert caught == {36: 12, 52: 4, 79: 18}

    from risk.limits import limits_for

    for bot in bots:
        result = run_backtest(bars, "sma_cross", bot.params, Decimal("1000"),
                              rules=MarketRules(base_currency="BTC", quote_currency="USDT"), cfg=FillConfig(),
                              seed=bot.seed, limits=limits_for(bot=bot))
        expected = [(f.side, db(f.price), db(f.amount), db(f.fee), f.ts_ms) for f in result.fills]
        got = [(f.side, f.price, f.amount, f.fee, int(f.ts.timestamp() * 1000))
               for f in Fill.objects.filter(bot=bot).order_by("ts", "id")]
        assert len(expected) >= 4
        assert got == expected, f"{bot.name} traded differently from the backtest after lost ticks"
        bot.refresh_from_db()
        assert abs(bot.quote - result.wallet.quote) < Decimal("1e-12") and bot.base == db(result.wallet.base)
        # one equity point per candle evaluated: every step but the last (it has no next open to fill at)
        assert EquitySnapshot.objects.filter(bot=bot).count() == len(bars) - 1
    assert not Order.objects.values("bot", "client_id").annotate(n=Count("pk")).filter(n__gt=1).exists()
    assert not Fill.objects.values("order").annotate(n=Count("pk")).filter(n__gt=1).exists()


def test_a_bot_further_behind_than_the_catch_up_window_goes_on_from_the_newest_candle(alice, recording, settings):
    settings.BOT_TICK_CATCHUP_BARS = 3
    bot = _bot(alice, 21)
    for _ in range(20):
        tick_run(exchange="binance", tick_key=_poll())
    points = EquitySnapshot.objects.filter(bot=bot).count()
    for _ in range(5):
        _poll()  # five ticks lost: more than the window of 3
    summary = tick_run(exchange="binance", tick_key=_poll())
    assert summary.evaluated == 1 and "caught up (missed bars evaluated)" not in summary.notes
    assert EquitySnapshot.objects.filter(bot=bot).count() == points + 1
