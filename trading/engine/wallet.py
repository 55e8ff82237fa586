"""Paper wallet arithmetic: apply a fill, value the wallet, lock funds for resting orders. Pure.

Fees are in the quote currency: a buy costs `price*amount + fee` quote and adds `amount` base; a
sell removes `amount` base and adds `price*amount - fee` quote.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal

from .types import ZERO, Fill, RestingOrder, Wallet

ONE = Decimal("1")


class WalletError(ValueError):
    """A fill that the wallet cannot pay for: the engine never produces one, so this is a bug guard."""


def apply(wallet: Wallet, fill: Fill, *, from_order: RestingOrder | None = None) -> Wallet:
    """The wallet after `fill`. With `from_order` (the resting order it filled), the fill's share of
    that order's reservation is released first, so the fill is paid from the locked funds."""
    if from_order is not None:
        wallet = release(wallet, from_order, fill.amount)
    cost = fill.price * fill.amount
    if fill.side == "buy":
        base, quote = wallet.base + fill.amount, wallet.quote - cost - fill.fee
    else:
        base, quote = wallet.base - fill.amount, wallet.quote + cost - fill.fee
    if base < 0 or quote < 0:
        raise WalletError(f"fill would leave the wallet negative (base {base}, quote {quote})")
    return replace(wallet, base=base, quote=quote)


def reservation(order: RestingOrder) -> tuple[Decimal, Decimal]:
    """(base, quote) locked by a resting order: a sell locks its base, a buy its cost plus maker fee."""
    if order.side == "sell":
        return order.remaining, ZERO
    return ZERO, order.price * order.remaining * (ONE + order.fee_rate)


def equity(wallet: Wallet, last: Decimal) -> Decimal:
    """Mark-to-market value in quote: `quote + base * last` (reservations are still the wallet's money)."""
    return wallet.quote + wallet.base * last


def reserve(wallet: Wallet, order: RestingOrder) -> Wallet:
    base, quote = reservation(order)
    return replace(wallet, base_reserved=wallet.base_reserved + base, quote_reserved=wallet.quote_reserved + quote)


def release(wallet: Wallet, order: RestingOrder, amount: Decimal | None = None) -> Wallet:
    """Unlock the reservation for `amount` of the order's remaining base (all of it by default)."""
    amount = order.remaining if amount is None else min(amount, order.remaining)
    part = replace(order, amount=amount, filled=ZERO)
    base, quote = reservation(part)
    return replace(wallet, base_reserved=max(ZERO, wallet.base_reserved - base),
                   quote_reserved=max(ZERO, wallet.quote_reserved - quote))


def with_reservations(wallet: Wallet, open_orders: Iterable[RestingOrder]) -> Wallet:
    """The wallet with its reservations recomputed from the open orders (the source of truth)."""
    base_r, quote_r = ZERO, ZERO
    for order in open_orders:
        b, q = reservation(order)
        base_r += b
        quote_r += q
    return replace(wallet, base_reserved=base_r, quote_reserved=quote_r)
