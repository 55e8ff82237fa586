"""GET /api/strategies/: the registry's ids and parameter schemas."""

import pytest

pytestmark = pytest.mark.django_db


def test_lists_every_strategy_with_its_parameters(api, alice):
    r = api(alice).get("/api/strategies/")
    assert r.status_code == 200
    by_id = {s["id"]: s for s in r.json()}
    assert {k: [p["name"] for p in v["params"]] for k, v in by_id.items()} == {
        "sma_cross": ["fast", "slow", "size_pct", "stop_loss_pct", "take_profit_pct", "trailing_stop_pct"],
        "rsi": ["period", "oversold", "overbought", "size_pct", "stop_loss_pct", "take_profit_pct",
                "trailing_stop_pct"],
        "grid": ["lower", "upper", "levels", "order_amount"],
        "dca": ["interval_minutes", "order_amount", "take_profit_pct", "safety_step_pct", "safety_volume_scale",
                "safety_max_count"],
    }
    fast = by_id["sma_cross"]["params"][0]
    assert fast["type"] == "int" and fast["default"] == 10 and fast["min"] == 1 and fast["required"] is False
    order_amount = next(p for p in by_id["dca"]["params"] if p["name"] == "order_amount")
    assert order_amount["required"] is True and order_amount["type"] == "decimal"
    assert all(s["description"] for s in by_id.values())


def test_needs_a_signed_in_user(anon):
    assert anon.get("/api/strategies/").status_code == 401
