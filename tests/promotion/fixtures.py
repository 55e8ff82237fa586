"""Fixtures for the promotion workflow: an eligible paper record, a tested key on the Binance emulator,
a staff approver. Import them with `from tests.promotion.fixtures import *`.

The paper record is written as the tick would leave it (orders, fills, wallet), spread over past days.
"""

from datetime import timedelta
from decimal import Decimal

import pyotp
import pytest
from django.utils import timezone

from tests.emulator.binance import API_KEY, SECRET
from tests.emulator.fixtures import *  # noqa: F403
from tests.emulator.fixtures import __all__ as _emulator_fixtures

__all__ = [*_emulator_fixtures, "approver", "eligible_bot", "live_on", "make_eligible_bot", "paper_record_write",
           "promotion_alerts", "totp_for"]


def paper_record_write(bot, *, trades: int = 30, wins: int = 20, days: float = 10, profit_pct: str = "5") -> None:
    """`trades` round trips (buy 1 at 100, sell at 110 for a win or 95 for a loss) over the last `days`."""
    from trading.models import Bot, Fill, Order

    start = timezone.now() - timedelta(days=days)
    step = timedelta(days=days) / (trades * 2 + 1)
    for i in range(trades):
        for j, (side, price) in enumerate((("buy", Decimal(100)), ("sell", Decimal(110 if i < wins else 95)))):
            ts = start + step * (2 * i + j)
            order = Order.objects.create(bot=bot, client_id=f"rec:{i}:{side}", side=side, type="market",
                                         amount=Decimal(1), status="filled", filled=Decimal(1),
                                         average_price=price, created_at=ts, updated_at=ts, closed_at=ts)
            Fill.objects.create(bot=bot, order=order, side=side, price=price, amount=Decimal(1), fee=Decimal(0),
                                fee_currency="USDT", liquidity="taker", ts=ts)
    equity = bot.starting_balance * (1 + Decimal(profit_pct) / 100)
    Bot.objects.filter(pk=bot.pk).update(quote=equity, base=0, last_price=Decimal(100))
    bot.refresh_from_db()


@pytest.fixture
def live_on(settings):
    settings.ENABLE_LIVE_TRADING = True
    return settings


@pytest.fixture
def make_eligible_bot(use_binance_emulator):
    """make_eligible_bot(user) -> a paper bot meeting the default criteria, with a tested key for binance."""
    from keys.services import key_create, key_test
    from trading.services.bots import bot_create

    def make(user, *, name: str = "trend", key: bool = True, **record):
        bot = bot_create(owner=user, name=name, exchange="binance", symbol="BTC/USDT", strategy="dca",
                         params={"interval_minutes": 1, "order_amount": "10"}, starting_balance=Decimal("1000"))
        paper_record_write(bot, **record)
        if key and not user.exchange_keys.filter(exchange="binance").exists():
            k = key_create(owner=user, exchange="binance", label="main", api_key=API_KEY, secret=SECRET)
            assert key_test(key=k, actor=user)["ok"]
        return bot

    return make


@pytest.fixture
def eligible_bot(alice, make_eligible_bot, live_on):
    return make_eligible_bot(alice)


@pytest.fixture
def approver(make_user):
    """dave: staff with the approve-promotion permission (the risk officer role)."""
    from django.contrib.auth.models import Permission

    dave = make_user("dave", staff=True)
    dave.user_permissions.add(Permission.objects.get(codename="approve_promotion", content_type__app_label="risk"))
    return type(dave).objects.get(pk=dave.pk)  # a fresh instance: no stale permission cache


@pytest.fixture
def totp_for():
    """totp_for(user) -> a pyotp.TOTP after turning TOTP on for the user."""
    from accounts.services import totp_enroll_confirm, totp_enroll_start

    def enroll(user):
        _, secret = totp_enroll_start(user=user)
        totp = pyotp.TOTP(secret)
        totp_enroll_confirm(user=user, code=totp.generate_otp(totp.timecode(timezone.now()) - 1))
        user.refresh_from_db()
        return totp

    return enroll


@pytest.fixture
def promotion_alerts(settings):
    """promotion_alerts(user) -> a queryset of the user's queued `promotion` alerts (a channel is created)."""
    from notifications.models import Outbox
    from notifications.services import channel_create

    settings.NOTIFICATION_ALLOWED_HOSTS = ["127.0.0.1"]

    def alerts(user):
        if not user.notification_channels.exists():
            channel_create(owner=user, kind="apprise", name="hook", apprise_url="json://127.0.0.1:9/x",
                           events=["promotion"])
        return Outbox.objects.filter(user=user, event="promotion").order_by("id")

    return alerts
