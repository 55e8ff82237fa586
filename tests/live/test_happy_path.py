"""The whole happy path of issue 13, end to end, against the Binance emulator through the real ccxt client.

1. Two paper bots (alice's and bob's) earn their record the way every bot does: the replay feed plays a
   recorded hourly series, one candle per price poll, and the paper tick trades it. Nothing is inserted by
   hand. The recording's candles lie in the past (the last one two hours ago), so the record's fills carry
   their candles' times and "days on paper" counts from the first of them, about ten days ago. That is the
   one liberty taken: ten days of candles are played in a few hundred polls instead of ten days of waiting.
   Every PROMOTION_* criterion is the default (7 days, 25 closed trades, 52 % win rate, 3 % profit, staff
   approval required); no setting is overridden but ENABLE_LIVE_TRADING.
2. Through the API: both owners see every criterion passed and request promotion; alice confirms with the
   phrase, bob (TOTP on) with a code; dave (staff, approve-promotion permission) finds both pending and
   approves them.
3. Live ticks (the same replay, the poll then the live and paper ticks, as the worker runs them): the bots'
   orders reach the emulator signed with their owners' key and carrying our client order ids (the
   emulator's own log), and after reconciliation our orders and fills are the exchange's, no fill twice.
   The live ticks write the bots' equity, and their performance is their live record (from the allocation).
4. Alice goes back to paper: her open live order is cancelled on the exchange first, her position is kept
   and reported.
"""

import math
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.bots_support import use_replay
from tests.emulator.binance import API_KEY, SECRET
from tests.live.test_live_stop import resting
from trading.execution.reconcile import reconcile_live
from trading.models import Bot, EquitySnapshot, Fill, Order, PromotionRequest
from trading.services.live_ticks import live_tick_run
from trading.services.prices import prices_poll
from trading.services.ticks import tick_run

pytestmark = pytest.mark.django_db

HOUR_MS = 3_600_000
BARS = 240
PAPER_POLLS = 226  # candles 0..225 on paper: 31 round trips, ~84 % won (tick == backtest, see the parity tests)
LIVE_POLLS = 10  # then ten candles live: at least one buy and one sell each (an 8-candle wave)
PARAMS = {"fast": 1, "slow": 2, "size_pct": "50"}


def hourly_recording(directory: Path) -> Path:
    """An 8-hour wave (3 %) with some noise (1.2 %) over the last ten days, the newest candle two hours ago."""
    end_ms = (int(datetime.now(UTC).timestamp() * 1000) // HOUR_MS - 2) * HOUR_MS
    start_ms = end_ms - (BARS - 1) * HOUR_MS
    lines = ["timestamp_ms,open,high,low,close,volume"]
    prev = Decimal(100)
    for i in range(BARS):
        close = Decimal(str(round(100 * (1 + 0.03 * math.sin(i / 8 * 2 * math.pi) + 0.012 * math.sin(i * 1.7)), 4)))
        lines.append(f"{start_ms + i * HOUR_MS},{prev},{max(prev, close) + Decimal('0.05')},"
                     f"{min(prev, close) - Decimal('0.05')},{close},{10 + i % 7}")
        prev = close
    path = directory / "binance_BTC-USDT_1h.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_worker_tick(emu=None):
    """One price poll of the replay, then the live and the paper tick for it (trading.tasks.run_bots_tick).
    With `emu`, the emulator's book follows the replayed price first, so live orders fill where the bot
    priced them."""
    result = prices_poll(exchange="binance", symbols={"BTC/USDT"})
    tick = result.ticks[0]
    if emu is not None:
        emu.set_price("BTC/USDT", tick.bid.quantize(Decimal("0.01")), tick.ask.quantize(Decimal("0.01")))
    key = int(tick.received_at * 1000)
    live = live_tick_run(exchange="binance", tick_key=key)
    tick_run(exchange="binance", tick_key=key)
    return live


@pytest.fixture
def paper_bots(alice, bob, binance_markets, live_on, settings, tmp_path):
    """The exchange's markets synced first (precision, minimums, fees), as an installation does: the paper
    record and the live orders follow the same rules."""
    from keys.services import key_create, key_test
    from trading.services.bots import bot_create, bot_start

    hourly_recording(tmp_path)
    use_replay(settings, tmp_path)
    settings.CCXT_TIMEOUT_MS = 1500
    bots = []
    for user in (alice, bob):
        key = key_create(owner=user, exchange="binance", label="main", api_key=API_KEY, secret=SECRET)
        assert key_test(key=key, actor=user)["ok"]
        bot = bot_create(owner=user, name=f"{user.username} wave", exchange="binance", symbol="BTC/USDT",
                         strategy="sma_cross", params=PARAMS, starting_balance=Decimal("1000"))
        bots.append(bot_start(bot=bot, actor=user))
    for _ in range(PAPER_POLLS):
        run_worker_tick()
    return bots


def test_a_replayed_paper_record_goes_live_through_every_gate_trades_and_comes_back(
        paper_bots, alice, bob, approver, api, totp_for, use_binance_emulator, settings):
    emu = use_binance_emulator
    a_bot, b_bot = paper_bots
    assert settings.PROMOTION_MIN_PAPER_DAYS == 7 and settings.PROMOTION_MIN_CLOSED_TRADES == 25
    assert settings.PROMOTION_REQUIRE_STAFF_APPROVAL is True
    assert not Fill.objects.exclude(exchange_trade_id="").exists() and emu.orders_received == []

    # 1-2. the record, the request, the two kinds of confirmation, the staff approval: all through the API
    totp = totp_for(bob)
    for user, bot in ((alice, a_bot), (bob, b_bot)):
        criteria = api(user).get(f"/api/bots/{bot.pk}/promotion/").json()["criteria"]
        actual = {c["id"]: c["actual"] for c in criteria}
        assert [c["id"] for c in criteria if not c["passed"]] == [], criteria
        assert float(actual["paper_days"]) > 9 and int(actual["closed_trades"]) >= 25, actual
        r = api(user).post(f"/api/bots/{bot.pk}/promotion/", {"allocation": "500"}, format="json")
        assert r.status_code in (200, 201), r.content
    r = api(alice).post(f"/api/bots/{a_bot.pk}/promotion/confirm/", {"phrase": "I UNDERSTAND"}, format="json")
    assert r.status_code == 200, r.content
    assert api(bob).get(f"/api/bots/{b_bot.pk}/promotion/").json()["confirm_with"] == "totp"
    r = api(bob).post(f"/api/bots/{b_bot.pk}/promotion/confirm/", {"totp": totp.now()}, format="json")
    assert r.status_code == 200, r.content
    assert {Bot.objects.get(pk=b.pk).mode for b in paper_bots} == {"paper"}  # still waiting for staff
    pending = api(approver).get("/api/promotions/?status=pending_approval").json()
    pending = pending.get("results", pending) if isinstance(pending, dict) else pending
    assert sorted(p["bot_id"] for p in pending) == [a_bot.pk, b_bot.pk]
    for p in pending:
        r = api(approver).post(f"/api/promotions/{p['id']}/approve/", {"note": "record checked"}, format="json")
        assert r.status_code == 200, r.content
    for bot in paper_bots:
        fresh = Bot.objects.get(pk=bot.pk)
        assert (fresh.mode, fresh.status, fresh.quote, fresh.base) == ("live", "running", Decimal(500), 0)
    promotions = {p.bot_id: p for p in PromotionRequest.objects.filter(status="approved")}
    assert promotions[a_bot.pk].confirmed_with == "phrase" and promotions[b_bot.pk].confirmed_with == "totp"

    # 3. live: signed orders with our client ids in the emulator's own log; fills recorded and reconciled
    live_points_before = EquitySnapshot.objects.filter(bot__in=paper_bots).count()
    for _ in range(LIVE_POLLS):
        run_worker_tick(emu)
    live = Order.objects.filter(bot__in=paper_bots, created_at__gte=promotions[a_bot.pk].activated_at)
    received = emu.orders_received
    assert len(received) == live.count() >= 4
    assert all(o.signed and o.api_key == API_KEY and o.outcome == "accepted" for o in received)
    assert sorted(o.client_order_id for o in received) == sorted(live.values_list("client_id", flat=True))
    for bot in paper_bots:
        sides = set(live.filter(bot=bot).values_list("side", flat=True))
        assert sides == {"buy", "sell"}, f"bot {bot.pk} traded {sides} live"
    reconcile_live(force=True)
    for order in live:
        on_exchange = emu.orders(order.client_id)
        assert len(on_exchange) == 1  # exactly one exchange order per client id
        assert order.exchange_order_id == str(on_exchange[0]["orderId"])
        assert order.status == "filled" and on_exchange[0]["status"] == "FILLED"
        fills = Fill.objects.filter(order=order)
        assert fills.exists() and all(f.exchange_trade_id for f in fills)
        assert sum(f.amount for f in fills) == Decimal(on_exchange[0]["executedQty"])
    live_fills = Fill.objects.filter(bot__in=paper_bots).exclude(exchange_trade_id="")
    assert live_fills.count() == len(set(live_fills.values_list("bot_id", "exchange_trade_id")))

    # the live ticks wrote equity; performance is the live record, against the allocation
    assert EquitySnapshot.objects.filter(bot__in=paper_bots).count() >= live_points_before + 2 * LIVE_POLLS
    perf = api(alice).get(f"/api/bots/{a_bot.pk}/performance/").json()
    assert perf["starting_balance"] == "500" and perf["live_since"] is not None
    assert len(perf["equity_curve"]) == LIVE_POLLS
    a_live = Bot.objects.get(pk=a_bot.pk)
    assert Decimal(perf["position"]["base"]) == a_live.base and Decimal(perf["position"]["quote"]) == a_live.quote
    assert 1 <= perf["closed_trades"] < 25  # its live round trips, not the paper record's 31

    # 4. alice goes back to paper: her open live order is cancelled on the exchange first, the position kept.
    # (sma_cross sends market orders only; the open order is a limit buy placed through her bot's venue)
    open_order = resting(Bot.objects.get(pk=a_bot.pk), price="50", step=10_000)
    kept = Bot.objects.get(pk=a_bot.pk).base
    r = api(alice).post(f"/api/bots/{a_bot.pk}/demote/", {}, format="json")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["cancelled"] == [open_order.client_id] and body["not_cancelled"] == []
    assert Decimal(body["position_base"]) == kept and body["mode"] == "paper"
    assert emu.orders(open_order.client_id)[0]["status"] == "CANCELED"
    demoted = Bot.objects.get(pk=a_bot.pk)
    assert (demoted.mode, demoted.base) == ("paper", kept)
    assert PromotionRequest.objects.get(pk=promotions[a_bot.pk].pk).status == "demoted"
    assert Bot.objects.get(pk=b_bot.pk).mode == "live"  # bob's bot is not touched
