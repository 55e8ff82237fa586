"""Strategy base class, parameter validation and the context a strategy decides on. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from ..fills import check_minimums, quantize_amount
from ..types import ZERO, Bar, Fill, Intent, MarketRules, ParamError, RestingOrder, Wallet, to_decimal

__all__ = ["ParamError", "Strategy", "StrategyContext"]

MAX_PLACES = 18  # what a Decimal(38, 18) column keeps; also keeps Decimal arithmetic far from overflow
BIG = "1000000000000"  # upper bound for prices and amounts (1e12)


@dataclass
class StrategyContext:
    closed_bars: Sequence[Bar]  # oldest first; the last one is the newest CLOSED candle
    now_ms: int  # the newest closed candle's open time (data time, so replays decide identically)
    wallet: Wallet
    position_avg_price: Decimal | None  # average entry price of the current position (fees excluded)
    open_orders: Sequence[RestingOrder]
    last_price: Decimal  # the newest closed candle's close
    state: dict  # the strategy's own JSON-safe memory; mutate it, the caller persists it
    rules: MarketRules = field(default_factory=MarketRules)
    fills: Sequence[Fill] = ()  # this bot's fills since the previous decision

    def sellable_base(self) -> Decimal:
        """Free base that can actually be sold (on the amount grid and above the market minimums); else 0."""
        amount = quantize_amount(self.wallet.free_base, self.rules)
        if amount <= 0 or check_minimums(amount, self.last_price, self.rules) is not None:
            return ZERO
        return amount

    def in_position(self) -> bool:
        return self.sellable_base() > 0


class Strategy:
    """Subclasses set `id`, `name`, `description`, `params_schema` and implement `decide`.

    `params_schema`: name -> {"type": "int"|"decimal", "min", "max", "default" (absent = required),
    "min_exclusive": bool, "description"}. Decimal bounds/defaults are strings (JSON-safe).
    """

    id: ClassVar[str]
    name: ClassVar[str]
    description: ClassVar[str]
    params_schema: ClassVar[dict[str, dict[str, Any]]]

    def __init__(self, params: Mapping[str, Any] | None = None):
        self.params = self.validate_params(params or {})

    # --- parameters ---------------------------------------------------------------
    @classmethod
    def validate_params(cls, params: Mapping[str, Any]) -> dict:
        """Defaults filled in, types checked, bounds and cross-field rules enforced.

        Returns a JSON-safe dict (ints as int, decimals as canonical strings); raises ParamError.
        """
        if not isinstance(params, Mapping):
            raise ParamError({"params": "must be an object"})
        errors: dict[str, str] = {}
        out: dict[str, Any] = {}
        for name in params:
            if name not in cls.params_schema:
                errors[str(name)] = (f"unknown parameter for {cls.id} "
                                     f"(allowed: {', '.join(cls.params_schema)})")
        for name, spec in cls.params_schema.items():
            if name not in params or params[name] is None:
                if "default" not in spec:
                    errors[name] = "this parameter is required"
                    continue
                raw = spec["default"]
            else:
                raw = params[name]
            try:
                value = cls._coerce(name, spec, raw)
            except ParamError as exc:
                errors.update(exc.fields)
                continue
            out[name] = value
        if not errors:
            errors.update(cls.check(out))
        if errors:
            raise ParamError(errors)
        return {k: (v if isinstance(v, int) else _dec_str(v)) for k, v in out.items()}

    @classmethod
    def _coerce(cls, name: str, spec: dict, raw: Any) -> int | Decimal:
        if spec["type"] == "int":
            if isinstance(raw, bool):
                raise ParamError({name: "must be a whole number"})
            if isinstance(raw, int):
                value: int | Decimal = raw
            elif isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
                value = int(raw.strip())
            elif isinstance(raw, float) and raw.is_integer():
                value = int(raw)
            else:
                raise ParamError({name: "must be a whole number"})
            low, high = spec.get("min"), spec.get("max")
        else:
            value = to_decimal(raw, name)
            if value.as_tuple().exponent < -MAX_PLACES:
                raise ParamError({name: f"must have at most {MAX_PLACES} decimal places"})
            low = None if spec.get("min") is None else Decimal(str(spec["min"]))
            high = None if spec.get("max") is None else Decimal(str(spec["max"]))
        if low is not None:
            if spec.get("min_exclusive") and value <= low:
                raise ParamError({name: f"must be greater than {low}"})
            if value < low:
                raise ParamError({name: f"must be at least {low}"})
        if high is not None and value > high:
            raise ParamError({name: f"must be at most {high}"})
        return value

    @classmethod
    def check(cls, values: dict[str, Any]) -> dict[str, str]:
        """Cross-field rules; {name: message} for each broken one."""
        return {}

    @classmethod
    def describe(cls) -> dict:
        return {"id": cls.id, "name": cls.name, "description": cls.description,
                "params": [{"name": n, **spec, "required": "default" not in spec}
                           for n, spec in cls.params_schema.items()]}

    def p(self, name: str) -> Decimal:
        return Decimal(self.params[name])

    def warmup_bars(self) -> int:
        """Closed candles the strategy needs before it can decide at all (the bot shows "warming up" below)."""
        return 1

    # --- decisions ----------------------------------------------------------------
    def decide(self, ctx: StrategyContext) -> list[Intent]:  # pragma: no cover - abstract
        raise NotImplementedError

    # --- what the chart draws ---------------------------------------------------------
    def indicators(self, bars: Sequence[Bar], *, state: dict, position_avg_price: Decimal | None,
                   window: int) -> dict:
        """The values this strategy decides with, for the bot's chart: computed by the same functions
        `decide` calls, over `bars` (oldest first, closed), for the last `window` bars.

        Returns {"lines": [{"key", "label", "points": [(ts_ms, Decimal)]}] (drawn over the candles),
        "levels": [{"key", "label", "price": Decimal, "kind"}] (horizontal price lines),
        "pane": None or {"key", "label", "min", "max", "points", "levels": [{"key", "label", "value"}]}
        (a separate pane under the candles)}.
        """
        return empty_indicators()


def _dec_str(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def empty_indicators() -> dict:
    return {"lines": [], "levels": [], "pane": None}


def sma(bars: Sequence[Bar], period: int, end: int | None = None) -> Decimal:
    """Simple moving average of closes over `period` bars ending at index `end` (exclusive; default: all)."""
    end = len(bars) if end is None else end
    total = ZERO
    for i in range(end - period, end):
        total += bars[i].close
    return total / period
