"""The tick with its neighbours: the price poll triggers it, the risk gate refuses orders under a kill switch,
fills raise a "fills" notification, and shards split one tick between workers."""

from decimal import Decimal

import pytest

from tests.bots_support import poll_and_tick, use_replay, write_recording
from trading.models import Fill, Order
from trading.services.bots import bot_create, bot_start
from trading.services.prices import prices_poll
from trading.services.ticks import tick_run
from trading.tasks import poll_prices

pytestmark = pytest.mark.django_db


@pytest.fixture
def recording(settings, tmp_path):
    write_recording(tmp_path)
    use_replay(settings, tmp_path)


def _buyer(owner, name="dca", seed=1):
    bot = bot_create(owner=owner, name=name, exchange="binance", symbol="BTC/USDT", strategy="dca",
                     params={"interval_minutes": 1, "order_amount": "10"}, starting_balance=Decimal("100"),
                     fill_overrides={"reject_rate": "0"}, seed=seed)
    return bot_start(bot=bot, actor=owner)


@pytest.fixture
def eager_celery():
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def test_each_price_poll_runs_the_exchanges_bots(alice, recording, eager_celery):
    bot = _buyer(alice)
    poll_prices()  # the poll task polls every symbol in use, then enqueues (here: runs) the tick
    assert Fill.objects.filter(bot=bot).count() == 1
    poll_prices()
    assert Fill.objects.filter(bot=bot).count() == 2  # one DCA buy per candle


def test_the_risk_gate_refuses_orders_while_the_kill_switch_is_engaged(alice, recording):
    from risk.models import RiskEvent
    from risk.services import kill_switch_engage

    bot = _buyer(alice)
    kill_switch_engage(scope="user", user=alice, actor=alice, reason="test")
    poll_and_tick()
    assert not Fill.objects.filter(bot=bot).exists()
    refused = Order.objects.get(bot=bot)
    assert refused.status == "rejected" and refused.reason.startswith("kill_switch:")
    assert RiskEvent.objects.filter(bot=bot, code="kill_switch").exists()
    bot.refresh_from_db()
    assert bot.quote == Decimal("100") and bot.base == 0


def test_fills_raise_a_fills_notification(alice, recording, settings, django_capture_on_commit_callbacks):
    from notifications.models import Outbox
    from notifications.services import channel_create

    settings.NOTIFICATION_ALLOWED_HOSTS = ["127.0.0.1"]
    channel_create(owner=alice, kind="apprise", name="hook", apprise_url="json://127.0.0.1:9/alerts",
                   events=["fills"])
    bot = _buyer(alice, name="Stacker")
    with django_capture_on_commit_callbacks(execute=True):
        poll_and_tick()
    row = Outbox.objects.get(event="fills")
    assert row.user_id == alice.pk and row.bot_id == bot.pk and row.severity == "info"
    assert row.title == "Stacker: 1 fill(s)" and row.text.startswith("- buy ") and "BTC @ " in row.text
    assert row.items == 1 and row.bot_label == "Stacker (BTC/USDT)"


@pytest.mark.parametrize("market", [False, True], ids=["markets-unknown", "market-steps"])
def test_fill_alerts_show_amounts_and_prices_at_the_markets_precision(alice, recording, settings, market,
                                                                     django_capture_on_commit_callbacks):
    import re

    from notifications.models import Outbox
    from notifications.services import channel_create
    from trading.models import Market

    settings.NOTIFICATION_ALLOWED_HOSTS = ["127.0.0.1"]
    if market:
        Market.objects.create(exchange="binance", symbol="BTC/USDT", base="BTC", quote="USDT",
                              price_step=Decimal("0.01"), amount_step=Decimal("0.00001"), min_cost=Decimal("5"))
    channel_create(owner=alice, kind="apprise", name="hook", apprise_url="json://127.0.0.1:9/alerts",
                   events=["fills"])
    bot = _buyer(alice, name="Stacker")
    with django_capture_on_commit_callbacks(execute=True):
        poll_and_tick()
    fill = Fill.objects.get(bot=bot)
    text = Outbox.objects.get(event="fills").text
    shown = re.fullmatch(r"- buy (\d+\.\d+) BTC @ (\d+(?:\.\d+)?) USDT", text)
    assert shown, text
    if market:  # the market's steps: 5 amount decimals, 2 price decimals
        assert text == f"- buy {fill.amount:.5f} BTC @ {fill.price:.2f} USDT"
    else:  # steps unknown: exact amounts can run to 18 digits; a message shows at most 8, trailing zeros dropped
        assert len(f"{fill.amount.normalize():f}".partition(".")[2]) > 8
        assert len(shown[1].partition(".")[2]) <= 8 and Decimal(shown[1]) == fill.amount.quantize(Decimal("1e-8"))


def test_shards_split_one_tick_between_workers_without_overlap(alice, recording):
    bots = [_buyer(alice, name=f"dca {i}", seed=i) for i in range(6)]
    result = prices_poll(exchange="binance", symbols={"BTC/USDT"})
    key = int(result.ticks[0].received_at * 1000)
    first = tick_run(exchange="binance", tick_key=key, shard=0, shards=2)
    second = tick_run(exchange="binance", tick_key=key, shard=1, shards=2)
    repeated = tick_run(exchange="binance", tick_key=key, shard=0, shards=2)
    assert first.evaluated == second.evaluated == 3 and repeated.evaluated == 0
    assert Fill.objects.filter(bot__in=bots).count() == 6


def test_a_paper_bot_never_loads_or_decrypts_an_exchange_key(alice, recording, monkeypatch):
    from config.vault import Vault
    from keys.services import key_create
    from trading.execution.flatten import position_flatten

    key_create(owner=alice, exchange="binance", label="main", api_key="A" * 64, secret="S" * 64)

    def refuse(*args, **kwargs):
        raise AssertionError("a paper bot touched an exchange key")

    monkeypatch.setattr(Vault, "decrypt", refuse)
    monkeypatch.setattr("keys.services.key_credentials", refuse)
    bot = _buyer(alice)
    for _ in range(3):
        poll_and_tick()
    assert Fill.objects.filter(bot=bot).count() == 3
    assert position_flatten(bot=bot, reason="test").status == "filled"
    bot.refresh_from_db()
    assert bot.base == 0


def test_the_tick_log_keeps_a_week(alice):
    from datetime import timedelta

    from django.utils import timezone

    from trading.models import TickRun
    from trading.services.ticks import tick_runs_prune

    now = timezone.now()
    old = TickRun.objects.create(exchange="binance", tick_key=1, started_at=now - timedelta(days=8))
    recent = TickRun.objects.create(exchange="binance", tick_key=2, started_at=now - timedelta(days=6))
    assert tick_runs_prune() == 1
    assert list(TickRun.objects.values_list("pk", flat=True)) == [recent.pk] and old.pk != recent.pk


def test_a_limit_order_filled_completely_on_arrival_stays_a_limit_order(alice, recording, monkeypatch):
    """E.g. a grid's sell placed after the market gapped through its level: it fills at once as taker."""
    from trading.engine.strategies import STRATEGIES
    from trading.engine.strategies.dca import Dca
    from trading.engine.types import Intent

    class OneMarketableLimit(Dca):
        id = "one_marketable_limit"

        def decide(self, ctx):
            if ctx.state.get("placed"):
                return []
            ctx.state["placed"] = str(ctx.last_price * Decimal("1.05"))
            return [Intent("buy", "limit", amount=Decimal("0.1"), price=Decimal(ctx.state["placed"]),
                           reason="limit above the market")]

    monkeypatch.setitem(STRATEGIES, OneMarketableLimit.id, OneMarketableLimit)
    bot = bot_create(owner=alice, name="eager", exchange="binance", symbol="BTC/USDT", strategy=OneMarketableLimit.id,
                     params={"interval_minutes": 1, "order_amount": "10"}, starting_balance=Decimal("100"),
                     fill_overrides={"reject_rate": "0"}, seed=3)
    bot_start(bot=bot, actor=alice)
    for _ in range(3):
        poll_and_tick()

    order = Order.objects.get(bot=bot, reason="limit above the market")
    bot.refresh_from_db()
    limit = Decimal(bot.state["strategy"]["placed"])
    assert order.type == "limit" and order.price == limit
    assert order.status == "filled" and order.filled == Decimal("0.1") and order.average_price <= limit
    assert Fill.objects.get(order=order).liquidity == "taker"


def test_the_tick_keeps_a_bot_cooling_down_after_a_recent_breach(alice, recording):
    from datetime import timedelta

    from django.utils import timezone

    from risk.models import RiskEvent

    cooling, cooled = _buyer(alice, "cooling", seed=1), _buyer(alice, "cooled", seed=2)
    RiskEvent.objects.create(user=alice, bot=cooling, code="daily_loss", message="breach a minute ago")
    old = RiskEvent.objects.create(user=alice, bot=cooled, code="daily_loss", message="breach two hours ago")
    RiskEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))  # cool-down: 60 min
    for _ in range(3):
        poll_and_tick()
    assert not Fill.objects.filter(bot=cooling).exists()
    assert Order.objects.filter(bot=cooling, status="rejected", reason__startswith="cooldown").exists()
    assert Fill.objects.filter(bot=cooled).exists()
