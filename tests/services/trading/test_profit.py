"""Profit across bots: realized profit of closed trades by the (UTC) day they closed, per day / ISO week /
month, per pair, as a month calendar; never adding up different quote currencies. Pure aggregation
first (no database), then the selector over real fills and GET /api/profit/ (+ calendar/)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from trading.profit import ClosedTrade, profit_by_pair, profit_by_period, profit_calendar, profit_totals

D = Decimal


def _t(day: str, pnl: str, symbol="BTC/USDT", bot=1, hour=12):
    return ClosedTrade(exchange="binance", symbol=symbol, currency=symbol.split("/")[1], bot_id=bot,
                       closed_at=datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC), pnl=D(pnl))


TRADES = [_t("2026-11-29", "10"), _t("2026-11-30", "-4"), _t("2026-12-01", "7.5"), _t("2026-12-03", "2"),
          _t("2026-12-03", "1", bot=2), _t("2026-12-02", "0.001", symbol="ETH/BTC", bot=3)]
TODAY = date(2026, 12, 3)  # a Thursday


def test_days_are_all_there_newest_first_and_zero_when_quiet():
    rows = profit_by_period([t for t in TRADES if t.currency == "USDT"], period="day", today=TODAY, count=6)
    assert [(r["start"].isoformat(), r["pnl"], r["trades"]) for r in rows] == [
        ("2026-12-03", D("3"), 2), ("2026-12-02", D("0"), 0), ("2026-12-01", D("7.5"), 1),
        ("2026-11-30", D("-4"), 1), ("2026-11-29", D("10"), 1), ("2026-11-28", D("0"), 0)]


def test_weeks_start_on_monday_and_months_on_the_first():
    usdt = [t for t in TRADES if t.currency == "USDT"]
    weeks = profit_by_period(usdt, period="week", today=TODAY, count=2)
    assert [(r["start"].isoformat(), r["pnl"]) for r in weeks] == [("2026-11-30", D("6.5")), ("2026-11-23", D("10"))]
    months = profit_by_period(usdt, period="month", today=TODAY, count=2)
    assert [(r["start"].isoformat(), r["pnl"]) for r in months] == [("2026-12-01", D("10.5")), ("2026-11-01", D("6"))]


def test_currencies_are_never_added_together():
    totals = {t["currency"]: t for t in profit_totals(TRADES, today=TODAY)}
    assert totals["USDT"]["all_time"] == D("16.5") and totals["BTC"]["all_time"] == D("0.001")
    assert (totals["USDT"]["today"], totals["USDT"]["this_week"], totals["USDT"]["this_month"]) == (
        D("3"), D("6.5"), D("10.5"))
    rows = profit_by_period(TRADES, period="day", today=TODAY, count=2)
    assert {(r["start"].isoformat(), r["currency"]): r["pnl"] for r in rows}[("2026-12-02", "BTC")] == D("0.001")


def test_pairs_sum_their_trades_with_win_rate_and_bots():
    pairs = {p["symbol"]: p for p in profit_by_pair(TRADES)}
    btc = pairs["BTC/USDT"]
    assert (btc["pnl"], btc["trades"], btc["wins"], btc["bots"]) == (D("16.5"), 5, 4, 2)
    assert btc["win_rate"] == D(80)


def test_the_calendar_lays_the_month_out_in_weeks_from_monday():
    cal = profit_calendar(TRADES, year=2026, month=12)
    assert len(cal["weeks"]) == 5 and all(len(w) == 7 for w in cal["weeks"])
    first_week = cal["weeks"][0]
    assert first_week[0] is None and first_week[1]["date"] == date(2026, 12, 1)  # 1 December 2026 is a Tuesday
    third = next(d for d in first_week if d and d["date"] == date(2026, 12, 3))
    assert third["pnl"] == {"USDT": D("3")} and third["trades"] == 2
    assert cal["totals"] == {"BTC": D("0.001"), "USDT": D("10.5")}


# --- over real fills, and the API -------------------------------------------------------------

@pytest.fixture
def two_bots(alice, bob):
    from trading.models import Fill, Order
    from trading.services.bots import bot_archive, bot_create

    def bot(owner, name, symbol):
        return bot_create(owner=owner, name=name, exchange="binance", symbol=symbol, strategy="sma_cross",
                          params={"fast": 3, "slow": 8}, starting_balance=D("1000"))

    def trip(b, buy, sell, amount, closed_at):
        for side, price, at in (("buy", buy, closed_at - timedelta(hours=1)), ("sell", sell, closed_at)):
            order = Order.objects.create(bot=b, client_id=f"{side}:{at.timestamp()}", side=side, type="market",
                                         amount=D(amount), status="filled", filled=D(amount))
            Fill.objects.create(bot=b, order=order, side=side, price=D(price), amount=D(amount), fee=D("0"),
                                fee_currency="USDT", liquidity="taker", ts=at)

    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    a1, a2 = bot(alice, "one", "BTC/USDT"), bot(alice, "two", "ETH/USDT")
    trip(a1, "100", "110", "1", now)
    trip(a2, "50", "45", "2", now - timedelta(days=1))
    gone = bot(alice, "deleted", "BTC/USDT")
    trip(gone, "100", "103", "1", now)
    bot_archive(bot=gone, actor=alice)
    trip(bot(bob, "bobs", "BTC/USDT"), "100", "200", "1", now)  # never in alice's numbers
    return now


@pytest.mark.django_db
def test_the_profit_api_sums_alices_closed_trades_only(api, alice, two_bots):
    body = api(alice).get("/api/profit/").json()
    (usdt,) = body["totals"]
    assert usdt["currency"] == "USDT" and usdt["today"] == "13" and usdt["trades"] == 3
    assert usdt["all_time"] == "3"  # +10, -10 yesterday, +3 on a deleted bot
    assert body["periods"][0]["pnl"] == "13" and len(body["periods"]) == 30
    pairs = {p["symbol"]: p for p in body["pairs"]}
    assert pairs["BTC/USDT"]["pnl"] == "13" and pairs["BTC/USDT"]["bots"] == 2 and pairs["ETH/USDT"]["pnl"] == "-10"
    weekly = api(alice).get("/api/profit/", {"period": "week", "count": "4"}).json()
    assert weekly["period"] == "week" and len(weekly["periods"]) == 4
    assert api(alice).get("/api/profit/", {"period": "year"}).status_code == 400


@pytest.mark.django_db
def test_the_calendar_api_answers_a_month_of_days(api, alice, two_bots):
    month = two_bots.strftime("%Y-%m")
    body = api(alice).get("/api/profit/calendar/", {"month": month}).json()
    days = {d["date"]: d for d in body["days"]}
    assert days[two_bots.date().isoformat()]["pnl"] == {"USDT": "13"}
    assert body["totals"]["USDT"] in ("3", "13")  # yesterday may be last month
    assert api(alice).get("/api/profit/calendar/", {"month": "2026-13"}).status_code == 400
    assert api(alice).get("/api/profit/calendar/").status_code == 200
