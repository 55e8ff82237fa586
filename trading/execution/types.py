"""What goes to a venue and what comes back. Pure: frozen dataclasses, `Decimal` amounts and prices,
UTC timestamps as integer milliseconds, statuses from `trading.execution.states`.

Built for real exchanges as well as the paper one: an order may fill in several trades (partial
fills), a trade's fee may be in any currency (BNB, the base, the quote), and a submit whose answer is
lost gives an order in state `unknown` with no exchange id (look it up, never send it again).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from trading.engine.ids import ID_PATTERN

from .states import TERMINAL, OrderStatus

Side = Literal["buy", "sell"]
VenueOrderType = Literal["market", "limit"]
Liquidity = Literal["maker", "taker"]

ZERO = Decimal("0")


class InvalidRequest(ValueError):
    """An order request no venue would take; `field` names the culprit."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


def _positive(name: str, value: Decimal | None, *, required: bool) -> None:
    if value is None:
        if required:
            raise InvalidRequest(name, "is required")
        return
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise InvalidRequest(name, "must be a positive Decimal")


@dataclass(frozen=True)
class OrderRequest:
    """One order to place. Market: exactly one of `amount` (base) or `quote_amount` (quote to spend on a
    buy incl. fee / to receive on a sell). Limit: `amount` and `price`."""

    client_order_id: str
    symbol: str
    side: Side
    type: VenueOrderType
    amount: Decimal | None = None
    quote_amount: Decimal | None = None
    price: Decimal | None = None
    reason: str = ""

    def __post_init__(self):
        if not isinstance(self.client_order_id, str) or not ID_PATTERN.match(self.client_order_id):
            raise InvalidRequest("client_order_id", "must match ^[.A-Z:/a-z0-9_-]{1,36}$ (trading.engine.ids)")
        if not self.symbol:
            raise InvalidRequest("symbol", "is required")
        if self.side not in ("buy", "sell"):
            raise InvalidRequest("side", "must be buy or sell")
        if self.type == "market":
            if (self.amount is None) == (self.quote_amount is None):
                raise InvalidRequest("amount", "a market order needs exactly one of amount or quote_amount")
            _positive("amount", self.amount, required=False)
            _positive("quote_amount", self.quote_amount, required=False)
            if self.price is not None:
                raise InvalidRequest("price", "a market order has no price")
        elif self.type == "limit":
            _positive("amount", self.amount, required=True)
            _positive("price", self.price, required=True)
            if self.quote_amount is not None:
                raise InvalidRequest("quote_amount", "a limit order is sized by amount")
        else:
            raise InvalidRequest("type", "must be market or limit")


@dataclass(frozen=True)
class Fee:
    currency: str
    amount: Decimal


@dataclass(frozen=True)
class VenueTrade:
    """One execution (fill) of an order, as the venue reports it."""

    trade_id: str
    client_order_id: str | None  # None when the venue does not say (an order placed elsewhere)
    exchange_order_id: str | None
    symbol: str
    side: Side
    price: Decimal
    amount: Decimal  # base
    fees: tuple[Fee, ...]
    liquidity: Liquidity | None
    ts_ms: int
    slippage: Decimal = ZERO  # paper: how far the fill moved against the trader (0 from a real exchange)
    reference_price: Decimal | None = None  # paper: the price before slippage (None from a real exchange)

    @property
    def cost(self) -> Decimal:
        return self.price * self.amount


@dataclass(frozen=True)
class VenueOrder:
    """An order as the venue sees it now. `filled` is cumulative base; `fees` cumulative per currency.

    `exchange_order_id` is None while the venue has not answered (`new`) or the answer was lost
    (`unknown`). `code`/`message` say why an order was rejected or cancelled by the venue. `trades` are
    the fills reported with this answer (e.g. a market order's), not necessarily all of them: use
    `Venue.trades_since` for the complete record.
    """

    client_order_id: str
    exchange_order_id: str | None
    symbol: str
    side: Side
    type: VenueOrderType
    status: OrderStatus
    amount: Decimal | None  # base as placed; None for a market order sized in quote
    price: Decimal | None  # limit price; None for a market order
    filled: Decimal = ZERO
    average_price: Decimal | None = None
    fees: tuple[Fee, ...] = ()
    created_ms: int | None = None
    updated_ms: int | None = None
    code: str = ""
    message: str = ""
    trades: tuple[VenueTrade, ...] = ()

    @property
    def remaining(self) -> Decimal | None:
        return None if self.amount is None else self.amount - self.filled

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True)
class TradePage:
    """Trades after a cursor, oldest first, and the cursor to pass next time (opaque to the caller;
    unchanged when there was nothing new)."""

    trades: tuple[VenueTrade, ...]
    cursor: str | None
