"""POST /api/bots/{id}/backtest/: replay the bot's own settings over its market's stored candles.

Read-only for the platform (no order, fill or equity row is written, no exchange key is touched), so
any owner may run it whatever the bot's status. A run costs up to a couple of seconds of CPU: a per-user
throttle and one run at a time per user keep one person from occupying the workers.
"""

from django.core.cache import cache
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from config.api import DomainError
from trading.selectors import bots_for
from trading.services.backtests import BACKTEST_MAX_BARS, TIMEFRAMES, backtest_progress, bot_backtest

DECIMAL_HELP = "decimal as a string"


class BotBacktestIn(serializers.Serializer):
    start = serializers.DateTimeField(required=False, allow_null=True,
                                      help_text="First candle open time to include (ISO 8601, UTC if no offset)")
    end = serializers.DateTimeField(required=False, allow_null=True,
                                    help_text="Last candle open time to include (default: the newest candle)")
    timeframe = serializers.ChoiceField(choices=TIMEFRAMES, required=False,
                                        help_text="Candle timeframe to replay (default: the bot's own timeframe)")
    bars = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=BACKTEST_MAX_BARS,
                                    help_text="Only the newest N candles of the range")
    fetch = serializers.BooleanField(required=False, default=False,
                                     help_text="First fetch the range's missing candles from the exchange (stored once)")

    def validate(self, attrs):
        start, end = attrs.get("start"), attrs.get("end")
        if start is not None and end is not None and start >= end:
            raise serializers.ValidationError({"end": "Must be after the start."})
        return attrs


class BotBacktestCandlesOut(serializers.Serializer):
    count = serializers.IntegerField()
    first = serializers.DateTimeField(allow_null=True)
    last = serializers.DateTimeField(allow_null=True)
    first_ts_ms = serializers.IntegerField(allow_null=True)
    last_ts_ms = serializers.IntegerField(allow_null=True)


class BotBacktestTradeOut(serializers.Serializer):
    entry_time = serializers.CharField(allow_null=True)
    entry_ts_ms = serializers.IntegerField(allow_null=True)
    entry_price = serializers.CharField(help_text=DECIMAL_HELP)
    exit_time = serializers.CharField(allow_null=True)
    exit_ts_ms = serializers.IntegerField(allow_null=True)
    exit_price = serializers.CharField(allow_null=True, help_text=DECIMAL_HELP)
    amount = serializers.CharField(help_text=DECIMAL_HELP)
    fee = serializers.CharField(help_text="entry and exit fee shares, quote currency")
    pnl = serializers.CharField(help_text="net of fees, quote currency (open: unrealized at the last close)")
    return_pct = serializers.CharField(help_text=DECIMAL_HELP)


class BotBacktestEquityPointOut(serializers.Serializer):
    ts = serializers.CharField()
    ts_ms = serializers.IntegerField()
    equity = serializers.CharField(help_text=DECIMAL_HELP)


class BotBacktestWalletOut(serializers.Serializer):
    base = serializers.CharField()
    quote = serializers.CharField()


class BotBacktestHistoryOut(serializers.Serializer):
    fetched = serializers.IntegerField(help_text="candles fetched and stored by this run")
    pages = serializers.IntegerField(help_text="fetch_ohlcv requests made")
    missing_before = serializers.IntegerField(help_text="candles of the window that were not stored")
    error = serializers.CharField(allow_null=True, help_text="why fetching failed (the backtest used what is stored)")


class BotBacktestProgressOut(serializers.Serializer):
    state = serializers.ChoiceField(choices=["idle", "fetching", "running"])
    done = serializers.IntegerField()
    total = serializers.IntegerField()


class BotBacktestOut(serializers.Serializer):
    bot_id = serializers.IntegerField()
    exchange = serializers.CharField()
    symbol = serializers.CharField()
    base_currency = serializers.CharField()
    quote_currency = serializers.CharField()
    strategy = serializers.CharField()
    params = serializers.JSONField()
    seed = serializers.IntegerField()
    timeframe = serializers.CharField()
    candles = BotBacktestCandlesOut()
    starting_balance = serializers.CharField(help_text=DECIMAL_HELP)
    final_equity = serializers.CharField(help_text=DECIMAL_HELP)
    return_pct = serializers.CharField(help_text=DECIMAL_HELP)
    closed_trades = serializers.IntegerField()
    win_rate = serializers.CharField(allow_null=True, help_text="% of closed trades with a profit; null before one")
    max_drawdown_pct = serializers.CharField(help_text=DECIMAL_HELP)
    fees_paid = serializers.CharField(help_text="quote currency")
    realized_pnl = serializers.CharField(help_text=DECIMAL_HELP)
    unrealized_pnl = serializers.CharField(help_text=DECIMAL_HELP)
    trades = BotBacktestTradeOut(many=True, help_text="closed round trips, FIFO")
    open_trades = BotBacktestTradeOut(many=True, help_text="the position still open at the end")
    fills = serializers.IntegerField(help_text="number of fills")
    rejects = serializers.DictField(child=serializers.IntegerField(), help_text="refused orders by reason code")
    risk_refusals = serializers.DictField(child=serializers.IntegerField())
    halted = serializers.JSONField(allow_null=True, help_text="{ts_ms, time, code, message} if a breaker stopped it")
    final_wallet = BotBacktestWalletOut()
    equity_curve = BotBacktestEquityPointOut(many=True, help_text="at most ~1,000 points (downsampled)")
    equity_points = serializers.IntegerField(help_text="points in the full curve")
    elapsed_ms = serializers.IntegerField()
    history = BotBacktestHistoryOut(allow_null=True, help_text="What was fetched from the exchange (fetch=true)")


class BacktestRunning(DomainError):
    code = "backtest_running"
    status = 409


def running_key(user_id: int) -> str:
    return f"bot-backtest-running:{user_id}"


class BacktestThrottle(UserRateThrottle):
    scope = "bot_backtest"
    rate = "20/min"

    def get_rate(self):
        return self.rate


class BotBacktestApi(APIView):
    throttle_classes = [BacktestThrottle]

    @extend_schema(request=BotBacktestIn, responses={200: BotBacktestOut},
                   summary="Backtest the bot's own settings over stored candles",
                   description="Replays the bot's strategy, params, starting balance, fill settings, risk limits "
                               "and seed over its market's stored candles on the paper engine. Writes nothing. "
                               f"At most {BACKTEST_MAX_BARS:,} candles; 400 not_enough_candles when the range "
                               "holds fewer than the strategy needs.")
    def post(self, request, pk: int):
        bot = get_object_or_404(bots_for(request.user), pk=pk)
        data = BotBacktestIn(data=request.data)
        data.is_valid(raise_exception=True)
        key = running_key(request.user.pk)
        if not cache.add(key, 1, timeout=120):  # expires by itself should a worker die mid-run
            raise BacktestRunning("One of your backtests is still running; wait for it to finish.")
        try:
            result = bot_backtest(bot=bot, **data.validated_data)
        finally:
            cache.delete(key)
        return Response(BotBacktestOut(result).data)


class BotBacktestProgressApi(APIView):
    @extend_schema(responses={200: BotBacktestProgressOut}, summary="Progress of the bot's running backtest",
                   description="Poll while POST backtest/ runs: fetching (candles done of total), running, idle.")
    def get(self, request, pk: int):
        bot = get_object_or_404(bots_for(request.user), pk=pk)
        return Response(BotBacktestProgressOut(backtest_progress(bot=bot)).data)
