"""Promotion eligibility is a pure function: no database, plain data in, every criterion out."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from trading.promotion.eligibility import KeyInfo, PaperRecord, Rules, evaluate

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
DEFAULTS = Rules(min_paper_days=7, min_closed_trades=25, min_win_rate_pct=Decimal("52"), min_profit_pct=Decimal("3"))


def record(**overrides) -> PaperRecord:
    values = {"now": NOW, "exchange": "binance", "paper_since": NOW - timedelta(days=8), "closed_trades": 30,
              "win_rate_pct": Decimal("60"), "profit_pct": Decimal("4.5"), "breaker_halts": 0,
              "key": KeyInfo(label="main", active=True, tested_ok=True), "live_enabled": True}
    values.update(overrides)
    return PaperRecord(**values)


def by_id(result) -> dict:
    return {c.id: c for c in result.criteria}


def test_a_record_that_meets_every_default_is_eligible():
    result = evaluate(record(), DEFAULTS)
    assert result.eligible
    assert [c.id for c in result.criteria] == ["paper_days", "closed_trades", "win_rate", "profit",
                                                "no_breaker_halt", "exchange_key", "live_enabled"]
    days = by_id(result)["paper_days"]
    assert (days.required, days.actual, days.passed) == ("≥ 7", "8", True)


def test_it_lists_every_failing_criterion_with_required_and_actual():
    result = evaluate(record(paper_since=NOW - timedelta(days=6, hours=12), closed_trades=24,
                             win_rate_pct=Decimal("51.99"), profit_pct=Decimal("2.999"), breaker_halts=1,
                             key=None, live_enabled=False), DEFAULTS)
    assert not result.eligible
    failing = {c.id: (c.required, c.actual) for c in result.failing}
    assert failing == {
        "paper_days": ("≥ 7", "6.5"), "closed_trades": ("≥ 25", "24"), "win_rate": ("≥ 52 %", "51.99 %"),
        "profit": ("≥ 3 %", "2.99 %"), "no_breaker_halt": ("0", "1"),
        "exchange_key": ("passed its connection test", "no key for binance"), "live_enabled": ("ENABLE_LIVE_TRADING on", "off"),
    }


def test_the_thresholds_are_inclusive():
    result = evaluate(record(paper_since=NOW - timedelta(days=7), closed_trades=25, win_rate_pct=Decimal("52"),
                             profit_pct=Decimal("3")), DEFAULTS)
    assert result.eligible


def test_a_bot_that_never_traded_or_cannot_be_valued_fails_clearly():
    result = by_id(evaluate(record(paper_since=None, closed_trades=0, win_rate_pct=None, profit_pct=None), DEFAULTS))
    assert (result["paper_days"].actual, result["paper_days"].passed) == ("0", False)
    assert (result["win_rate"].actual, result["win_rate"].passed) == ("—", False)
    assert (result["profit"].actual, result["profit"].passed) == ("—", False)


def test_a_key_must_be_active_and_have_passed_its_test():
    for key, actual in [(KeyInfo("main", True, None), "“main” not tested yet"),
                        (KeyInfo("main", True, False), "“main” failed its connection test"),
                        (KeyInfo("main", False, True), "“main” is disabled")]:
        crit = by_id(evaluate(record(key=key), DEFAULTS))["exchange_key"]
        assert (crit.actual, crit.passed) == (actual, False)


def test_the_platform_policy_changes_the_bar():
    lenient = Rules(min_paper_days=1, min_closed_trades=2, min_win_rate_pct=Decimal("0"), min_profit_pct=Decimal("-5"))
    assert evaluate(record(paper_since=NOW - timedelta(days=2), closed_trades=2, win_rate_pct=Decimal("0"),
                           profit_pct=Decimal("-1")), lenient).eligible
    assert not evaluate(record(closed_trades=2), DEFAULTS).eligible


def test_the_module_needs_no_django():
    import subprocess
    import sys

    code = ("import sys; import trading.promotion.eligibility; "
            "sys.exit(1 if any(m == 'django' or m.startswith('django.') for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
