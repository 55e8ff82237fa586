"""The fast output path (config.api.FastOutput) renders exactly what DRF's own to_representation does."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from rest_framework import serializers

from accounts.models import User
from trading.api.serializers import BotOut, OrderOut, TradeOut
from trading.models import Bot, Fill, Order

WHEN = datetime(2026, 12, 3, 14, 5, 6, 789012, tzinfo=UTC)


def _both(serializer_class, instance) -> tuple[dict, dict]:
    fast = serializer_class(instance).data
    drf = serializers.Serializer.to_representation(serializer_class(instance), instance)
    return dict(fast), dict(drf)


@pytest.mark.django_db
def test_orders_trades_and_bots_render_the_same_as_drf(monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: WHEN + timedelta(minutes=3))
    user = User.objects.create_user(username="fast", password="fast-output-pw-1")
    bot = Bot.objects.create(owner=user, name="Fast ü", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                             params={"fast": 3, "slow": 8}, seed=7, starting_balance=Decimal("1000.000000000000000000"),
                             quote=Decimal("999.5"), base=Decimal("0.00012"), last_price=Decimal("30000.01"),
                             status="running", last_tick_at=WHEN, started_at=WHEN, fill_overrides={"fee": "0.001"})
    bot.refresh_from_db()
    orders = [
        Order.objects.create(bot=bot, client_id="a", side="buy", type="limit", amount=Decimal("0.001"),
                             price=Decimal("30000.5"), status="open", created_at=WHEN, updated_at=WHEN),
        Order.objects.create(bot=bot, client_id="b", side="sell", type="market", amount=Decimal("5E-18"),
                             status="filled", filled=Decimal("5E-18"), average_price=Decimal("1E+3"),
                             created_at=WHEN.replace(microsecond=0), updated_at=WHEN, closed_at=WHEN, tag="tp"),
    ]
    fill = Fill.objects.create(bot=bot, order=orders[1], side="sell", price=Decimal("1000"), amount=Decimal("5E-18"),
                               fee=Decimal("0"), fee_currency="USDT", liquidity="taker", ts=WHEN)
    for serializer_class, instance in [(BotOut, bot), (OrderOut, orders[0]), (OrderOut, orders[1]),
                                       (TradeOut, fill)]:
        instance.refresh_from_db()
        fast, drf = _both(serializer_class, instance)
        assert fast == drf, serializer_class.__name__
        assert list(fast) == list(drf)  # same keys in the same order
    assert OrderOut(orders[0]).data["created_at"] == "2026-12-03T14:05:06.789012Z"
    assert OrderOut(orders[1]).data["closed_at"] == "2026-12-03T14:05:06.789012Z"
    assert OrderOut(orders[0]).data["closed_at"] is None
    many = OrderOut(Order.objects.filter(bot=bot).order_by("id"), many=True).data
    assert [dict(o) for o in many] == [_both(OrderOut, o)[1] for o in Order.objects.filter(bot=bot).order_by("id")]


def test_a_dict_goes_through_drf_unchanged():
    data = {"id": 1, "order_id": 2, "side": "buy", "price": Decimal("1.50"), "amount": Decimal("2"),
            "fee": Decimal("0"), "fee_currency": "USDT", "slippage": Decimal("0"), "liquidity": "maker", "ts": WHEN,
            "fee_quote": None, "fee_note": "", "exchange_trade_id": "", "exchange_order_id": ""}
    assert TradeOut(data).data["price"] == "1.5"
    assert TradeOut(data).data["ts"] == "2026-12-03T14:05:06.789012Z"
