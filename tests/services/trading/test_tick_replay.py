"""The bots' tick on the replay feed: trades through prices_poll + tick, paper/backtest parity, stale prices."""

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from tests.bots_support import poll_and_tick, recording_bars, use_replay, write_recording
from trading.backtest import run_backtest
from trading.engine.types import FillConfig, MarketRules
from trading.models import Bot, EquitySnapshot, Fill, Order
from trading.services.bots import bot_create, bot_start
from trading.services.ticks import tick_run

pytestmark = pytest.mark.django_db

Q18 = Decimal("1e-18")


def db(value: Decimal) -> Decimal:
    """What numeric(38, 18) stores: PostgreSQL rounds half away from zero."""
    return value.quantize(Q18, rounding=ROUND_HALF_UP)


@pytest.fixture
def recording(settings, tmp_path):
    path = write_recording(tmp_path)
    use_replay(settings, tmp_path)
    return path


def _bot(owner, **kw):
    args = {"name": "Trend", "exchange": "binance", "symbol": "BTC/USDT", "strategy": "sma_cross",
            "params": {"fast": 3, "slow": 8}, "starting_balance": Decimal("1000"), "seed": 7}
    args.update(kw)
    bot = bot_create(owner=owner, **args)
    return bot_start(bot=bot, actor=owner)


def _replay_all(n: int):
    for _ in range(n):
        poll_and_tick()


def test_a_running_bot_trades_on_the_replay_feed_through_poll_and_tick(alice, recording):
    bot = _bot(alice)
    _replay_all(80)
    bot.refresh_from_db()
    fills = list(Fill.objects.filter(bot=bot).order_by("ts", "id"))
    assert fills, "an SMA crossover bot on a wavy recording must trade"
    assert {f.side for f in fills} == {"buy", "sell"}
    buy = fills[0]
    assert buy.side == "buy" and buy.fee > 0 and buy.fee_currency == "USDT" and buy.liquidity == "taker"
    assert Decimal("0.001") <= buy.slippage <= Decimal("0.002")  # moved against the trader
    assert buy.order.status == "filled" and buy.order.filled == buy.amount
    # the wallet is exactly the starting balance moved by the fills (fees in quote)
    quote, base = Decimal("1000"), Decimal(0)
    for f in fills:
        sign = 1 if f.side == "buy" else -1
        base += sign * f.amount
        quote -= sign * f.price * f.amount + f.fee
    assert bot.base == db(base) and abs(bot.quote - quote) < Decimal("1e-12")
    assert bot.quote >= 0 and bot.base >= 0
    # one equity point per evaluated candle, valued as quote + base * close
    points = list(EquitySnapshot.objects.filter(bot=bot).order_by("ts"))
    assert len(points) == 80  # one per poll: each replay step closes a candle
    last = points[-1]
    assert last.equity == db(last.quote + last.base * last.price)


def test_paper_replay_gives_the_same_trades_as_the_backtest(alice, recording):
    """Parity: the same recording and seed through the backtest and through poll + tick."""
    bars = recording_bars(recording)
    bot = _bot(alice, seed=12345)
    _replay_all(len(bars) + 2)  # past the end: the last candle has no next open to fill at
    from risk.limits import limits_for

    result = run_backtest(bars, "sma_cross", bot.params, Decimal("1000"),
                          rules=MarketRules(base_currency="BTC", quote_currency="USDT"), cfg=FillConfig(),
                          seed=12345, limits=limits_for(bot=bot))
    expected = [(f.side, db(f.price), db(f.amount), db(f.fee), f.ts_ms) for f in result.fills]
    got = [(f.side, f.price, f.amount, f.fee, int(f.ts.timestamp() * 1000))
           for f in Fill.objects.filter(bot=bot).order_by("ts", "id")]
    assert len(expected) >= 4
    assert got == expected
    rejected_paper = Order.objects.filter(bot=bot, status="rejected").count()
    assert rejected_paper == len(result.rejects)
    bot.refresh_from_db()
    assert abs(bot.quote - result.wallet.quote) < Decimal("1e-12") and bot.base == db(result.wallet.base)


@pytest.mark.parametrize("strategy, params, reason", [
    ("sma_cross", {"fast": 3, "slow": 8, "trailing_stop_pct": "1", "stop_loss_pct": "1.5"}, "trailing stop"),
    ("rsi", {"period": 6, "overbought": 99, "take_profit_pct": "1"}, "take-profit"),
    ("dca", {"interval_minutes": 1000, "order_amount": "100", "take_profit_pct": "3.5", "safety_step_pct": "1",
             "safety_volume_scale": "1.5", "safety_max_count": 3}, "safety order"),
])
def test_exit_rules_and_safety_orders_trade_the_same_in_paper_replay_and_backtest(alice, recording, strategy,
                                                                                  params, reason):
    """Parity for stop-loss / take-profit / trailing stop and DCA safety orders: one code path."""
    bars = recording_bars(recording)
    bot = _bot(alice, strategy=strategy, params=params, seed=4243)
    _replay_all(len(bars) + 2)
    from risk.limits import limits_for

    result = run_backtest(bars, strategy, bot.params, Decimal("1000"),
                          rules=MarketRules(base_currency="BTC", quote_currency="USDT"), cfg=FillConfig(),
                          seed=4243, limits=limits_for(bot=bot))
    expected = [(f.side, db(f.price), db(f.amount), db(f.fee), f.ts_ms) for f in result.fills]
    got = [(f.side, f.price, f.amount, f.fee, int(f.ts.timestamp() * 1000))
           for f in Fill.objects.filter(bot=bot).order_by("ts", "id")]
    assert len(expected) >= 2 and got == expected
    assert Order.objects.filter(bot=bot, reason__contains=reason).exists()  # the rule did fire


SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "bittrex_ETH-BTC_5m.csv"


def test_parity_over_the_recorded_bittrex_file(alice, settings, tmp_path):
    if not SHARED.exists():
        pytest.skip(f"recorded data not present at {SHARED.resolve()} (../shared/data next to the repo)")
    from trading.feeds import read_csv

    bars = read_csv(SHARED)[:400]  # the first 400 candles keep the test quick
    target = tmp_path / "bittrex_ETH-BTC_5m.csv"
    target.write_text("timestamp_ms,open,high,low,close,volume\n" + "".join(
        f"{b.ts_ms},{b.open},{b.high},{b.low},{b.close},{b.volume}\n" for b in bars))
    use_replay(settings, tmp_path)
    settings.SUPPORTED_EXCHANGES = [*settings.SUPPORTED_EXCHANGES, "bittrex"]
    bot = _bot(alice, exchange="bittrex", symbol="ETH/BTC", params={"fast": 5, "slow": 20}, seed=99,
               starting_balance=Decimal("1"))
    for _ in range(len(bars) + 1):
        poll_and_tick(exchange="bittrex", symbols={"ETH/BTC"})
    from risk.limits import limits_for

    result = run_backtest(bars, "sma_cross", bot.params, Decimal("1"),
                          rules=MarketRules(base_currency="ETH", quote_currency="BTC"), cfg=FillConfig(), seed=99,
                          limits=limits_for(bot=bot))
    expected = [(f.side, db(f.price), db(f.amount), db(f.fee), f.ts_ms) for f in result.fills]
    got = [(f.side, f.price, f.amount, f.fee, int(f.ts.timestamp() * 1000))
           for f in Fill.objects.filter(bot=bot).order_by("ts", "id")]
    assert expected, "the recording should produce some trades"
    assert got == expected


def test_bots_on_a_stale_price_do_nothing_and_say_why(alice, recording, settings):
    bot = _bot(alice)
    poll_and_tick()
    settings.PRICE_STALE_AFTER_SECONDS = -1  # every stored ticker is now too old
    summary = tick_run(exchange="binance", tick_key=10**13)
    assert summary.skipped == 1 and summary.evaluated == 0
    bot.refresh_from_db()
    assert bot.last_tick_note.startswith("stale price: no update for")
    assert not Fill.objects.filter(bot=bot).exists()


def test_no_bot_runs_when_trading_is_switched_off(alice, recording, settings):
    bot = _bot(alice, strategy="dca", params={"interval_minutes": 1, "order_amount": "10"})
    settings.ENABLE_TRADING = False
    _replay_all(5)
    assert not Order.objects.filter(bot=bot).exists()
    assert Bot.objects.get(pk=bot.pk).state == {}


def test_paused_and_stopped_bots_are_not_evaluated(alice, recording):
    from trading.services.bots import bot_pause, bot_stop

    paused = _bot(alice, strategy="dca", params={"interval_minutes": 1, "order_amount": "10"})
    stopped = _bot(alice, strategy="dca", params={"interval_minutes": 1, "order_amount": "10"})
    bot_pause(bot=paused, actor=alice)
    bot_stop(bot=stopped, actor=alice)
    _replay_all(3)
    assert not Order.objects.filter(bot__in=[paused, stopped]).exists()
