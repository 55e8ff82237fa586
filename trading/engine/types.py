"""The paper-trading engine's value types: frozen dataclasses, `Decimal` money, no Django.

Conventions used everywhere in `trading.engine`:
- Spot only, long or flat. A `Wallet` holds `base` and `quote` totals; resting orders lock part
  of them (`base_reserved` / `quote_reserved`), and only the free part may be spent.
- Fees are always charged in the QUOTE currency (a buy pays `price*amount + fee` quote, a sell
  receives `price*amount - fee` quote). The base leg is never shaved, so positions stay on the
  exchange's amount grid.
- `Fill.slippage` is the relative price move against the trader versus the reference price
  (the best bid/ask, or the next candle's open): 0.0015 means the fill was 0.15 % worse.
- Every validation problem a user can cause raises `ParamError(fields)`, a `ValueError` whose
  `fields` maps a parameter name to a readable message (the API turns it into a 400).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit", "cancel"]
Liquidity = Literal["maker", "taker"]

ZERO = Decimal("0")


class ParamError(ValueError):
    """Bad user-supplied parameters; `fields` = {name: message}."""

    def __init__(self, fields: Mapping[str, str]):
        self.fields = dict(fields)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.fields.items()) or "invalid parameters")


def to_decimal(value: Any, name: str = "value") -> Decimal:
    """A finite Decimal from an int, Decimal or numeric string (floats via their repr); else ParamError."""
    if isinstance(value, bool) or value is None:
        raise ParamError({name: "must be a number"})
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int | float | str):
        try:
            number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
        except (InvalidOperation, ValueError):
            raise ParamError({name: "must be a number"}) from None
    else:
        raise ParamError({name: "must be a number"})
    if not number.is_finite():
        raise ParamError({name: "must be a finite number"})
    return number


@dataclass(frozen=True)
class Bar:
    """One closed OHLCV candle (the engine's market data; feeds build them, the engine decides on them)."""

    ts_ms: int  # open time, UTC ms
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal  # base; 0 = unknown (candles built from polled tickers)


@dataclass(frozen=True)
class MarketRules:
    """What the exchange enforces for one market (ccxt `market["precision"]`/`["limits"]`, fees).

    None = unknown: no rounding / no minimum; fees fall back to `FillConfig.fallback_fee`.
    """

    amount_step: Decimal | None = None
    price_step: Decimal | None = None
    min_amount: Decimal | None = None
    min_cost: Decimal | None = None
    maker_fee: Decimal | None = None
    taker_fee: Decimal | None = None
    base_currency: str = ""
    quote_currency: str = ""


@dataclass(frozen=True)
class FillConfig:
    """The paper fill engine's knobs: platform defaults, per-bot overrides via `from_overrides`."""

    slippage_min: Decimal = Decimal("0.001")  # 0.1 %
    slippage_max: Decimal = Decimal("0.002")  # 0.2 %
    reject_rate: Decimal = Decimal("0.03")  # ~3 % of orders rejected (seeded)
    fallback_fee: Decimal = Decimal("0.001")  # 0.1 % when the market's fee is unknown
    max_book_levels: int = 20  # a market order walks at most this many levels...
    max_book_slippage_pct: Decimal = Decimal("2")  # ...and never further than this % from the best price
    limit_volume_share: Decimal = Decimal("1")  # share of the volume traded through a limit we may take

    _BOUNDS = {  # name: (min, max); checked by from_overrides
        "slippage_min": (Decimal("0"), Decimal("0.1")),
        "slippage_max": (Decimal("0"), Decimal("0.1")),
        "reject_rate": (Decimal("0"), Decimal("1")),
        "fallback_fee": (Decimal("0"), Decimal("0.1")),
        "max_book_levels": (1, 1000),
        "max_book_slippage_pct": (Decimal("0"), Decimal("100")),
        "limit_volume_share": (Decimal("0"), Decimal("1")),
    }

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, Any] | None, base: FillConfig | None = None) -> FillConfig:
        """`base` (default: the defaults) with per-bot overrides applied; unknown or bad values -> ParamError."""
        base = base or cls()
        if not overrides:
            return base
        if not isinstance(overrides, Mapping):
            raise ParamError({"fill_config": "must be an object"})
        errors: dict[str, str] = {}
        values: dict[str, Any] = {}
        names = {f.name for f in fields(cls)}
        for name, raw in overrides.items():
            if name not in names:
                errors[str(name)] = f"unknown setting (allowed: {', '.join(sorted(names))})"
                continue
            low, high = cls._BOUNDS[name]
            try:
                if name == "max_book_levels":
                    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).strip().isdigit():
                        raise ParamError({name: "must be a whole number"})
                    value: Any = int(raw)
                else:
                    value = to_decimal(raw, name)
            except ParamError as exc:
                errors.update(exc.fields)
                continue
            if not low <= value <= high:
                errors[name] = f"must be between {low} and {high}"
                continue
            values[name] = value
        cfg = replace(base, **values) if values else base
        if "slippage_min" not in errors and "slippage_max" not in errors and cfg.slippage_min > cfg.slippage_max:
            errors["slippage_min"] = "must not be greater than slippage_max"
        if errors:
            raise ParamError(errors)
        return cfg

    def to_json(self) -> dict:
        return {f.name: (getattr(self, f.name) if f.name == "max_book_levels" else str(getattr(self, f.name)))
                for f in fields(self)}


@dataclass(frozen=True)
class Quote:
    bid: Decimal
    ask: Decimal
    last: Decimal
    ts_ms: int | None = None


@dataclass(frozen=True)
class Book:
    """Order book snapshot: bids best (highest) first, asks best (lowest) first; (price, amount)."""

    bids: Sequence[tuple[Decimal, Decimal]]
    asks: Sequence[tuple[Decimal, Decimal]]
    ts_ms: int | None = None


@dataclass(frozen=True)
class Market:
    """What the engine may fill against right now. Priority: book, then next_open, then quote."""

    quote: Quote | None = None
    book: Book | None = None
    next_open: Decimal | None = None  # candle data: the open of the bar after the last closed one
    ts_ms: int | None = None


@dataclass(frozen=True)
class Wallet:
    """Paper spot balances. `base`/`quote` are totals; the reserved parts back resting orders."""

    base: Decimal = ZERO
    quote: Decimal = ZERO
    base_reserved: Decimal = ZERO
    quote_reserved: Decimal = ZERO

    @property
    def free_base(self) -> Decimal:
        return self.base - self.base_reserved

    @property
    def free_quote(self) -> Decimal:
        return self.quote - self.quote_reserved

    def to_json(self) -> dict:
        return {"base": str(self.base), "quote": str(self.quote), "base_reserved": str(self.base_reserved),
                "quote_reserved": str(self.quote_reserved)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Wallet:
        return cls(**{k: Decimal(str(data.get(k, "0"))) for k in ("base", "quote", "base_reserved",
                                                                  "quote_reserved")})


@dataclass(frozen=True)
class Intent:
    """What a strategy wants. Market: `amount` (base) or `quote_amount` (quote to spend incl. fee on a
    buy / to receive on a sell). Limit: `amount` + `price`. Cancel: `order_id` of a resting order."""

    side: Side
    type: OrderType
    amount: Decimal | None = None
    quote_amount: Decimal | None = None
    price: Decimal | None = None
    reason: str = ""
    client_tag: str | None = None
    order_id: str | None = None  # type == "cancel" only


@dataclass(frozen=True)
class PlannedOrder:
    """One intent of a decision step with its client order id (`trading.engine.ids`): `n` is its place
    in the step, so a retry of the same decision names the same order the same way."""

    n: int
    client_order_id: str
    intent: Intent


@dataclass(frozen=True)
class Plan:
    """A strategy's decision (`runner.plan`): the orders to send, in order, and the state to persist once
    they are handled. `evaluated` is False when there was no new closed candle (nothing to decide)."""

    orders: tuple[PlannedOrder, ...] = ()
    state: dict = field(default_factory=dict)
    evaluated: bool = True


@dataclass(frozen=True)
class Fill:
    side: Side
    price: Decimal
    amount: Decimal  # base
    fee: Decimal  # in fee_currency (always the quote currency)
    fee_currency: str
    slippage: Decimal  # relative, against the trader, vs reference_price
    liquidity: Liquidity
    ts_ms: int | None
    order_id: str | None = None  # its order's client order id (trading.engine.ids)
    reference_price: Decimal | None = None
    reason: str = ""
    client_tag: str | None = None
    limit_price: Decimal | None = None  # the taker part of a marketable limit order: its limit

    @property
    def cost(self) -> Decimal:
        return self.price * self.amount

    def to_json(self) -> dict:
        return {"side": self.side, "price": str(self.price), "amount": str(self.amount), "fee": str(self.fee),
                "fee_currency": self.fee_currency, "slippage": str(self.slippage), "liquidity": self.liquidity,
                "ts_ms": self.ts_ms, "order_id": self.order_id,
                "reference_price": None if self.reference_price is None else str(self.reference_price),
                "reason": self.reason, "client_tag": self.client_tag,
                "limit_price": None if self.limit_price is None else str(self.limit_price)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Fill:
        ref, limit = d.get("reference_price"), d.get("limit_price")
        return cls(side=d["side"], price=Decimal(str(d["price"])), amount=Decimal(str(d["amount"])),
                   fee=Decimal(str(d["fee"])), fee_currency=d["fee_currency"], slippage=Decimal(str(d["slippage"])),
                   liquidity=d["liquidity"], ts_ms=d.get("ts_ms"), order_id=d.get("order_id"),
                   reference_price=None if ref is None else Decimal(str(ref)), reason=d.get("reason", ""),
                   client_tag=d.get("client_tag"), limit_price=None if limit is None else Decimal(str(limit)))


@dataclass(frozen=True)
class Reject:
    """A refused order. Codes: exchange_rejected (seeded ~reject_rate), insufficient_funds, min_amount,
    min_cost, no_price, insufficient_liquidity, invalid_order, unknown_order, and risk codes from
    risk.checks (kill_switch, max_position, ...) when a gate refuses."""

    code: str
    message: str
    order_id: str | None = None
    intent: Intent | None = None

    def to_json(self) -> dict:
        i = self.intent
        return {"code": self.code, "message": self.message, "order_id": self.order_id,
                "side": i.side if i else None, "type": i.type if i else None,
                "reason": i.reason if i else "", "client_tag": i.client_tag if i else None}


@dataclass(frozen=True)
class RestingOrder:
    """A limit order resting on the (paper) book. It may fill only against bars with ts_ms >= after_ms."""

    id: str
    side: Side
    price: Decimal
    amount: Decimal  # original base amount
    filled: Decimal = ZERO
    fee_rate: Decimal = ZERO  # maker fee locked in at placement (reservation = price*remaining*(1+fee_rate))
    created_ms: int | None = None
    after_ms: int = 0
    reason: str = ""
    client_tag: str | None = None

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled

    def to_json(self) -> dict:
        return {"id": self.id, "side": self.side, "price": str(self.price), "amount": str(self.amount),
                "filled": str(self.filled), "fee_rate": str(self.fee_rate), "created_ms": self.created_ms,
                "after_ms": self.after_ms, "reason": self.reason, "client_tag": self.client_tag}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RestingOrder:
        return cls(id=str(d["id"]), side=d["side"], price=Decimal(str(d["price"])),
                   amount=Decimal(str(d["amount"])), filled=Decimal(str(d.get("filled", "0"))),
                   fee_rate=Decimal(str(d.get("fee_rate", "0"))), created_ms=d.get("created_ms"),
                   after_ms=int(d.get("after_ms") or 0), reason=d.get("reason", ""),
                   client_tag=d.get("client_tag"))


@dataclass(frozen=True)
class StepResult:
    """One evaluation's outcome. The caller persists `state` (opaque, JSON-safe), the wallet, the fills,
    the rejects (as rejected orders), `new_orders` (placed this step and still resting), `cancelled`
    (ids), and replaces its open orders with `open_orders`."""

    fills: list[Fill] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    new_orders: list[RestingOrder] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    state: dict = field(default_factory=dict)
    wallet: Wallet = field(default_factory=Wallet)
    open_orders: list[RestingOrder] = field(default_factory=list)
    evaluated: bool = True  # False when there was no new closed bar (nothing to do)
