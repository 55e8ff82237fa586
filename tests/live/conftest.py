"""A live bot on the Binance emulator, reached the only way there is: an eligible paper record, a request,
the typed confirmation, staff approval; then started. Prices come from a replay recording (the shared poll),
orders go to the emulator through the real ccxt client with alice's key."""

from decimal import Decimal

import pytest

from tests.bots_support import use_replay, write_recording
from tests.promotion.fixtures import *  # noqa: F403
from trading.execution.ccxt_venue import live_clients_forget
from trading.models import Bot
from trading.promotion.services import promotion_approve, promotion_confirm, promotion_request
from trading.services.bots import bot_start
from trading.services.live_ticks import live_tick_run
from trading.services.prices import prices_poll


@pytest.fixture(autouse=True)
def _fresh_clients(settings):
    # one thread: the test's rows live in its transaction, which other threads' connections cannot see
    settings.LIVE_RECONCILE_WORKERS = 1
    live_clients_forget()
    yield
    live_clients_forget()


@pytest.fixture
def emu(use_binance_emulator, settings, tmp_path):
    write_recording(tmp_path)
    use_replay(settings, tmp_path)
    settings.CCXT_TIMEOUT_MS = 1500
    use_binance_emulator.set_price("BTC/USDT", "99.99", "100.01")  # where the recording trades
    return use_binance_emulator


@pytest.fixture
def make_live_bot(emu, make_eligible_bot, live_on, approver):
    def make(user, *, name="trend", allocation="500", params=None):
        bot = make_eligible_bot(user, name=name)
        if params is not None:
            Bot.objects.filter(pk=bot.pk).update(params=params)
        promotion_request(bot=Bot.objects.get(pk=bot.pk), actor=user, allocation=allocation)
        promotion_approve(promotion=promotion_confirm(bot=Bot.objects.get(pk=bot.pk), actor=user,
                                                      phrase="I UNDERSTAND"), actor=approver)
        return bot_start(bot=Bot.objects.get(pk=bot.pk), actor=user)

    return make


@pytest.fixture
def live_bot(alice, make_live_bot):
    return make_live_bot(alice)


def live_tick(exchange: str = "binance"):
    """One price poll of the replay feed, then the live bots' tick for it (what the worker does)."""
    result = prices_poll(exchange=exchange, symbols={"BTC/USDT"})
    key = int(max(t.received_at for t in result.ticks) * 1000)
    return live_tick_run(exchange=exchange, tick_key=key)


ZERO = Decimal(0)
