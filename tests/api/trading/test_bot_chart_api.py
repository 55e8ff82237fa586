"""GET /api/bots/{id}/chart/: the bot's candles (its timeframe) and the indicators its strategy decides with,
equal to what the engine's own functions give on the same candles; in the schema; 404 for someone else's bot."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.emulator.fixtures import *  # noqa: F403
from trading.api.serializers import exact_decimal
from trading.engine.candles import aggregate
from trading.engine.strategies import get_strategy
from trading.engine.strategies.base import sma
from trading.engine.strategies.rsi import rsi
from trading.engine.types import Bar
from trading.models import Bot, Candle
from trading.services.bots import bot_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("binance_markets")]
D = Decimal


@pytest.fixture
def minutes():
    """90 closed 1m candles ending two minutes ago, a zig-zag so RSI moves, and the one forming now."""
    now = timezone.now().replace(second=0, microsecond=0)
    start = now - timedelta(minutes=90)
    closes = [D(65000) + D((i * 37) % 23) * 5 - D(i % 4) * 3 for i in range(91)]
    rows = [Candle(exchange="binance", symbol="BTC/USDT", timeframe="1m", ts=start + timedelta(minutes=i),
                   open=closes[i - 1] if i else closes[0], high=closes[i] + 4, low=closes[i] - 6, close=closes[i],
                   volume=D(1)) for i in range(91)]
    Candle.objects.bulk_create(rows)
    return [Bar(int(c.ts.timestamp() * 1000), c.open, c.high, c.low, c.close, c.volume) for c in rows]


def _bot(owner, strategy, params, **kw):
    return bot_create(owner=owner, name=strategy, exchange="binance", symbol="BTC/USDT", strategy=strategy,
                      params=params, starting_balance=D("10000"), **kw)


def _chart(api, user, bot, limit=60):
    r = api(user).get(f"/api/bots/{bot.pk}/chart/?limit={limit}")
    assert r.status_code == 200, r.json()
    return r.json()


def test_sma_lines_are_the_engines_smas_on_the_closed_candles(api, alice, minutes):
    bot = _bot(alice, "sma_cross", {"fast": 3, "slow": 8})
    chart = _chart(api, alice, bot)
    closed = minutes[:-1]  # the newest stored candle is the one still forming
    assert len(chart["candles"]) == 60 and chart["candles"][-1]["closed"] is False
    assert all(c["closed"] for c in chart["candles"][:-1]) and chart["candles"][-1]["t"] == minutes[-1].ts_ms
    fast, slow = chart["indicators"]["lines"]
    assert (fast["key"], fast["label"], slow["key"], slow["label"]) == ("sma_fast", "SMA 3", "sma_slow", "SMA 8")
    assert len(fast["points"]) == len(slow["points"]) == 60  # one per closed candle shown (and one before)
    for line, period in ((fast, 3), (slow, 8)):
        for point in line["points"]:
            end = next(i for i, b in enumerate(closed) if b.ts_ms == point["t"]) + 1
            assert point["v"] == exact_decimal(sma(closed, period, end))
    # the newest values are what decide() compares on this candle
    assert fast["points"][-1] == {"t": closed[-1].ts_ms, "v": exact_decimal(sma(closed, 3))}
    everything = _chart(api, alice, bot, limit=500)  # more than is stored: all of it
    assert len(everything["candles"]) == 91 and everything["candles"][0]["t"] == minutes[0].ts_ms
    assert len(everything["indicators"]["lines"][0]["points"]) == 90 - 2
    assert chart["indicators"]["levels"] == [] and chart["indicators"]["pane"] is None


def test_the_rsi_pane_is_the_engines_rsi_with_its_levels(api, alice, minutes):
    bot = _bot(alice, "rsi", {"period": 14, "oversold": "25", "overbought": "75"})
    pane = _chart(api, alice, bot, limit=40)["indicators"]["pane"]
    closed = minutes[:-1]
    assert (pane["key"], pane["label"], pane["min"], pane["max"]) == ("rsi", "RSI 14", "0", "100")
    assert pane["levels"] == [{"key": "oversold", "label": "oversold", "value": "25"},
                              {"key": "overbought", "label": "overbought", "value": "75"}]
    assert len(pane["points"]) == 40
    assert pane["points"][-1] == {"t": closed[-1].ts_ms, "v": exact_decimal(rsi(closed, 14))}
    ten_back = pane["points"][-11]
    assert ten_back["v"] == exact_decimal(rsi(closed[:-10], 14)) and ten_back["t"] == closed[-11].ts_ms
    assert len({p["v"] for p in pane["points"]}) > 5  # it moves


def test_grid_levels_are_the_strategys_lines(api, alice, minutes):
    bot = _bot(alice, "grid", {"lower": "64900", "upper": "65200", "levels": 4, "order_amount": "100"})
    Bot.objects.filter(pk=bot.pk).update(state={"strategy": {"held": {"1": "0.001"}}})
    levels = _chart(api, alice, Bot.objects.get(pk=bot.pk))["indicators"]["levels"]
    prices = get_strategy("grid", bot.params).prices()
    assert [lv["price"] for lv in levels] == [exact_decimal(p) for p in prices] == ["64900", "65000", "65100", "65200"]
    assert [lv["kind"] for lv in levels] == ["grid", "grid_held", "grid", "grid"]


def test_dca_levels_are_the_open_deals_base_safety_orders_and_take_profit(api, alice, minutes):
    bot = _bot(alice, "dca", {"order_amount": "100", "take_profit_pct": "2", "safety_step_pct": "1.5",
                              "safety_volume_scale": "2", "safety_max_count": 3})
    flat = _chart(api, alice, bot)["indicators"]["levels"]
    assert flat == []  # no deal open: nothing to draw
    Bot.objects.filter(pk=bot.pk).update(base=D("0.004"), state={
        "engine": {"avg_price": "64000"}, "strategy": {"deal_ref": "65000", "safety_used": 1}})
    levels = _chart(api, alice, Bot.objects.get(pk=bot.pk))["indicators"]["levels"]
    strategy = get_strategy("dca", bot.params)
    assert [(lv["key"], lv["kind"], lv["price"]) for lv in levels] == [
        ("dca_base", "dca_base", "65000"),
        ("dca_safety_1", "dca_safety_filled", exact_decimal(strategy.safety_trigger(D(65000), 1))),
        ("dca_safety_2", "dca_safety", exact_decimal(strategy.safety_trigger(D(65000), 2))),
        ("dca_safety_3", "dca_safety", exact_decimal(strategy.safety_trigger(D(65000), 3))),
        ("dca_take_profit", "take_profit", "65280"),
    ]
    assert levels[1]["price"] == "64025" and levels[1]["label"] == "safety order 1 (filled)"


def test_a_5m_bot_gets_5m_candles_and_smas_on_them(api, alice, minutes):
    bot = _bot(alice, "sma_cross", {"fast": 2, "slow": 4}, timeframe="5m")
    chart = _chart(api, alice, bot, limit=10)
    assert chart["timeframe"] == "5m"
    now_ms = int(timezone.now().timestamp() * 1000)
    cut = now_ms - now_ms % 300_000
    closed = aggregate(minutes, 300_000, before_ms=cut)
    got = [c for c in chart["candles"] if c["closed"]]
    assert [c["t"] for c in got] == [b.ts_ms for b in closed[-len(got):]] and all(c["t"] % 300_000 == 0 for c in got)
    assert got[-1]["close"] == exact_decimal(closed[-1].close) and got[-1]["high"] == exact_decimal(closed[-1].high)
    fast = chart["indicators"]["lines"][0]
    assert fast["points"][-1]["v"] == exact_decimal(sma(closed, 2))


def test_the_chart_is_in_the_schema_and_private(api, alice, bob, minutes):
    bot = _bot(alice, "sma_cross", {"fast": 3, "slow": 8})
    assert api(bob).get(f"/api/bots/{bot.pk}/chart/").status_code == 404
    r = api(alice).get(f"/api/bots/{bot.pk}/chart/?limit=0")
    assert r.status_code == 400 and "limit" in r.json()["error"]["fields"]
    schema = api(alice).get("/api/schema/?format=json").json()
    assert "/api/bots/{id}/chart/" in schema["paths"]
    assert {"lines", "levels", "pane"} <= set(schema["components"]["schemas"]["IndicatorsOut"]["properties"])
