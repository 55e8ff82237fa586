"""The venue seam: the one protocol every place an order can go to implements (paper now, ccxt later).

Contract, for every implementation:
- `submit` is idempotent per client order id: a second submit of an id the venue knows returns that
  order as it is now and never places a second one (a retry of the same decision is safe).
- A submit whose answer is lost (timeout, connection reset) returns a `VenueOrder` with status
  `unknown` and no exchange id; the caller must `fetch_order` it by client order id, never resend it.
- A refusal by the venue is an order with status `rejected` (and `code`/`message`), not an exception.
  Exceptions (`VenueError` and subclasses) are for calls that could not be made or make no sense.
- `cancel` returns the order as it is after the cancel; an order already filled/cancelled/rejected is
  returned unchanged (read its status); an order the venue does not know raises `OrderNotFound`.
- `trades_since(cursor)` returns the trades after the cursor, oldest first, and the next cursor; a
  caller that stores the cursor sees every trade exactly once.
- Amounts and prices are `Decimal`, timestamps UTC milliseconds, statuses from `states.py`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .types import OrderRequest, TradePage, VenueOrder


class VenueError(Exception):
    """A venue call that could not be made or makes no sense (the order's fate is then unchanged)."""

    code = "venue_error"


class OrderNotFound(VenueError):
    code = "order_not_found"


class UnknownSymbol(VenueError):
    code = "unknown_symbol"


@runtime_checkable
class Venue(Protocol):
    def submit(self, request: OrderRequest) -> VenueOrder:
        """Place an order (see the module's contract: idempotent per client order id)."""
        ...

    def cancel(self, *, symbol: str, client_order_id: str | None = None,
               exchange_order_id: str | None = None) -> VenueOrder:
        """Cancel an order named by either id; returns it as it is after the cancel."""
        ...

    def fetch_order(self, *, symbol: str, client_order_id: str | None = None,
                    exchange_order_id: str | None = None) -> VenueOrder | None:
        """One order by either id, or None if the venue has never seen it."""
        ...

    def open_orders(self, *, symbol: str | None = None) -> list[VenueOrder]:
        """Orders that may still fill (open, partially filled), oldest first."""
        ...

    def trades_since(self, *, symbol: str, cursor: str | None = None, limit: int = 500) -> TradePage:
        """Trades after `cursor` (None: from the start), oldest first, at most `limit`."""
        ...
