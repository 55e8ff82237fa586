"""Promotion eligibility as a pure function: plain data in, every criterion (required, actual, pass) out.

No Django here: the selector gathers a bot's paper record from the database, this decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

BREAKER_LOOKBACK_DAYS = 7
SECONDS_PER_DAY = Decimal(86400)


@dataclass(frozen=True)
class Rules:
    min_paper_days: int
    min_closed_trades: int
    min_win_rate_pct: Decimal
    min_profit_pct: Decimal
    breaker_lookback_days: int = BREAKER_LOOKBACK_DAYS


@dataclass(frozen=True)
class KeyInfo:
    label: str
    active: bool
    tested_ok: bool | None  # None: never tested


@dataclass(frozen=True)
class PaperRecord:
    now: datetime
    exchange: str
    paper_since: datetime | None  # the first paper fill; None while the bot never traded
    closed_trades: int
    win_rate_pct: Decimal | None  # None without a closed trade
    profit_pct: Decimal | None  # None while the bot cannot be valued (no price yet)
    breaker_halts: int  # circuit-breaker halts within the lookback window
    key: KeyInfo | None  # the best key the owner holds for the bot's exchange
    live_enabled: bool  # ENABLE_LIVE_TRADING


@dataclass(frozen=True)
class Criterion:
    id: str
    label: str
    required: str
    actual: str
    passed: bool


@dataclass(frozen=True)
class Eligibility:
    criteria: tuple[Criterion, ...]

    @property
    def eligible(self) -> bool:
        return all(c.passed for c in self.criteria)

    @property
    def failing(self) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if not c.passed)


def _plain(value: Decimal, places: str = "0.01") -> str:
    text = format(value.quantize(Decimal(places), rounding=ROUND_DOWN).normalize(), "f")
    return "0" if text in ("-0", "") else text


def paper_days(record: PaperRecord) -> Decimal:
    if record.paper_since is None:
        return Decimal(0)
    seconds = Decimal(str((record.now - record.paper_since).total_seconds()))
    return max(Decimal(0), seconds / SECONDS_PER_DAY)


def _key_actual(key: KeyInfo | None, exchange: str) -> tuple[str, bool]:
    if key is None:
        return f"no key for {exchange}", False
    if not key.active:
        return f"“{key.label}” is disabled", False
    if key.tested_ok is None:
        return f"“{key.label}” not tested yet", False
    if not key.tested_ok:
        return f"“{key.label}” failed its connection test", False
    return f"“{key.label}” passed its connection test", True


def evaluate(record: PaperRecord, rules: Rules) -> Eligibility:
    """Every criterion, in the order the page shows them; all must pass."""
    days = paper_days(record)
    criteria = [
        Criterion("paper_days", "Days on paper", f"≥ {rules.min_paper_days}", _plain(days, "0.1"),
                  days >= rules.min_paper_days),
        Criterion("closed_trades", "Closed trades", f"≥ {rules.min_closed_trades}", str(record.closed_trades),
                  record.closed_trades >= rules.min_closed_trades),
        Criterion("win_rate", "Win rate", f"≥ {_plain(rules.min_win_rate_pct)} %",
                  "—" if record.win_rate_pct is None else f"{_plain(record.win_rate_pct)} %",
                  record.win_rate_pct is not None and record.win_rate_pct >= rules.min_win_rate_pct),
        Criterion("profit", "Profit", f"≥ {_plain(rules.min_profit_pct)} %",
                  "—" if record.profit_pct is None else f"{_plain(record.profit_pct)} %",
                  record.profit_pct is not None and record.profit_pct >= rules.min_profit_pct),
        Criterion("no_breaker_halt", f"No circuit-breaker halt in the last {rules.breaker_lookback_days} days",
                  "0", str(record.breaker_halts), record.breaker_halts == 0),
    ]
    key_actual, key_ok = _key_actual(record.key, record.exchange)
    criteria.append(Criterion("exchange_key", f"A tested key for {record.exchange}", "passed its connection test",
                              key_actual, key_ok))
    criteria.append(Criterion("live_enabled", "Live trading switched on by the operator", "ENABLE_LIVE_TRADING on",
                              "on" if record.live_enabled else "off", record.live_enabled))
    return Eligibility(tuple(criteria))
