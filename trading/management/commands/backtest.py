"""Backtest a strategy over a recorded OHLCV CSV on the paper engine (no database needed)."""

import json
from decimal import Decimal
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from risk.checks import Limits
from trading.backtest import run_backtest
from trading.engine.strategies import STRATEGIES
from trading.engine.types import FillConfig, MarketRules, ParamError, to_decimal
from trading.feeds import parse_csv_name, read_csv


def _decimal(value: str | None, flag: str, *, positive: bool = False) -> Decimal | None:
    if value is None:
        return None
    try:
        number = to_decimal(value, flag)
    except ParamError:
        raise CommandError(f"{flag} must be a number, got {value!r}") from None
    if positive and number <= 0:
        raise CommandError(f"{flag} must be greater than 0")
    if number < 0:
        raise CommandError(f"{flag} must not be negative")
    return number


class Command(BaseCommand):
    help = ("Run a strategy over recorded candles on the paper fill engine and print a summary "
            "(or the full result with --json). Fees are charged in the quote currency.")
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--strategy", required=True, help=f"one of: {', '.join(STRATEGIES)}")
        parser.add_argument("--params", default="{}", help='strategy parameters as JSON, e.g. \'{"fast": 10, "slow": 30}\'')
        parser.add_argument("--data", required=True, help="CSV with header timestamp_ms,open,high,low,close,volume")
        parser.add_argument("--symbol", required=True, help="market symbol, e.g. BTC/USDT")
        parser.add_argument("--starting-balance", required=True, help="paper balance in the quote currency")
        parser.add_argument("--fee", help="maker and taker fee as a fraction (default: 0.001)")
        parser.add_argument("--slippage-min", help="minimum slippage as a fraction (default 0.001)")
        parser.add_argument("--slippage-max", help="maximum slippage as a fraction (default 0.002)")
        parser.add_argument("--reject-rate", help="share of orders the exchange rejects (default 0.03)")
        parser.add_argument("--seed", default="0", help="random seed for slippage and rejections (default 0)")
        parser.add_argument("--amount-step", help="amount precision of the market, e.g. 0.0001")
        parser.add_argument("--price-step", help="price precision of the market, e.g. 0.01")
        parser.add_argument("--min-cost", help="minimum order value in quote")
        parser.add_argument("--risk", action="store_true",
                            help="pass every order through the pre-trade risk checks with the platform's default "
                                 "limits (50 trades/day, 5%% daily loss breaker) and halt on a breach like a bot")
        parser.add_argument("--risk-limits", help='risk limits as JSON (implies --risk), e.g. \'{"daily_loss_pct": 10}\'')
        parser.add_argument("--json", action="store_true", help="print the machine-readable result")

    def handle(self, *args, **o):
        strategy = o["strategy"]
        if strategy not in STRATEGIES:
            raise CommandError(f"Unknown strategy {strategy!r}; available: {', '.join(STRATEGIES)}")
        try:
            params = json.loads(o["params"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--params is not valid JSON: {exc.msg} (position {exc.pos})") from None
        if not isinstance(params, dict):
            raise CommandError("--params must be a JSON object, e.g. '{\"fast\": 10, \"slow\": 30}'")
        symbol = o["symbol"]
        if symbol.count("/") != 1 or not all(symbol.split("/")):
            raise CommandError(f"--symbol must look like BASE/QUOTE (e.g. BTC/USDT), got {symbol!r}")
        path = Path(o["data"])
        if not path.is_file():
            raise CommandError(f"--data {path}: no such file")
        try:
            _, file_symbol, _ = parse_csv_name(path)
        except ValueError:
            file_symbol = None
        if file_symbol is not None and file_symbol != symbol:
            raise CommandError(f"--symbol {symbol} does not match the data file, which holds {file_symbol}")
        balance = _decimal(o["starting_balance"], "--starting-balance", positive=True)
        try:
            seed = int(o["seed"])
        except ValueError:
            raise CommandError(f"--seed must be a whole number, got {o['seed']!r}") from None

        overrides = {name: o[key] for name, key in (("slippage_min", "slippage_min"), ("slippage_max", "slippage_max"),
                                                    ("reject_rate", "reject_rate")) if o[key] is not None}
        for name in list(overrides):
            overrides[name] = _decimal(overrides[name], "--" + name.replace("_", "-"))
        fee = _decimal(o["fee"], "--fee")
        try:
            cfg = FillConfig.from_overrides(overrides)
            if fee is not None:
                cfg = FillConfig.from_overrides({"fallback_fee": fee}, base=cfg)
        except ParamError as exc:
            raise CommandError("; ".join(f"--{k.replace('_', '-')} {v}" for k, v in exc.fields.items())) from None
        base, quote = symbol.split("/")
        rules = MarketRules(amount_step=_decimal(o["amount_step"], "--amount-step", positive=True),
                            price_step=_decimal(o["price_step"], "--price-step", positive=True),
                            min_cost=_decimal(o["min_cost"], "--min-cost"), maker_fee=fee, taker_fee=fee,
                            base_currency=base, quote_currency=quote)
        limits = _limits(o["risk_limits"]) if o["risk_limits"] else (Limits() if o["risk"] else None)
        try:
            bars = read_csv(path)
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from None
        if len(bars) < 2:
            raise CommandError(f"{path.name}: need at least 2 candles to backtest, found {len(bars)}")
        try:
            result = run_backtest(bars, strategy, params, balance, rules, cfg, seed,
                                  limits=limits)
        except ParamError as exc:
            raise CommandError("Invalid --params: " + "; ".join(f"{k}: {v}" for k, v in exc.fields.items())) from None

        if o["json"]:
            data = result.to_json()
            data["symbol"] = symbol
            self.stdout.write(json.dumps(data, indent=2))
            return
        s = result.stats
        lines = [
            f"Backtest {strategy} {json.dumps(result.params, sort_keys=True)} on {symbol}, "
            f"{result.bars} candles from {data_time(result.first_ts_ms)} to {data_time(result.last_ts_ms)}, seed {seed}",
            f"Starting balance: {balance} {quote}",
            f"Final equity:     {s.final_equity.quantize(Decimal('0.00000001'))} {quote}",
            f"Return:           {s.return_pct.quantize(Decimal('0.01'))} %",
            f"Closed trades:    {s.closed_trades}",
            f"Win rate:         {'n/a' if s.win_rate is None else str(s.win_rate.quantize(Decimal('0.01'))) + ' %'}",
            f"Max drawdown:     {s.max_drawdown_pct.quantize(Decimal('0.01'))} %",
            f"Fees paid:        {s.fees_paid.quantize(Decimal('0.00000001'))} {quote}",
            f"Fills: {len(result.fills)}, rejected orders: {len(result.rejects)}"
            + (f" ({', '.join(f'{k}: {v}' for k, v in sorted(reject_codes(result).items()))})" if result.rejects else ""),
            "Risk checks:      " + ("off (use --risk)" if limits is None else "on"),
        ]
        if result.halted:
            lines.append(f"HALTED at {result.halted['time']}: {result.halted['message']}")
        self.stdout.write("\n".join(lines))


def reject_codes(result) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in result.rejects:
        counts[r.code] = counts.get(r.code, 0) + 1
    return counts


def _limits(raw: str) -> Limits:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CommandError(f"--risk-limits is not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise CommandError("--risk-limits must be a JSON object")
    fields = Limits.__dataclass_fields__
    values = {}
    for name, value in data.items():
        if name not in fields:
            raise CommandError(f"--risk-limits: unknown limit {name!r} (allowed: {', '.join(fields)})")
        if value is None:
            values[name] = None
            continue
        if name in ("max_open_trades", "max_trades_per_day", "max_orders_per_minute", "cooldown_minutes"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise CommandError(f"--risk-limits: {name} must be a whole number >= 0")
            values[name] = value
        else:
            values[name] = _decimal(str(value), f"--risk-limits {name}")
    return Limits(**values)


def data_time(ts_ms):
    from trading.backtest import iso

    return iso(ts_ms)
