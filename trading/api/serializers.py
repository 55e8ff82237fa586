from decimal import ROUND_HALF_EVEN, Context, Decimal

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api import FastOutput
from trading.engine.candles import TIMEFRAMES as BOT_TIMEFRAMES
from trading.feeds import TIMEFRAME_SECONDS
from trading.health import STATES, bot_health
from trading.models import Candle, WatchlistItem


class ExactDecimalField(serializers.DecimalField):
    """Exact decimal strings, normalized: the stored numeric(38, 18) without its padding zeros and never
    in exponent notation (1000.000000000000000000 -> "1000", 0E-18 -> "0", 5000.000000007157915760 ->
    "5000.00000000715791576"). Input is parsed as DecimalField does."""

    def to_representation(self, value):
        return exact_decimal(value, self.decimal_places)


_QUANTA: dict[int, Decimal] = {}
_WIDE = Context(prec=80, rounding=ROUND_HALF_EVEN)  # one for all calls: only its flags ever change


def exact_decimal(value, places: int = 18) -> str | None:
    """The normalized exact string of a Decimal, rounded (half even) to `places` decimals at most."""
    if value is None:
        return None
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    if not d.is_finite():
        return str(d)
    quantum = _QUANTA.get(places)
    if quantum is None:
        quantum = _QUANTA[places] = Decimal(1).scaleb(-places)
    d = d.quantize(quantum, rounding=ROUND_HALF_EVEN, context=_WIDE)
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _symbol_field():
    return serializers.RegexField(r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}(:[A-Z0-9]{1,20})?$", max_length=64,
                                  error_messages={"invalid": "Use a symbol like BTC/USDT."})


class LivePricesIn(serializers.Serializer):
    exchange = serializers.ChoiceField(choices=())
    symbols = serializers.RegexField(  # the pattern documents validate_symbols' rule: 1 to 50 symbols
        r"^ *[A-Za-z0-9]{1,20}/[A-Za-z0-9]{1,20}(:[A-Za-z0-9]{1,20})? *(, *[A-Za-z0-9]{1,20}/[A-Za-z0-9]{1,20}"
        r"(:[A-Za-z0-9]{1,20})? *){0,49}$", max_length=1000, help_text="Comma-separated, e.g. BTC/USDT,ETH/USDT",
        error_messages={"invalid": "Name 1 to 50 symbols like BTC/USDT, separated by commas."})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["exchange"].choices = settings.SUPPORTED_EXCHANGES

    def validate_symbols(self, value):
        symbols = [s.strip().upper() for s in value.split(",") if s.strip()]
        if not symbols:
            raise serializers.ValidationError("Name at least one symbol, e.g. BTC/USDT.")
        if len(symbols) > 50:
            raise serializers.ValidationError("At most 50 symbols per request.")
        field = _symbol_field()
        for s in symbols:
            field.run_validation(s)
        return list(dict.fromkeys(symbols))


class PriceOut(serializers.Serializer):
    exchange = serializers.CharField()
    symbol = serializers.CharField()
    bid = serializers.FloatField(allow_null=True)
    ask = serializers.FloatField(allow_null=True)
    last = serializers.FloatField(allow_null=True)
    change_24h_pct = serializers.FloatField(allow_null=True)
    volume_24h = serializers.FloatField(allow_null=True)
    ts = serializers.IntegerField(allow_null=True, help_text="Exchange timestamp, unix ms")
    received_at = serializers.DateTimeField(allow_null=True)
    age_seconds = serializers.FloatField(allow_null=True)
    stale = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True)


class LivePricesOut(serializers.Serializer):
    source = serializers.CharField()
    real = serializers.BooleanField()
    label = serializers.CharField()
    prices = PriceOut(many=True)


class WatchIn(serializers.Serializer):
    exchange = serializers.ChoiceField(choices=())
    symbol = _symbol_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["exchange"].choices = settings.SUPPORTED_EXCHANGES


class WatchOut(serializers.ModelSerializer):
    class Meta:
        model = WatchlistItem
        fields = ["id", "exchange", "symbol", "created_at"]


class CandlesIn(serializers.Serializer):
    exchange = serializers.CharField(min_length=1, max_length=32)
    symbol = _symbol_field()
    timeframe = serializers.ChoiceField(choices=list(TIMEFRAME_SECONDS), default="1m")
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=200)


class CandleOut(serializers.ModelSerializer):
    t = serializers.SerializerMethodField(help_text="Open time, unix ms")
    open = ExactDecimalField(max_digits=38, decimal_places=18)
    high = ExactDecimalField(max_digits=38, decimal_places=18)
    low = ExactDecimalField(max_digits=38, decimal_places=18)
    close = ExactDecimalField(max_digits=38, decimal_places=18)
    volume = ExactDecimalField(max_digits=38, decimal_places=18)

    class Meta:
        model = Candle
        fields = ["t", "open", "high", "low", "close", "volume"]

    def get_t(self, candle) -> int:
        return int(candle.ts.timestamp() * 1000)


# --- bots --------------------------------------------------------------------------------

MONEY = {"max_digits": 38, "decimal_places": 18}


def _exact(**kwargs):
    return ExactDecimalField(**MONEY, **kwargs)


class BotIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    exchange = serializers.ChoiceField(choices=())
    symbol = _symbol_field()
    strategy = serializers.CharField(max_length=32, help_text="An id from GET /api/strategies/")
    # objects, never null: documented as such (a JSONField is "any JSON" in the schema)
    params = serializers.DictField(required=False, default=dict, help_text="The strategy's parameters",
                                   error_messages={"not_a_dict": "Must be an object."})
    timeframe = serializers.ChoiceField(choices=list(BOT_TIMEFRAMES), default="1m",
                                        help_text="The candles the strategy decides on (the exchange must offer it)")
    mode = serializers.ChoiceField(choices=["paper", "live"], default="paper",
                                   help_text="Always paper: a bot goes live only through its promotion "
                                             "(POST /api/bots/{id}/promotion/)")
    starting_balance = serializers.DecimalField(help_text="Paper balance in the quote currency", **MONEY)
    fill_overrides = serializers.DictField(required=False, default=dict, error_messages={"not_a_dict": "Must be an object."},
                                           help_text="Per-bot paper fill settings, e.g. {\"reject_rate\": \"0\"}")
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**63 - 1,
                                    help_text="Seeds slippage and rejections (random when omitted)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["exchange"].choices = settings.SUPPORTED_EXCHANGES

    def validate_starting_balance(self, value):
        if value <= 0:
            raise serializers.ValidationError("Must be greater than 0.")
        return value


class BotPatchIn(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    strategy = serializers.CharField(max_length=32, required=False)
    params = serializers.DictField(required=False, error_messages={"not_a_dict": "Must be an object."})
    timeframe = serializers.ChoiceField(choices=list(BOT_TIMEFRAMES), required=False,
                                        help_text="The candles the strategy decides on (only while stopped)")
    fill_overrides = serializers.DictField(required=False, error_messages={"not_a_dict": "Must be an object."})
    mode = serializers.ChoiceField(choices=["paper", "live"], required=False,
                                   help_text="Only accepted when unchanged: a bot goes live only through its "
                                             "promotion (POST /api/bots/{id}/promotion/)")

    FIXED = ("exchange", "symbol", "starting_balance", "seed")

    def validate(self, attrs):
        # a field that cannot change after creation is refused, never silently dropped
        fixed = sorted(k for k in (self.initial_data or {}) if k in self.FIXED)
        if fixed:
            raise serializers.ValidationError({k: ["Cannot be changed after creation."] for k in fixed})
        return attrs


class BotHealthOut(serializers.Serializer):
    state = serializers.ChoiceField(choices=STATES, help_text="running, warming_up, blocked, stale_prices, idle, "
                                                              "or the bot's status when it is not running")
    label = serializers.CharField(help_text='What the badge says, e.g. "warming up: needs 12 more candles"')
    detail = serializers.CharField(help_text="One sentence more (may be empty)")


class BotOut(FastOutput, serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    exchange = serializers.CharField()
    symbol = serializers.CharField()
    strategy = serializers.CharField()
    params = serializers.JSONField()
    timeframe = serializers.CharField(help_text="The candles the strategy decides on, e.g. 1m, 5m, 1h")
    mode = serializers.CharField()
    status = serializers.CharField()
    halt_reason = serializers.CharField()
    starting_balance = _exact()
    fill_overrides = serializers.JSONField()
    seed = serializers.IntegerField()
    base = _exact()
    quote = _exact()
    base_reserved = _exact()
    quote_reserved = _exact()
    last_price = _exact(allow_null=True)
    equity = serializers.SerializerMethodField()
    last_tick_at = serializers.DateTimeField(allow_null=True)
    last_tick_note = serializers.CharField(help_text="Why the last tick did nothing (e.g. stale prices)")
    health = serializers.SerializerMethodField(help_text="What the bot is really doing (trading.health)")
    started_at = serializers.DateTimeField(allow_null=True)
    stopped_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(BotHealthOut)
    def get_health(self, bot) -> dict:
        return bot_health(bot, now=timezone.now()).to_json()

    def get_equity(self, bot) -> str | None:
        """quote + base * last_price, at the last price the bot saw."""
        if bot.last_price is None:
            return exact_decimal(bot.quote) if not bot.base else None
        return exact_decimal(bot.quote + bot.base * bot.last_price)


class OrdersIn(serializers.Serializer):
    status = serializers.ChoiceField(required=False, choices=["open", "new", "partially_filled", "filled",
                                                              "cancelled", "rejected"])


class OrderOut(FastOutput, serializers.Serializer):
    id = serializers.IntegerField()
    bot_id = serializers.IntegerField()
    client_id = serializers.CharField()
    side = serializers.CharField()
    type = serializers.CharField()
    amount = _exact()
    price = _exact(allow_null=True)
    status = serializers.CharField()
    exchange_order_id = serializers.CharField(help_text="Live orders: the exchange's own order id (empty on paper "
                                                        "and until the exchange has answered)")
    reason = serializers.CharField()
    tag = serializers.CharField()
    filled = _exact()
    average_price = _exact(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)


class TradesIn(serializers.Serializer):
    side = serializers.ChoiceField(required=False, choices=["buy", "sell"])


class TradeOut(FastOutput, serializers.Serializer):
    id = serializers.IntegerField()
    order_id = serializers.IntegerField()
    side = serializers.CharField()
    price = _exact()
    amount = _exact()
    fee = _exact()
    fee_currency = serializers.CharField()
    fee_quote = _exact(allow_null=True, help_text="Live: the fee valued in the quote currency (a BNB fee at the "
                                                  "BNB price when it filled); null: not valued, see fee_note")
    fee_note = serializers.CharField()
    slippage = _exact(help_text="Relative, against the trader: 0.0015 = 0.15 % worse")
    liquidity = serializers.CharField()
    exchange_trade_id = serializers.CharField(help_text="Live fills: the exchange's trade id (empty on paper)")
    ts = serializers.DateTimeField()


class EquityPointOut(serializers.Serializer):
    ts = serializers.DateTimeField()
    equity = _exact()
    price = _exact()


class FeeLineOut(serializers.Serializer):
    currency = serializers.CharField()
    amount = _exact()
    value = _exact(allow_null=True, help_text="in quote; null when (part of) it could not be valued")


class FeeUnvaluedOut(serializers.Serializer):
    currency = serializers.CharField()
    amount = _exact()


class PositionOut(serializers.Serializer):
    base = _exact()
    quote = _exact()
    base_reserved = _exact()
    quote_reserved = _exact()
    average_entry_price = _exact(allow_null=True)
    last_price = _exact(allow_null=True)
    equity = _exact(allow_null=True)
    realized_pnl = _exact(allow_null=True)
    unrealized_pnl = _exact(allow_null=True)
    fees_paid = _exact(help_text="every fee valued in quote")
    fees_outside_wallet = _exact(help_text="the quote value of fees paid in a third currency (BNB), taken off the "
                                           "equity and the P&L")
    fees = FeeLineOut(many=True)
    fees_not_valued = FeeUnvaluedOut(many=True, help_text="fees in a third currency with no price: not in the P&L")
    return_pct = _exact(allow_null=True)


class PerformanceOut(serializers.Serializer):
    starting_balance = _exact(help_text="A live bot: its live allocation")
    live_since = serializers.DateTimeField(allow_null=True, help_text="A live bot: its record (fills, equity "
                                                                      "curve, return) starts at its promotion")
    equity = _exact(allow_null=True)
    return_pct = _exact(allow_null=True)
    win_rate = _exact(allow_null=True, help_text="% of closed trades with a profit")
    closed_trades = serializers.IntegerField()
    max_drawdown_pct = _exact()
    fees_paid = _exact()
    fees_not_valued = FeeUnvaluedOut(many=True)
    position = PositionOut()
    equity_curve = EquityPointOut(many=True)


class DealsIn(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=100,
                                     help_text="How many closed trades, newest first")


class OpenPositionOut(serializers.Serializer):
    amount = _exact(help_text="Size, in the base currency")
    entry_price = _exact(allow_null=True, help_text="Average entry price (fees excluded)")
    last_price = _exact(allow_null=True)
    opened_at = serializers.DateTimeField(allow_null=True)
    duration_seconds = serializers.IntegerField(allow_null=True)
    cost = _exact(allow_null=True, help_text="amount x entry price, quote currency")
    value = _exact(allow_null=True, help_text="amount x last price, quote currency")
    unrealized_pnl = _exact(allow_null=True)
    unrealized_pct = _exact(allow_null=True)


class ClosedTradeOut(serializers.Serializer):
    entry_at = serializers.DateTimeField(allow_null=True)
    exit_at = serializers.DateTimeField(allow_null=True)
    entry_price = _exact()
    exit_price = _exact(allow_null=True)
    amount = _exact()
    fees = _exact(help_text="Entry and exit share, quote currency")
    pnl = _exact(help_text="Net of fees, quote currency")
    return_pct = _exact()
    duration_seconds = serializers.IntegerField(allow_null=True)


class DealsOut(serializers.Serializer):
    open_position = OpenPositionOut(allow_null=True)
    closed_count = serializers.IntegerField(help_text="All closed trades (FIFO round trips of the fills)")
    realized_pnl = _exact(help_text="Sum over all closed trades, net of fees")
    closed_trades = ClosedTradeOut(many=True)


class StrategyParamOut(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    required = serializers.BooleanField()
    default = serializers.JSONField(required=False)
    min = serializers.JSONField(required=False)
    max = serializers.JSONField(required=False)
    min_exclusive = serializers.BooleanField(required=False)
    description = serializers.CharField(required=False)


class StrategyOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    params = StrategyParamOut(many=True)


# --- markets -----------------------------------------------------------------------------

class MarketsIn(serializers.Serializer):
    exchange = serializers.ChoiceField(choices=())
    q = serializers.CharField(required=False, allow_blank=True, max_length=64, default="",
                              help_text="Search: symbols starting with it first, then containing it")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=5000, default=100)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["exchange"].choices = settings.SUPPORTED_EXCHANGES


class MarketOut(serializers.Serializer):
    symbol = serializers.CharField()
    base = serializers.CharField()
    quote = serializers.CharField()
    active = serializers.BooleanField()
    amount_step = _exact(allow_null=True, help_text="Smallest amount increment (base currency)")
    price_step = _exact(allow_null=True, help_text="Smallest price increment (quote currency)")
    min_amount = _exact(allow_null=True)
    min_cost = _exact(allow_null=True, help_text="Minimum order value in the quote currency (min notional)")
    maker_fee = _exact(allow_null=True)
    taker_fee = _exact(allow_null=True)


class MarketsOut(serializers.Serializer):
    exchange = serializers.CharField()
    known = serializers.BooleanField(help_text="False while the exchange's market list could not be loaded yet")
    markets = MarketOut(many=True)


# --- profit across bots ------------------------------------------------------------------

class ProfitIn(serializers.Serializer):
    period = serializers.ChoiceField(choices=["day", "week", "month"], default="day")
    count = serializers.IntegerField(required=False, min_value=1, max_value=366, default=30,
                                     help_text="How many periods back from the current one")


class ProfitTotalOut(serializers.Serializer):
    currency = serializers.CharField(help_text="Quote currency: sums are never mixed across currencies")
    today = _exact()
    this_week = _exact()
    this_month = _exact()
    all_time = _exact()
    trades = serializers.IntegerField()


class ProfitPeriodOut(serializers.Serializer):
    start = serializers.DateField(help_text="First day of the period (UTC; weeks start on Monday)")
    currency = serializers.CharField()
    pnl = _exact()
    trades = serializers.IntegerField()
    wins = serializers.IntegerField()


class ProfitPairOut(serializers.Serializer):
    exchange = serializers.CharField()
    symbol = serializers.CharField()
    currency = serializers.CharField()
    pnl = _exact()
    trades = serializers.IntegerField()
    wins = serializers.IntegerField()
    win_rate = _exact(allow_null=True)
    bots = serializers.IntegerField()


class ProfitSummaryOut(serializers.Serializer):
    period = serializers.CharField()
    today = serializers.DateField()
    totals = ProfitTotalOut(many=True)
    periods = ProfitPeriodOut(many=True, help_text="Newest first; every period present, zero when quiet")
    pairs = ProfitPairOut(many=True)


class ProfitCalendarIn(serializers.Serializer):
    month = serializers.RegexField(r"^(20\d\d)-(0[1-9]|1[0-2])$", required=False,
                                   error_messages={"invalid": "Use a month like 2026-12."},
                                   help_text="YYYY-MM (UTC); the current month when omitted")


class ProfitDayOut(serializers.Serializer):
    date = serializers.DateField()
    pnl = serializers.DictField(child=_exact(), help_text="Realized profit per quote currency")
    trades = serializers.IntegerField()


class ProfitCalendarOut(serializers.Serializer):
    year = serializers.IntegerField()
    month = serializers.IntegerField()
    days = ProfitDayOut(many=True)
    totals = serializers.DictField(child=_exact())
