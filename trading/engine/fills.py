"""The paper fill engine: how an order would have filled, as pessimistically as we can make it.

Pure functions, `Decimal` in and out, a seeded `random.Random` passed in (never the global one).

Market orders walk the order book when one is given (volume-weighted price over at most
`cfg.max_book_levels` levels and never further than `cfg.max_book_slippage_pct` % from the best
price; what the capped book cannot absorb is not filled). Without a book they fill at the next
candle's open (candle data) or at the ask / bid, moved against the trader by a slippage drawn
uniformly from [slippage_min, slippage_max]. Taker fee. About `cfg.reject_rate` of orders are
rejected by the "exchange" (seeded, with a reason).

Limit orders rest until a later bar trades THROUGH their price (a touch is not enough: the queue
ahead of us would take it), then fill at the limit price with the maker fee, but only as much as
the bar's volume traded beyond the price allows (the volume is assumed spread evenly over the
bar's range), so big orders fill partially over several bars. A limit that is marketable on
arrival fills as taker like a market order, never at a worse price than its limit.

Precision: amounts are rounded DOWN to the amount step; slipped prices are rounded to the price
step against the trader; limit prices are rounded to the price step (buy down, sell up). Orders
below the market's minimum amount or cost are rejected. A buy never spends more than the free
quote balance including the fee, a sell never sells more than the free base balance.

Fees are charged in the quote currency (see `trading.engine.types`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from .types import ZERO, Bar, Book, Fill, FillConfig, Intent, MarketRules, Quote, Reject, RestingOrder, Wallet
from .wallet import apply, reservation

# Without a known step we still keep amounts and prices to a sane number of places.
AMOUNT_FALLBACK_STEP = Decimal("1e-12")
ONE = Decimal("1")
HUNDRED = Decimal("100")

EXCHANGE_REJECT_MESSAGES = (
    "Order rejected by the exchange: service unavailable, please retry later",
    "Order rejected by the exchange: too many requests, rate limit exceeded",
    "Order rejected by the exchange: market is in a cooldown period after a price spike",
    "Order rejected by the exchange: internal error, order not placed",
)


def as_decimal(value) -> Decimal:
    """Book levels may come straight from ccxt as floats: go through str, never Decimal(float)."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def taker_fee(rules: MarketRules, cfg: FillConfig) -> Decimal:
    return rules.taker_fee if rules.taker_fee is not None else cfg.fallback_fee


def maker_fee(rules: MarketRules, cfg: FillConfig) -> Decimal:
    return rules.maker_fee if rules.maker_fee is not None else cfg.fallback_fee


def fee_currency(rules: MarketRules) -> str:
    return rules.quote_currency or "quote"


def quantize_amount(amount: Decimal, rules: MarketRules) -> Decimal:
    """Round DOWN to the market's amount step (never trade more than asked or affordable)."""
    step = rules.amount_step or AMOUNT_FALLBACK_STEP
    if amount <= 0:
        return ZERO
    return (amount / step).to_integral_value(rounding=ROUND_DOWN) * step


def quantize_price(price: Decimal, rules: MarketRules, *, rounding: str) -> Decimal:
    step = rules.price_step
    if not step:
        return price
    return (price / step).to_integral_value(rounding=rounding) * step


def check_minimums(amount: Decimal, price: Decimal, rules: MarketRules) -> Reject | None:
    if amount <= 0 or (rules.min_amount is not None and amount < rules.min_amount):
        return Reject("min_amount", f"Order amount {amount} is below the market minimum "
                                    f"{rules.min_amount if rules.min_amount is not None else 'of one step'}")
    if rules.min_cost is not None and amount * price < rules.min_cost:
        return Reject("min_cost", f"Order value {(amount * price).normalize():f} is below the market "
                                  f"minimum {rules.min_cost}")
    return None


def _validate(intent: Intent) -> Reject | None:
    if intent.side not in ("buy", "sell"):
        return Reject("invalid_order", f"Unknown side {intent.side!r}", intent=intent)
    sized = [v for v in (intent.amount, intent.quote_amount) if v is not None]
    if len(sized) != 1:
        return Reject("invalid_order", "An order needs exactly one of amount or quote_amount", intent=intent)
    if not sized[0].is_finite() or sized[0] <= 0:
        return Reject("invalid_order", "Order size must be positive", intent=intent)
    if intent.type == "limit":
        if intent.amount is None:
            return Reject("invalid_order", "A limit order needs an amount", intent=intent)
        if intent.price is None or not intent.price.is_finite() or intent.price <= 0:
            return Reject("invalid_order", "A limit order needs a positive price", intent=intent)
    return None


def _draw(rng: random.Random, cfg: FillConfig) -> tuple[bool, Decimal, int]:
    """Always the same number of draws per order, so one order's outcome never shifts the next one's."""
    u_reject, u_slip = rng.random(), rng.random()
    slip = cfg.slippage_min + (cfg.slippage_max - cfg.slippage_min) * Decimal(f"{u_slip:.12f}")
    return u_reject < float(cfg.reject_rate), slip, int(u_slip * len(EXCHANGE_REJECT_MESSAGES))


def _levels(book: Book, side: str, cfg: FillConfig, limit_price: Decimal | None) -> list[tuple[Decimal, Decimal]]:
    """The book levels a taker order may use: capped by count, distance from the best price and the limit."""
    raw = book.asks if side == "buy" else book.bids
    out: list[tuple[Decimal, Decimal]] = []
    best = None
    for level in raw[: cfg.max_book_levels]:
        price, amount = as_decimal(level[0]), as_decimal(level[1])
        if price <= 0 or amount <= 0:
            continue
        if best is None:
            best = price
        far = (price - best) / best if side == "buy" else (best - price) / best
        if far * HUNDRED > cfg.max_book_slippage_pct:
            break
        if limit_price is not None and (price > limit_price if side == "buy" else price < limit_price):
            break
        out.append((price, amount))
    return out


def _walk(levels: Sequence[tuple[Decimal, Decimal]], *, amount: Decimal | None = None,
          budget: Decimal | None = None) -> tuple[Decimal, Decimal]:
    """Take liquidity until `amount` base or `budget` quote (cost, before fees) is used: (amount, cost)."""
    got, cost = ZERO, ZERO
    for price, size in levels:
        take = min(size, amount - got) if amount is not None else min(size, (budget - cost) / price)
        if take <= 0:
            break
        got += take
        cost += take * price
    return got, cost


def _cost_of(levels: Sequence[tuple[Decimal, Decimal]], amount: Decimal) -> Decimal:
    return _walk(levels, amount=amount)[1]


def fill_market(intent: Intent, wallet: Wallet, *, quote: Quote | None, book: Book | None,
                next_open: Decimal | None, rules: MarketRules, cfg: FillConfig, rng: random.Random,
                ts_ms: int | None = None, order_id: str | None = None,
                limit_price: Decimal | None = None) -> Fill | Reject:
    """Fill a market order (or the taker part of a marketable limit when `limit_price` is given)."""
    bad = _validate(intent)
    if bad:
        return _tag(bad, intent, order_id)
    rejected, slip, msg_index = _draw(rng, cfg)
    if rejected:
        return Reject("exchange_rejected", EXCHANGE_REJECT_MESSAGES[msg_index], order_id, intent)
    fee_rate = taker_fee(rules, cfg)
    side = intent.side
    buy = side == "buy"
    if buy and intent.quote_amount is not None and intent.quote_amount > wallet.free_quote:
        return Reject("insufficient_funds", f"Insufficient balance: order needs {intent.quote_amount} quote, "
                                            f"{wallet.free_quote} available", order_id, intent)

    if book is not None and (book.asks if buy else book.bids):
        levels = _levels(book, side, cfg, limit_price)
        if not levels:
            return Reject("insufficient_liquidity", "No order book liquidity within the allowed price range",
                          order_id, intent)
        reference = levels[0][0]
        if intent.amount is not None:
            want = intent.amount
        elif buy:
            want = _walk(levels, budget=intent.quote_amount / (ONE + fee_rate))[0]
        else:
            want = intent.quote_amount / reference
        amount = quantize_amount(min(want, _walk(levels, amount=want)[0]), rules)
        if amount <= 0:
            return _tag(check_minimums(ZERO, reference, rules), intent, order_id)
        cost = _cost_of(levels, amount)
        price = cost / amount
    else:
        if next_open is not None:
            reference = next_open
        elif quote is not None:
            reference = quote.ask if buy else quote.bid
        else:
            return Reject("no_price", "No price available to fill the order", order_id, intent)
        if reference is None or reference <= 0:
            return Reject("no_price", "No price available to fill the order", order_id, intent)
        price = reference * (ONE + slip) if buy else reference * (ONE - slip)
        price = quantize_price(price, rules, rounding=ROUND_UP if buy else ROUND_DOWN)
        if limit_price is not None:
            price = min(price, limit_price) if buy else max(price, limit_price)
        if intent.amount is not None:
            amount = intent.amount
        elif buy:
            amount = intent.quote_amount / (price * (ONE + fee_rate))
        else:
            amount = intent.quote_amount / price
        amount = quantize_amount(amount, rules)
        cost = price * amount

    bad = check_minimums(amount, price, rules)
    if bad:
        return _tag(bad, intent, order_id)
    fee = cost * fee_rate
    if buy and cost + fee > wallet.free_quote:
        return Reject("insufficient_funds", f"Insufficient balance: order needs {(cost + fee).normalize():f} "
                                            f"quote incl. fee, {wallet.free_quote} available", order_id, intent)
    if not buy and amount > wallet.free_base:
        return Reject("insufficient_funds", f"Insufficient balance: order sells {amount} base, "
                                            f"{wallet.free_base} available", order_id, intent)
    slippage = (price - reference) / reference if buy else (reference - price) / reference
    return Fill(side=side, price=price, amount=amount, fee=fee, fee_currency=fee_currency(rules),
                slippage=slippage, liquidity="taker", ts_ms=ts_ms, order_id=order_id, reference_price=reference,
                reason=intent.reason, client_tag=intent.client_tag, limit_price=limit_price)


def _tag(reject: Reject | None, intent: Intent, order_id: str | None) -> Reject | None:
    if reject is None:
        return None
    return Reject(reject.code, reject.message, order_id, intent)


def marketable(side: str, price: Decimal, *, quote: Quote | None, book: Book | None,
               next_open: Decimal | None) -> bool:
    """Would a limit at `price` cross the market on arrival?"""
    if book is not None and (book.asks if side == "buy" else book.bids):
        best = as_decimal((book.asks if side == "buy" else book.bids)[0][0])
    elif next_open is not None:
        best = next_open
    elif quote is not None:
        best = quote.ask if side == "buy" else quote.bid
    else:
        return False
    return price >= best if side == "buy" else price <= best


def place_limit(intent: Intent, wallet: Wallet, *, quote: Quote | None, book: Book | None,
                next_open: Decimal | None, rules: MarketRules, cfg: FillConfig, rng: random.Random,
                order_id: str, ts_ms: int | None, after_ms: int) -> tuple[Fill | None, RestingOrder | None] | Reject:
    """Place a limit order: the marketable part fills now as taker, the rest rests (funds reserved).

    Returns (taker fill or None, resting order or None), or a Reject.
    """
    bad = _validate(intent)
    if bad:
        return _tag(bad, intent, order_id)
    side = intent.side
    price = quantize_price(intent.price, rules, rounding=ROUND_DOWN if side == "buy" else ROUND_UP)
    amount = quantize_amount(intent.amount, rules)
    bad = check_minimums(amount, price, rules)
    if bad:
        return _tag(bad, intent, order_id)
    taker: Fill | None = None
    if marketable(side, price, quote=quote, book=book, next_open=next_open):
        result = fill_market(Intent(side, "market", amount=amount, reason=intent.reason,
                                    client_tag=intent.client_tag), wallet,
                             quote=quote, book=book, next_open=next_open, rules=rules, cfg=cfg, rng=rng,
                             ts_ms=ts_ms, order_id=order_id, limit_price=price)
        if isinstance(result, Reject):
            if result.code not in ("insufficient_liquidity",):
                return Reject(result.code, result.message, order_id, intent)
        else:
            taker = result
            amount -= result.amount
            wallet = apply(wallet, result)
    else:
        # the placement itself can be refused by the exchange like any order
        rejected, _slip, msg_index = _draw(rng, cfg)
        if rejected:
            return Reject("exchange_rejected", EXCHANGE_REJECT_MESSAGES[msg_index], order_id, intent)
    if amount <= 0:
        return taker, None
    fee_rate = maker_fee(rules, cfg)
    rest = RestingOrder(id=order_id, side=side, price=price, amount=amount, fee_rate=fee_rate,
                        created_ms=ts_ms, after_ms=after_ms, reason=intent.reason, client_tag=intent.client_tag)
    base_need, quote_need = reservation(rest)
    if taker is None and (base_need > wallet.free_base or quote_need > wallet.free_quote):
        have = wallet.free_base if side == "sell" else wallet.free_quote
        return Reject("insufficient_funds", f"Insufficient balance: order needs "
                                            f"{(base_need or quote_need).normalize():f} "
                                            f"{'base' if side == 'sell' else 'quote incl. fee'}, {have} available",
                      order_id, intent)
    if base_need > wallet.free_base or quote_need > wallet.free_quote:
        return taker, None  # the taker part went through; the rest could not be funded
    return taker, rest


def volume_through(side: str, price: Decimal, bar: Bar, cfg: FillConfig) -> Decimal | None:
    """Base volume we may take from `bar` at `price`: the bar's volume spread evenly over its range,
    the part beyond the price, times `cfg.limit_volume_share`. None when the bar carries no volume:
    candles built from polled tickers have volume 0, which means "unknown", not "nothing traded"."""
    if bar.volume <= 0:
        return None
    span = bar.high - bar.low
    if span > 0:
        through = (price - bar.low) / span if side == "buy" else (bar.high - price) / span
        traded = bar.volume * min(ONE, max(ZERO, through))
    else:
        traded = bar.volume
    return traded * cfg.limit_volume_share


def fill_limit(order: RestingOrder, bar: Bar, *, rules: MarketRules, cfg: FillConfig,
               volume_available: Decimal | None = None) -> Fill | None:
    """Fill a resting limit order against one closed bar, or None if the market did not trade through it.

    `volume_available` caps the base volume this bar still offers at the price (the runner passes what
    the bot's other orders on the same bar left over). A bar with volume 0 has unknown volume (candles
    built from polled tickers): a trade-through then fills the whole order.
    """
    if bar.ts_ms < order.after_ms or order.remaining <= 0:
        return None
    buy = order.side == "buy"
    if buy and not bar.low < order.price:
        return None
    if not buy and not bar.high > order.price:
        return None
    cap = volume_through(order.side, order.price, bar, cfg)
    if cap is None:
        cap = order.remaining  # volume unknown (candles built from polled tickers): the trade-through fills it
    if volume_available is not None:
        cap = min(cap, volume_available)
    amount = quantize_amount(min(order.remaining, cap), rules)
    if amount <= 0:
        return None
    cost = order.price * amount
    return Fill(side=order.side, price=order.price, amount=amount, fee=cost * order.fee_rate,
                fee_currency=fee_currency(rules), slippage=ZERO, liquidity="maker", ts_ms=bar.ts_ms,
                order_id=order.id, reference_price=order.price, reason=order.reason, client_tag=order.client_tag)
