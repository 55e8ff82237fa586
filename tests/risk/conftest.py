"""Risk test helpers: bots with a paper wallet, a RiskState snapshot, tickers in the price store."""

import time
from decimal import Decimal

import pytest

from risk.checks import OrderProposal, RiskState


def create_bot(owner, *, name="bot", status="running", quote="1000", base="0", symbol="BTC/USDT", **extra):
    from trading.models import Bot

    return Bot.objects.create(owner=owner, name=name, exchange="binance", symbol=symbol, strategy="sma_cross",
                              params={"fast": 2, "slow": 3}, starting_balance=Decimal(quote), seed=7,
                              status=status, quote=Decimal(quote), base=Decimal(base), **extra)


@pytest.fixture
def make_bot(db):
    return create_bot


def calm_state(**overrides) -> RiskState:
    """A bot at 1000 quote equity, flat, nothing traded today."""
    values = {"equity": Decimal("1000"), "day_start_equity": Decimal("1000"), "peak_equity": Decimal("1000"),
              "position_value": Decimal("0"), "position_base": Decimal("0"), "now_ms": int(time.time() * 1000)}
    values.update(overrides)
    return RiskState(**values)


def buy(amount="0.001", price="20000") -> OrderProposal:
    return OrderProposal(side="buy", amount=Decimal(amount), price=Decimal(price))


def sell(amount="0.001", price="20000", **extra) -> OrderProposal:
    return OrderProposal(side="sell", amount=Decimal(amount), price=Decimal(price), **extra)


def put_ticker(exchange: str, symbol: str, price: str) -> None:
    """Store a fresh ticker the way the price poll does (bid/ask around `price`)."""
    from trading.feeds import Tick
    from trading.services.prices import _store

    p = Decimal(price)
    _store(exchange, [Tick(exchange=exchange, symbol=symbol, bid=p, ask=p * Decimal("1.0001"), last=p,
                           received_at=time.time(), source="replay")])
