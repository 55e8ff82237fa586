"""Circuit breakers on a replay that crashes the price: the bot halts at the daily-loss threshold, its open
orders are cancelled, and a risk event and an alert (outbox row) exist. Also the beat-scheduled monitor."""

from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from notifications.models import Outbox
from notifications.services import channel_create
from risk.models import RiskEvent
from tests.bots_support import START_MS, poll_and_tick, use_replay
from tests.risk.conftest import create_bot, put_ticker
from trading.execution.monitor import risk_monitor_run
from trading.models import Bot, EquitySnapshot, Order
from trading.services.bots import bot_create, bot_start
from trading.tasks import risk_monitor as monitor

pytestmark = pytest.mark.django_db


def write_crash(directory: Path) -> Path:
    """20 calm minutes around 100, then -2 per minute down to 60, then flat."""
    closes = [Decimal("100") + (Decimal("0.2") if i % 2 else Decimal("-0.2")) for i in range(20)]
    closes += [Decimal(100 - 2 * k) for k in range(1, 21)]
    closes += [Decimal(60)] * 10
    lines = ["timestamp_ms,open,high,low,close,volume"]
    prev = closes[0]
    for i, close in enumerate(closes):
        lines.append(f"{START_MS + i * 60_000},{prev},{max(prev, close) + Decimal('0.1')},"
                     f"{min(prev, close) - Decimal('0.1')},{close},1000")
        prev = close
    path = directory / "binance_BTC-USDT_1m.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def alerts_channel(alice, settings):
    settings.NOTIFICATION_ALLOWED_HOSTS = ["127.0.0.1"]
    return channel_create(owner=alice, kind="apprise", name="desk", apprise_url="json://127.0.0.1:9/alerts",
                          events=["risk", "kill_switch"], min_severity="warning")


def loss_pct(equity: Decimal, start: Decimal) -> Decimal:
    return (start - equity) / start * 100


def test_a_price_crash_halts_the_grid_bot_at_the_daily_loss_threshold(alice, settings, tmp_path, alerts_channel):
    write_crash(tmp_path)
    use_replay(settings, tmp_path)
    bot = bot_create(owner=alice, name="Grid", exchange="binance", symbol="BTC/USDT", strategy="grid",
                     params={"lower": "60", "upper": "100", "levels": 9, "order_amount": "100"},
                     starting_balance=Decimal("1000"), seed=3)
    bot_start(bot=bot, actor=alice)

    halted_at = None
    for step in range(49):
        poll_and_tick()
        bot.refresh_from_db()
        if bot.status == "halted":
            halted_at = step
            break
    assert halted_at is not None, "a 40 % crash with a full grid must trip the 5 % daily loss breaker"

    # halted at the threshold: every equity point before the last was within the limit, the last one beyond it
    points = [p.equity for p in EquitySnapshot.objects.filter(bot=bot).order_by("ts")]
    start = points[0]
    assert all(loss_pct(e, start) < 5 for e in points[:-1])
    assert loss_pct(points[-1], start) >= 5
    assert "Circuit breaker" in bot.halt_reason and "Daily loss" in bot.halt_reason

    # its resting grid orders were cancelled and nothing is held back for them any more
    assert not Order.objects.filter(bot=bot, status__in=Order.OPEN_STATUSES).exists()
    assert Order.objects.filter(bot=bot, status="cancelled").count() >= 1
    assert bot.quote_reserved == 0 and bot.base_reserved == 0

    event = RiskEvent.objects.get(bot=bot, code="daily_loss")
    assert event.severity == "critical" and event.user == alice
    alert = Outbox.objects.get(user=alice, event="risk")
    assert alert.severity == "critical" and alert.bot_id == bot.pk and "halted" in alert.title

    # a halted bot stays halted: the rest of the replay changes nothing
    orders_then = Order.objects.filter(bot=bot).count()
    for _ in range(5):
        poll_and_tick()
    bot.refresh_from_db()
    assert bot.status == "halted" and Order.objects.filter(bot=bot).count() == orders_then


def test_the_monitor_halts_a_bot_whose_position_lost_too_much(alice, bob, alerts_channel):
    # both bought 0.01 BTC at 20,000 with 1000 quote; the day started at 1000 equity
    memory = {"risk": {"day": timezone.now().strftime("%Y-%m-%d"), "day_start_equity": "1000",
                       "peak_equity": "1000"}}
    losing = create_bot(alice, name="loser", quote="800", base="0.01", state=memory)
    other_symbol = create_bot(bob, name="fine", quote="800", base="1", symbol="ETH/USDT", state=memory)
    open_order = Order.objects.create(bot=losing, client_id="x:1", side="buy", type="limit",
                                      amount=Decimal("0.001"), price=Decimal("14000"), status="open")
    put_ticker("binance", "BTC/USDT", "14000")  # 800 + 140 = 940: -6 %
    put_ticker("binance", "ETH/USDT", "200")  # 800 + 200 = 1000: flat

    monitor.apply()  # what beat runs (ENABLE_SCHEDULERS is on in tests)

    losing.refresh_from_db()
    other_symbol.refresh_from_db()
    assert losing.status == "halted" and other_symbol.status == "running"
    open_order.refresh_from_db()
    assert open_order.status == "cancelled"
    assert RiskEvent.objects.filter(bot=losing, code="daily_loss").exists()
    assert Outbox.objects.filter(user=alice, event="risk", severity="critical").exists()


def test_the_monitor_halts_all_of_a_users_bots_on_the_accounts_daily_loss(alice, bob):
    from risk.services import policy_tighten

    memory = {"risk": {"day": timezone.now().strftime("%Y-%m-%d"), "day_start_equity": "1000",
                       "peak_equity": "1000"}}
    # alone, each bot is within its 5 %: -4 % and -2.5 %; together -3.25 %
    a = create_bot(alice, name="a", quote="800", base="0.01", state=memory)
    b = create_bot(alice, name="b", quote="815", base="0.01", state=memory)
    bobs = create_bot(bob, name="c", quote="800", base="0.01", state=memory)
    put_ticker("binance", "BTC/USDT", "16000")
    assert risk_monitor_run()["halted"] == []  # the account limit is 5 % by default

    policy_tighten(actor=alice, user=alice, values={"user_daily_loss_pct": Decimal("3")})
    summary = risk_monitor_run()

    assert summary["users_halted"] == [alice.pk]
    assert sorted(summary["halted"]) == sorted([a.pk, b.pk])
    assert set(Bot.objects.filter(owner=alice).values_list("status", flat=True)) == {"halted"}
    assert Bot.objects.get(pk=bobs.pk).status == "running"  # bob's account is his own
    assert RiskEvent.objects.filter(user=alice, code="user_daily_loss").count() == 2


def test_the_monitor_is_on_the_beat_schedule():
    from django_celery_beat.models import PeriodicTask

    from trading.services.schedules import periodic_tasks_ensure

    periodic_tasks_ensure()  # what post_migrate runs
    task = PeriodicTask.objects.get(name="Risk monitor")
    assert task.task == "risk.monitor" and task.enabled and task.interval.every == 30
    from config.celery import app

    app.loader.import_default_modules()
    assert "risk.monitor" in app.tasks
