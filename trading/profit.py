"""Profit across bots, as traders read it: realized profit of closed trades (net of fees) by the day
they closed (UTC), summed per day, ISO week or month, per pair, and laid out as a month calendar.

Plain Python: closed trades in, plain dicts out. Money of different quote currencies is never added
together: every sum is per quote currency.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

ZERO = Decimal(0)
PERIODS = ("day", "week", "month")


@dataclass(frozen=True)
class ClosedTrade:
    exchange: str
    symbol: str
    currency: str  # the quote currency the P&L is in
    bot_id: int
    closed_at: datetime  # timezone-aware UTC
    pnl: Decimal


def period_start(day: date, period: str) -> date:
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    if period == "month":
        return day.replace(day=1)
    raise ValueError(f"period must be one of {', '.join(PERIODS)}")


def _step_back(start: date, period: str) -> date:
    if period == "day":
        return start - timedelta(days=1)
    if period == "week":
        return start - timedelta(days=7)
    return (start - timedelta(days=1)).replace(day=1)


def _bucket() -> dict:
    return {"pnl": ZERO, "trades": 0, "wins": 0}


def _add(bucket: dict, pnl: Decimal) -> None:
    bucket["pnl"] += pnl
    bucket["trades"] += 1
    bucket["wins"] += pnl > 0


def _currencies(trades: list[ClosedTrade]) -> list[str]:
    return sorted({t.currency for t in trades})


def profit_by_period(trades: Iterable[ClosedTrade], *, period: str, today: date, count: int) -> list[dict]:
    """The last `count` periods up to today, newest first, every period present (zero when quiet):
    [{"start": date, "currency": str, "pnl", "trades", "wins"}], one row per period and currency."""
    trades = list(trades)
    currencies = _currencies(trades)
    starts = [period_start(today, period)]
    while len(starts) < count:
        starts.append(_step_back(starts[-1], period))
    sums = {(s, c): _bucket() for s in starts for c in currencies}
    for t in trades:
        key = (period_start(t.closed_at.date(), period), t.currency)
        if key in sums:
            _add(sums[key], t.pnl)
    return [{"start": s, "currency": c, **sums[(s, c)]} for s in starts for c in currencies]


def profit_by_pair(trades: Iterable[ClosedTrade]) -> list[dict]:
    """All-time profit per (exchange, symbol): pnl, trades, wins, win rate, bots; best first."""
    rows: dict[tuple[str, str], dict] = {}
    for t in trades:
        row = rows.setdefault((t.exchange, t.symbol), {"exchange": t.exchange, "symbol": t.symbol,
                                                       "currency": t.currency, "bots": set(), **_bucket()})
        _add(row, t.pnl)
        row["bots"].add(t.bot_id)
    out = []
    for row in rows.values():
        row["bots"] = len(row["bots"])
        row["win_rate"] = Decimal(row["wins"]) / row["trades"] * 100 if row["trades"] else None
        out.append(row)
    return sorted(out, key=lambda r: (r["currency"], -r["pnl"], r["exchange"], r["symbol"]))


def profit_totals(trades: Iterable[ClosedTrade], *, today: date) -> list[dict]:
    """Per currency: today, this week, this month and all time."""
    trades = list(trades)
    out = []
    for c in _currencies(trades):
        mine = [t for t in trades if t.currency == c]
        row = {"currency": c}
        for name, period in (("today", "day"), ("this_week", "week"), ("this_month", "month")):
            start = period_start(today, period)
            row[name] = sum((t.pnl for t in mine if t.closed_at.date() >= start), ZERO)
        row["all_time"] = sum((t.pnl for t in mine), ZERO)
        row["trades"] = len(mine)
        out.append(row)
    return out


def profit_calendar(trades: Iterable[ClosedTrade], *, year: int, month: int) -> dict:
    """A month as weeks of 7 days (Monday first; None outside the month), each day with its profit per
    currency: {"year", "month", "weeks": [[{"date", "pnl": {cur: D}, "trades"} | None]], "totals"}."""
    trades = list(trades)
    first = date(year, month, 1)
    days_in = calendar.monthrange(year, month)[1]
    per_day: dict[date, dict] = {first + timedelta(days=i): {"pnl": {}, "trades": 0} for i in range(days_in)}
    totals: dict[str, Decimal] = {}
    for t in trades:
        d = t.closed_at.date()
        if d in per_day:
            cell = per_day[d]
            cell["pnl"][t.currency] = cell["pnl"].get(t.currency, ZERO) + t.pnl
            cell["trades"] += 1
            totals[t.currency] = totals.get(t.currency, ZERO) + t.pnl
    weeks, week = [], [None] * first.weekday()
    for d in sorted(per_day):
        week.append({"date": d, **per_day[d]})
        if len(week) == 7:
            weeks.append(week)
            week = []
    if week:
        weeks.append(week + [None] * (7 - len(week)))
    return {"year": year, "month": month, "weeks": weeks, "totals": dict(sorted(totals.items()))}
