"""A replay whose step Redis lost (restarted without its data) goes on where the running bots stand, not
from the first candle: from there the bots would sit idle until the replay came back to where they were."""

from decimal import Decimal

import pytest

from config.redis import get_redis
from tests.bots_support import poll_and_tick, recording_bars, use_replay, write_recording
from trading.models import Bot
from trading.price_selectors import STEP_KEY
from trading.services.bots import bot_create, bot_start

pytestmark = pytest.mark.django_db


def test_the_replay_resumes_after_the_bots_last_candle_when_its_step_is_lost(alice, settings, tmp_path):
    bars = recording_bars(write_recording(tmp_path, bars=60))
    use_replay(settings, tmp_path)
    bot = bot_start(bot=bot_create(owner=alice, name="Trend", exchange="binance", symbol="BTC/USDT",
                                   strategy="sma_cross", params={"fast": 3, "slow": 8},
                                   starting_balance=Decimal("1000"), seed=3), actor=alice)
    for _ in range(20):
        poll_and_tick()
    bot.refresh_from_db()
    last = bot.state["engine"]["last_bar_ms"]
    assert last == bars[19].ts_ms

    get_redis().delete(STEP_KEY.format(exchange="binance"))  # what a Redis restart without its data does
    result, summary = poll_and_tick()
    assert result.ticks[0].exchange_ts == bars[20].ts_ms  # the candle after the bot's last, not bars[0]
    assert summary.evaluated == 1
    bot = Bot.objects.get(pk=bot.pk)
    assert bot.state["engine"]["last_bar_ms"] == bars[20].ts_ms
