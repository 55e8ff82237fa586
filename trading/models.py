from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import Q
from django.utils import timezone

DECIMAL = {"max_digits": 38, "decimal_places": 18}


class Market(models.Model):
    """A tradable symbol on an exchange, as ccxt's load_markets describes it."""

    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=64)
    base = models.CharField(max_length=32)
    quote = models.CharField(max_length=32)
    active = models.BooleanField(default=True)
    amount_step = models.DecimalField(null=True, blank=True, **DECIMAL)
    price_step = models.DecimalField(null=True, blank=True, **DECIMAL)
    min_amount = models.DecimalField(null=True, blank=True, **DECIMAL)
    min_cost = models.DecimalField(null=True, blank=True, **DECIMAL)
    maker_fee = models.DecimalField(null=True, blank=True, **DECIMAL)
    taker_fee = models.DecimalField(null=True, blank=True, **DECIMAL)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["exchange", "symbol"]
        constraints = [models.UniqueConstraint(fields=["exchange", "symbol"], name="unique_market")]

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol}"


class Candle(models.Model):
    """OHLCV for one interval; `ts` is the candle's open time (UTC)."""

    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=64)
    timeframe = models.CharField(max_length=8)
    ts = models.DateTimeField()
    open = models.DecimalField(**DECIMAL)
    high = models.DecimalField(**DECIMAL)
    low = models.DecimalField(**DECIMAL)
    close = models.DecimalField(**DECIMAL)
    volume = models.DecimalField(**DECIMAL)

    class Meta:
        ordering = ["exchange", "symbol", "timeframe", "ts"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "symbol", "timeframe", "ts"], name="unique_candle"),
        ]

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol} {self.timeframe} {self.ts:%Y-%m-%d %H:%M}"


class WatchlistItem(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watchlist")
    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["exchange", "symbol"]
        constraints = [models.UniqueConstraint(fields=["user", "exchange", "symbol"], name="unique_watch")]

    def __str__(self) -> str:
        return f"{self.user} watches {self.exchange}:{self.symbol}"


# --- paper trading: bots, orders, fills, equity ------------------------------------------------

class Bot(models.Model):
    """One strategy on one market with its own paper wallet. Written only by trading.services."""

    class Mode(models.TextChoices):
        PAPER = "paper"
        LIVE = "live"

    class Status(models.TextChoices):
        STOPPED = "stopped"
        RUNNING = "running"
        PAUSED = "paused"
        HALTED = "halted"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bots")
    name = models.CharField(max_length=100)
    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=64)
    strategy = models.CharField(max_length=32)
    params = models.JSONField(default=dict, blank=True)
    # the candles the strategy decides on (trading.engine.candles.TIMEFRAMES), built from the stored 1m candles
    timeframe = models.CharField(max_length=8, default="1m", db_default="1m")
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.PAPER)
    starting_balance = models.DecimalField(**DECIMAL)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.STOPPED)
    halt_reason = models.CharField(max_length=200, blank=True)
    fill_overrides = models.JSONField(default=dict, blank=True)
    seed = models.BigIntegerField()
    state = models.JSONField(default=dict, blank=True)
    # the paper wallet (engine.types.Wallet): totals, and the parts resting limit orders hold back
    base = models.DecimalField(default=0, **DECIMAL)
    quote = models.DecimalField(default=0, **DECIMAL)
    base_reserved = models.DecimalField(default=0, **DECIMAL)
    quote_reserved = models.DecimalField(default=0, **DECIMAL)
    reduce_only = models.BooleanField(default=False, help_text="Set by risk: entries refused, exits allowed")
    # tick bookkeeping: the claim (last_tick_key only ever grows) and why the last tick did nothing
    last_tick_key = models.BigIntegerField(null=True, blank=True)
    last_tick_at = models.DateTimeField(null=True, blank=True)
    last_tick_note = models.CharField(max_length=200, blank=True)
    last_price = models.DecimalField(null=True, blank=True, **DECIMAL)
    last_equity_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["exchange", "status"], name="bot_exchange_status"),
            models.Index(fields=["owner", "archived_at"], name="bot_owner_archived"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.exchange}:{self.symbol} {self.strategy})"

    @property
    def free_base(self):
        return self.base - self.base_reserved

    @property
    def free_quote(self):
        return self.quote - self.quote_reserved


class Order(models.Model):
    class Side(models.TextChoices):
        BUY = "buy"
        SELL = "sell"

    class Type(models.TextChoices):
        MARKET = "market"
        LIMIT = "limit"

    class Status(models.TextChoices):
        NEW = "new"
        OPEN = "open"
        PARTIALLY_FILLED = "partially_filled"
        FILLED = "filled"
        CANCELLED = "cancelled"
        REJECTED = "rejected"
        UNKNOWN = "unknown", "Unknown (being looked up)"

    # may still trade: the order state table's LIVE states (trading/execution/states.py; a test holds them equal)
    OPEN_STATUSES = ("new", "open", "partially_filled", "unknown")

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="orders")
    client_id = models.CharField(max_length=64, help_text="Deterministic per (bot, tick): a second guard "
                                                          "against double placement")
    side = models.CharField(max_length=4, choices=Side.choices)
    type = models.CharField(max_length=8, choices=Type.choices)
    amount = models.DecimalField(**DECIMAL)
    price = models.DecimalField(null=True, blank=True, **DECIMAL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    reason = models.CharField(max_length=200, blank=True)
    filled = models.DecimalField(default=0, **DECIMAL)
    average_price = models.DecimalField(null=True, blank=True, **DECIMAL)
    tag = models.CharField(max_length=64, blank=True, help_text="The strategy's label for the order")
    resting = models.JSONField(null=True, blank=True, help_text="engine RestingOrder while a limit order rests")
    tick_key = models.BigIntegerField(null=True, blank=True)
    exchange_order_id = models.CharField(max_length=64, blank=True, default="", db_default="", help_text="Live: the exchange's order id")
    attempts = models.PositiveSmallIntegerField(default=0, db_default=0, help_text="Live: submits sent (a resend reuses the "
                                                                     "client id, after a lookup)")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["bot", "client_id"], name="unique_order_client_id"),
                       models.UniqueConstraint(fields=["bot", "exchange_order_id"], condition=~Q(exchange_order_id=""),
                                               name="unique_order_exchange_id")]
        indexes = [models.Index(fields=["bot", "status"], name="order_bot_status")]

    def __str__(self) -> str:
        return f"{self.side} {self.amount} {self.type} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class Fill(models.Model):
    class Liquidity(models.TextChoices):
        MAKER = "maker"
        TAKER = "taker"

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="fills")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="fills")
    side = models.CharField(max_length=4, choices=Order.Side.choices)
    price = models.DecimalField(**DECIMAL)
    amount = models.DecimalField(**DECIMAL)
    fee = models.DecimalField(**DECIMAL)
    fee_currency = models.CharField(max_length=32)
    fee_quote = models.DecimalField(null=True, blank=True, help_text="Live: the fee valued in the quote currency "
                                    "(a fee in a third currency, e.g. BNB, at that currency's price when it filled); "
                                    "empty: not valued (fee_note says why)", **DECIMAL)
    fee_note = models.CharField(max_length=200, blank=True, default="", db_default="")
    slippage = models.DecimalField(default=0, **DECIMAL)
    reference_price = models.DecimalField(null=True, blank=True, **DECIMAL)
    liquidity = models.CharField(max_length=5, choices=Liquidity.choices)
    tick_key = models.BigIntegerField(null=True, blank=True)
    exchange_trade_id = models.CharField(max_length=64, blank=True, default="", db_default="", help_text="Live: the exchange's trade id "
                                                                              "(one fill per trade, ever)")
    ts = models.DateTimeField()

    class Meta:
        ordering = ["-ts", "-id"]
        indexes = [models.Index(fields=["bot", "ts"], name="fill_bot_ts")]
        constraints = [models.UniqueConstraint(fields=["bot", "exchange_trade_id"], condition=~Q(exchange_trade_id=""),
                                               name="unique_fill_exchange_trade_id")]

    def __str__(self) -> str:
        return f"{self.side} {self.amount} @ {self.price}"


class LiveCursor(models.Model):
    """Reconciliation's place per exchange key and symbol: the last exchange trade id taken in, and when the
    key's orders and balance were last checked (trading/execution/reconcile.py)."""

    key = models.ForeignKey("keys.ExchangeKey", on_delete=models.CASCADE, related_name="live_cursors")
    symbol = models.CharField(max_length=64)
    last_trade_id = models.CharField(max_length=64, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "symbol"], name="unique_live_cursor")]

    def __str__(self) -> str:
        return f"{self.key_id}:{self.symbol} after {self.last_trade_id or '-'}"


class EquitySnapshot(models.Model):
    """equity = quote + base * price, at most one per bot per EQUITY_SNAPSHOT_SECONDS (and after fills)."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="equity")
    ts = models.DateTimeField()
    price = models.DecimalField(**DECIMAL)
    base = models.DecimalField(**DECIMAL)
    quote = models.DecimalField(**DECIMAL)
    equity = models.DecimalField(**DECIMAL)

    class Meta:
        ordering = ["bot", "ts"]
        constraints = [models.UniqueConstraint(fields=["bot", "ts"], name="unique_equity_point")]
        # rows arrive in time order: a BRIN index on ts is tiny and lets the nightly compaction read an hour
        indexes = [BrinIndex(fields=["ts"], name="equity_ts_brin")]

    def __str__(self) -> str:
        return f"{self.bot_id} {self.ts:%Y-%m-%d %H:%M} {self.equity}"


class TickRun(models.Model):
    """One exchange tick as the bot runner saw it: counts and why bots were skipped (ops view)."""

    exchange = models.CharField(max_length=32)
    tick_key = models.BigIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    bots = models.IntegerField(default=0)
    evaluated = models.IntegerField(default=0)
    skipped = models.IntegerField(default=0)
    orders = models.IntegerField(default=0)
    fills = models.IntegerField(default=0)
    errors = models.IntegerField(default=0)
    notes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["exchange", "tick_key"], name="tickrun_exchange_key")]

    def __str__(self) -> str:
        return f"{self.exchange} tick {self.tick_key}"



# --- promotion to live (the workflow is trading/promotion/) ---------------------------------------

PCT = {"max_digits": 7, "decimal_places": 3}


class PromotionPolicy(models.Model):
    """The one platform row of promotion rules. Created from the PROMOTION_* settings; staff edit it in admin."""

    min_paper_days = models.PositiveIntegerField(help_text="Days since the bot's first paper fill.")
    min_closed_trades = models.PositiveIntegerField(help_text="Round trips (buy then sell) on paper.")
    min_win_rate_pct = models.DecimalField(help_text="Share of closed trades with a profit, %.", **PCT)
    min_profit_pct = models.DecimalField(help_text="Paper equity over the starting balance, %.", **PCT)
    require_staff_approval = models.BooleanField(help_text="A staff member with the approve-promotion "
                                                           "permission approves every request.")
    request_ttl_hours = models.PositiveIntegerField(help_text="A request not confirmed (or not decided) within "
                                                              "this many hours expires.")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False)

    class Meta:
        verbose_name = "promotion policy"
        verbose_name_plural = "promotion policy"

    def __str__(self) -> str:
        return "Platform promotion policy"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        errors = {}
        for name in ("min_win_rate_pct", "min_profit_pct"):
            value = getattr(self, name)
            if value is not None and not (-100 <= value <= 1000):
                errors[name] = "Between -100 and 1000."
        if self.request_ttl_hours is not None and not (1 <= self.request_ttl_hours <= 24 * 30):
            errors["request_ttl_hours"] = "Between 1 and 720 hours."
        if errors:
            raise ValidationError(errors)


class PromotionRequest(models.Model):
    """One attempt to take a bot from paper to live. Written only by trading.promotion.services."""

    class Status(models.TextChoices):
        PENDING_CONFIRMATION = "pending_confirmation"
        PENDING_APPROVAL = "pending_approval"
        APPROVED = "approved"  # the bot is live on this request's allocation
        REJECTED = "rejected"
        CANCELLED = "cancelled"
        EXPIRED = "expired"
        DEMOTED = "demoted"

    OPEN_STATUSES = ("pending_confirmation", "pending_approval", "approved")
    PENDING_STATUSES = ("pending_confirmation", "pending_approval")
    MAX_ATTEMPTS = 5

    bot = models.ForeignKey("trading.Bot", on_delete=models.CASCADE, related_name="promotions")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                     related_name="promotion_requests")
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.PENDING_CONFIRMATION)
    allocation = models.DecimalField(help_text="Live allocation in the quote currency.", **DECIMAL)
    quote_currency = models.CharField(max_length=32)
    key = models.ForeignKey("keys.ExchangeKey", null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="+", help_text="The key live orders will be signed with.")
    stats = models.JSONField(default=dict, help_text="Frozen at request time: the paper record and criteria.")
    limits = models.JSONField(default=dict, help_text="The risk limits that apply live, at request time.")
    require_approval = models.BooleanField(default=True)
    attempts = models.PositiveSmallIntegerField(default=0, db_default=0, help_text="Wrong confirmations so far.")
    expires_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_with = models.CharField(max_length=8, blank=True, help_text="phrase or totp")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="promotion_decisions")
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=500, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["bot"], condition=Q(status__in=("pending_confirmation",
                                                                            "pending_approval", "approved")),
                                    name="one_open_promotion_per_bot"),
        ]
        indexes = [models.Index(fields=["status", "-created_at"], name="promotion_status_created")]

    def __str__(self) -> str:
        return f"promotion #{self.pk} of bot {self.bot_id} ({self.status})"

    @property
    def attempts_left(self) -> int:
        return max(0, self.MAX_ATTEMPTS - self.attempts)
