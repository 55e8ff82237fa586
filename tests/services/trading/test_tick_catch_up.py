"""The tick catches up the candles a bot missed while its ticks were lost.

What is lost in an outage: a poll that advanced the replay step (or closed a candle) but whose tick never
ran (Redis went down between the poll and the enqueue, the tick expired in the queue while the trading
worker was stopped, PostgreSQL refused the tick). Expected: the next tick evaluates every missed candle,
oldest first, each exactly once and as its own tick would have (closed bars up to it, filled at the next
bar's open), then the newest. So a replay bot with lost ticks trades exactly as the backtest of the whole
recording, one equity point per candle, and running the catch-up tick again evaluates nothing.
A bot further behind than BOT_TICK_CATCHUP_BARS (stopped for a while) goes on from the newest candle.
"""

from datetime import timedelta
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


# --- live candles (ccxt takes the synthetic feed's path): the candles of lost ticks, not those of a pause ---

@pytest.fixture
def live_candles(settings):
    from trading.services import tick_feeds

    settings.MARKET_DATA_SOURCE = "synthetic"
    settings.DEFAULT_WATCHLIST = []
    settings.BOT_TICK_CATCHUP_BARS = 10
    tick_feeds._candle_cache.clear()


def _candles(first_ms: int, n: int) -> None:
    from trading.feeds import Bar
    from trading.services.candles import candles_store

    candles_store(exchange="binance", symbol="BTC/USDT", timeframe="1m",
                  bars=[Bar(first_ms + i * 60_000, Decimal("100"), Decimal("101"), Decimal("99"), Decimal("100"),
                            Decimal("5")) for i in range(n)])


def _buyer(owner) -> Bot:
    bot = bot_create(owner=owner, name="dca", exchange="binance", symbol="BTC/USDT", strategy="dca",
                     params={"interval_minutes": 1, "order_amount": "10"}, starting_balance=Decimal("1000"),
                     fill_overrides={"reject_rate": "0"}, seed=5)
    return bot_start(bot=bot, actor=owner)


def test_live_candles_of_lost_ticks_are_evaluated_and_filled_at_the_next_open(alice, live_candles):
    import time

    minute = int(time.time() // 60) * 60_000
    _candles(minute - 5 * 60_000, 5)
    bot = _buyer(alice)
    now = time.time()
    assert tick_run(exchange="binance", tick_key=_poll(), now=now).fills == 1
    _candles(minute, 3)  # three minutes go by; the ticks of the first two are lost
    summary = tick_run(exchange="binance", tick_key=_poll(), now=now + 180)
    assert summary.notes["caught up (missed bars evaluated)"] == 2 and summary.fills == 3
    fills = list(Fill.objects.filter(bot=bot).order_by("id"))  # (the test moves the clock, not the ticker)
    # the missed candles filled at the next candle's open (candle data), at the time of that candle
    assert [int(f.ts.timestamp() * 1000) for f in fills[1:3]] == [minute + 60_000, minute + 120_000]
    assert all(Decimal("100.1") <= f.price <= Decimal("100.2") for f in fills[1:3])
    assert tick_run(exchange="binance", tick_key=_poll(), now=now + 180).evaluated == 0


def test_live_candles_of_a_pause_are_not_caught_up(alice, live_candles):
    import time

    from trading.services.bots import bot_stop

    minute = int(time.time() // 60) * 60_000
    _candles(minute - 5 * 60_000, 5)
    bot = _buyer(alice)
    now = time.time()
    tick_run(exchange="binance", tick_key=_poll(), now=now)
    bot_stop(bot=Bot.objects.get(pk=bot.pk), actor=alice)
    _candles(minute, 3)
    bot = bot_start(bot=Bot.objects.get(pk=bot.pk), actor=alice)
    # started again when those three candles had closed (the clock moved on 3 minutes while it was stopped)
    Bot.objects.filter(pk=bot.pk).update(started_at=bot.started_at + timedelta(minutes=3))
    summary = tick_run(exchange="binance", tick_key=_poll(), now=now + 180)
    assert summary.evaluated == 1 and summary.fills == 1 and "caught up (missed bars evaluated)" not in summary.notes
