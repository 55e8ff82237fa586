"""The bot page's chart: the candles the bot decides on (its timeframe, built from the stored 1m candles as
the tick builds them) and its strategy's indicators, computed by the engine's own functions
(trading.engine.runner.indicators -> Strategy.indicators), never re-implemented in the page."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone

from trading.engine.candles import aggregate, frame_ms, frame_start, minutes_per
from trading.engine.runner import indicators
from trading.engine.strategies import get_strategy
from trading.engine.types import Bar
from trading.models import Bot, Candle

MAX_CHART_BARS = 500


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def bot_chart(*, bot: Bot, limit: int = 120, now: datetime | None = None) -> dict:
    """{"timeframe", "strategy", "candles": [{"t", "open", "high", "low", "close", "volume", "closed"}],
    "indicators": engine.runner.indicators(...)} for the last `limit` candles of the bot's timeframe.

    Candles are closed ones (what the strategy sees) plus the one still forming (`closed: false`, drawn
    but never part of an indicator). The indicators get enough older candles for their lookback."""
    limit = max(1, min(int(limit), MAX_CHART_BARS))
    frame, minutes = frame_ms(bot.timeframe), minutes_per(bot.timeframe)
    warm = get_strategy(bot.strategy, bot.params).warmup_bars()
    rows_wanted = (limit + warm + 1) * minutes
    rows = list(Candle.objects.filter(exchange=bot.exchange, symbol=bot.symbol, timeframe="1m")
                .order_by("-ts").values_list("ts", "open", "high", "low", "close", "volume")[:rows_wanted])
    bars = [Bar(_ms(ts), o, h, lo, c, v) for ts, o, h, lo, c, v in reversed(rows)]
    cut = frame_start(_ms(now or timezone.now()), frame)
    closed = aggregate(bars, frame, before_ms=cut)
    if len(rows) == rows_wanted and closed and frame > 60_000:
        closed = closed[1:]  # the oldest bucket may be missing minutes older than the rows read
    forming = aggregate([b for b in bars if b.ts_ms >= cut], frame, before_ms=cut + frame)
    values = indicators(strategy_id=bot.strategy, params=bot.params, state=bot.state, closed_bars=closed,
                        in_position=bot.base > 0, window=limit)
    keep = max(0, limit - len(forming))
    shown = [(b, True) for b in (closed[max(0, len(closed) - keep):] if keep else [])] + [(b, False) for b in forming]
    return {"timeframe": bot.timeframe, "strategy": bot.strategy,
            "candles": [{"t": b.ts_ms, "time": datetime.fromtimestamp(b.ts_ms / 1000, tz=UTC), "open": b.open,
                         "high": b.high, "low": b.low, "close": b.close, "volume": b.volume, "closed": done}
                        for b, done in shown],
            "indicators": values}
