"""A bot's health through the real tick on the replay feed: warming up, blocked by risk, idle on a tiny
balance, stale prices, and running; with the live push of a change and no extra query per bot."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from risk.models import RiskPolicy
from tests.bots_support import poll_and_tick, use_replay, write_recording
from trading.health import bot_health
from trading.models import Bot, Market
from trading.services.bots import bot_create, bot_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def recording(settings, tmp_path):
    path = write_recording(tmp_path)
    use_replay(settings, tmp_path)
    return path


def _bot(owner, **kw):
    args = {"name": "Trend", "exchange": "binance", "symbol": "BTC/USDT", "strategy": "sma_cross",
            "params": {"fast": 3, "slow": 8}, "starting_balance": Decimal("1000"), "seed": 7}
    args.update(kw)
    return bot_start(bot=bot_create(owner=owner, **args), actor=owner)


def _health(bot):
    bot.refresh_from_db()
    return bot_health(bot, now=timezone.now())


def test_a_bot_started_after_a_price_is_warming_up_at_once(alice, recording):
    from trading.services.prices import prices_poll  # noqa: PLC0415 - one poll, no tick

    prices_poll(exchange="binance", symbols={"BTC/USDT"})
    bot = _bot(alice)
    h = _health(bot)
    assert (h.state, h.label) == ("warming_up", "warming up: needs 8 more candles")  # before any tick


def test_a_new_sma_bot_is_warming_up_until_it_has_slow_plus_one_candles(alice, recording):
    bot = _bot(alice)
    assert _health(bot).label == "running"  # started before its market's first price: the first tick tells
    poll_and_tick()
    h = _health(bot)
    assert (h.state, h.label) == ("warming_up", "warming up: needs 8 more candles")
    for _ in range(7):
        poll_and_tick()
    assert _health(bot).label == "warming up: needs 1 more candle"
    poll_and_tick()
    assert (_health(bot).state, _health(bot).label) == ("running", "running")


def test_a_bot_refused_by_a_risk_limit_says_blocked_with_the_reason_until_an_order_passes(alice, recording):
    bot = _bot(alice, strategy="dca", params={"interval_minutes": 1, "order_amount": "100"})
    policy = RiskPolicy.objects.create(scope="bot", bot=bot, max_position_quote=Decimal("50"))
    poll_and_tick()
    h = _health(bot)
    assert h.state == "blocked" and h.label.startswith("blocked: max_position: Position would be")
    assert bot.status == "running"  # the status alone would say "running": the health does not
    poll_and_tick()  # the next buy is refused too: still blocked
    assert _health(bot).state == "blocked"
    policy.max_position_quote = Decimal("100000")
    policy.save()
    poll_and_tick()  # the buy passes: the block is lifted
    assert _health(bot).state == "running"


def test_a_balance_below_the_markets_minimum_order_is_idle(alice, recording):
    bot = _bot(alice, strategy="dca", params={"interval_minutes": 1, "order_amount": "10"},
               starting_balance=Decimal("20"))
    # created before the exchange's markets were loaded; the market's minimum is above the whole wallet
    Market.objects.create(exchange="binance", symbol="BTC/USDT", base="BTC", quote="USDT", min_cost=Decimal("25"))
    poll_and_tick()
    h = _health(bot)
    assert (h.state, h.label) == ("idle", "idle: balance below minimum order")
    assert "25 USDT" in h.detail


def test_stale_prices_show_as_stale_and_a_bot_no_tick_reaches_goes_stale_too(alice, recording, settings, monkeypatch,
                                                                            django_capture_on_commit_callbacks):
    from trading import events

    sent = []
    monkeypatch.setattr(events, "events_publish", lambda batch: sent.extend(batch))
    bot = _bot(alice)
    poll_and_tick()
    settings.PRICE_STALE_AFTER_SECONDS = -1  # every stored ticker is now too old
    with django_capture_on_commit_callbacks(execute=True):
        poll_and_tick()
    pushed = [e["bot"]["health"] for _uid, e in sent if e.get("type") == "bot" and e["bot"]["id"] == bot.pk]
    assert pushed and pushed[-1]["state"] == "stale_prices"  # the page hears it without a reload
    h = _health(bot)
    assert (h.state, h.label) == ("stale_prices", "stale prices") and h.detail.startswith("stale price")
    quiet = _bot(alice, name="Quiet")
    assert _health(quiet).state == "stale_prices"  # started on a stale feed: says so before any tick
    Bot.objects.filter(pk=quiet.pk).update(started_at=timezone.now() - timedelta(minutes=10), last_tick_at=None,
                                           last_tick_note="")
    h = _health(quiet)
    assert h.state == "stale_prices" and "No tick has run this bot for 10 min" in h.detail


def test_stopped_paused_and_halted_bots_show_their_status(alice):
    now = timezone.now()
    for status, reason in (("stopped", ""), ("paused", ""), ("halted", "daily loss 5 %")):
        bot = Bot(status=status, halt_reason=reason, last_tick_note="blocked: max_position: x")
        h = bot_health(bot, now=now)
        assert (h.state, h.label) == (status, status) and h.trading is False
    assert bot_health(Bot(status="halted", halt_reason="daily loss 5 %"), now=now).detail == "daily loss 5 %"


def test_a_health_change_is_pushed_to_the_owner_and_costs_no_query_per_bot(alice, recording, monkeypatch,
                                                                           django_capture_on_commit_callbacks):
    from trading import events

    sent = []
    monkeypatch.setattr(events, "events_publish", lambda batch: sent.extend(batch))
    bots = [_bot(alice, name=f"B{i}") for i in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        poll_and_tick()
    pushed = {e["bot"]["id"]: e["bot"]["health"] for _uid, e in sent if e["type"] == "bot" and "health" in e["bot"]}
    assert {b.pk for b in bots} <= set(pushed)
    assert pushed[bots[0].pk]["state"] == "warming_up"
    # queries per tick do not grow with the number of bots
    with CaptureQueriesContext(connection) as three:
        poll_and_tick()
    for i in range(3, 12):
        _bot(alice, name=f"B{i}")
    poll_and_tick()
    with CaptureQueriesContext(connection) as twelve:
        poll_and_tick()
    assert len(twelve) == len(three)
