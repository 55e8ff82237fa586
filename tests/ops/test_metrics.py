"""GET /metrics: the operator's figures in Prometheus text format, real trading behind them, never public."""

import json
import time
from decimal import Decimal

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from tests.bots_support import poll_and_tick, use_replay, write_recording
from trading.models import Fill, Order, TickRun
from trading.services.bots import bot_create, bot_start

pytestmark = pytest.mark.django_db


def _scrape(client: Client, **extra) -> dict[tuple[str, tuple], float]:
    reply = client.get("/metrics", **extra)
    assert reply.status_code == 200, reply.content
    assert reply["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(reply.content.decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def _staff_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_metrics_are_not_public(alice, settings):
    settings.METRICS_ALLOWED_IPS = ["10.1.2.0/24"]
    assert Client().get("/metrics").status_code == 403  # anonymous, from 127.0.0.1
    assert _staff_client(alice).get("/metrics").status_code == 403  # signed in but not staff
    assert Client(REMOTE_ADDR="10.1.2.77").get("/metrics").status_code == 200  # the Prometheus host
    assert Client(REMOTE_ADDR="10.1.3.1").get("/metrics").status_code == 403
    assert Client().post("/metrics").status_code in (403, 405)


def test_a_trading_platform_shows_its_ticks_prices_orders_and_fills(alice, charlie, settings, tmp_path):
    write_recording(tmp_path)
    use_replay(settings, tmp_path)
    bot = bot_start(bot=bot_create(owner=alice, name="Trend", exchange="binance", symbol="BTC/USDT",
                                   strategy="sma_cross", params={"fast": 3, "slow": 8},
                                   starting_balance=Decimal("1000"), seed=7), actor=alice)
    client = _staff_client(charlie)
    before = _scrape(client)  # leaves the checkpoint the window counts from
    assert ("tp_fills_5m", (("mode", "paper"),)) not in before
    for _ in range(60):
        poll_and_tick()
    samples = _scrape(client)

    fills = Fill.objects.filter(bot=bot).count()
    assert fills > 0
    assert samples[("tp_fills_5m", (("mode", "paper"),))] == fills
    filled = Order.objects.filter(bot=bot, status="filled").count()
    assert samples[("tp_orders_5m", (("mode", "paper"), ("status", "filled")))] == filled
    assert samples[("tp_bots", (("mode", "paper"), ("status", "running")))] == 1
    ex = (("exchange", "binance"),)
    assert samples[("tp_tick_bots", ex)] == 1
    latest = TickRun.objects.filter(exchange="binance").order_by("-tick_key").first()
    assert samples[("tp_tick_duration_seconds", ex)] == pytest.approx(
        (latest.finished_at - latest.started_at).total_seconds())
    assert samples[("tp_tick_duration_max_seconds", ex)] >= samples[("tp_tick_duration_seconds", ex)]
    price = (("exchange", "binance"), ("symbol", "BTC/USDT"))
    assert 0 <= samples[("tp_price_age_seconds", price)] < 30
    assert samples[("tp_price_stale", price)] == 0
    assert samples[("tp_emergency_stops_total", ())] == 0

    # a scrape a while later still counts the same window: nothing new, nothing counted twice
    again = _scrape(client)
    assert again[("tp_fills_5m", (("mode", "paper"),))] == fills


def test_a_stale_price_shows_its_age(charlie, settings):
    from config.redis import get_redis

    get_redis().hset("prices:binance", "ETH/USDT", json.dumps({
        "exchange": "binance", "symbol": "ETH/USDT", "bid": "1", "ask": "2", "last": "1.5", "ts": None,
        "received_at": time.time() - 95, "stale": True, "reason": "exchange timeout", "source": "ccxt"}))
    samples = _scrape(_staff_client(charlie))
    price = (("exchange", "binance"), ("symbol", "ETH/USDT"))
    assert samples[("tp_price_age_seconds", price)] == pytest.approx(95, abs=5)
    assert samples[("tp_price_stale", price)] == 1


def test_queues_outbox_heartbeats_and_emergency_stops_are_counted(alice, charlie, settings):
    from accounts.services import heartbeat_record
    from config.redis import get_redis
    from notifications.services import channel_create, notify
    from trading.execution.safety import emergency_stop

    settings.DINGTALK_WEBHOOK_URL = ""
    settings.NOTIFICATION_ALLOWED_HOSTS = ["127.0.0.1"]
    channel_create(owner=alice, kind="dingtalk", name="desk", webhook_url="http://127.0.0.1:9/robot/send?access_token=placeholder",
                   secret="SEC" + "0" * 20)
    r = get_redis()
    r.delete("celery", "alerts")
    r.rpush("alerts", "a", "b", "c")  # three tasks nobody picked up
    heartbeat_record(worker="worker")
    notify(user=alice, event="risk", severity="critical", title="Bot halted", text="daily loss")
    emergency_stop(user=alice, actor=alice, reason="test")
    samples = _scrape(_staff_client(charlie))
    try:
        assert samples[("tp_celery_queue_length", (("queue", "alerts"),))] == 3
        assert samples[("tp_celery_queue_length", (("queue", "celery"),))] == 0
    finally:
        r.delete("alerts")
    assert samples[("tp_worker_heartbeat_age_seconds", (("worker", "worker"),))] < 5
    assert ("tp_worker_heartbeat_age_seconds", (("worker", "alerts"),)) not in samples  # missing: alert on it
    assert samples[("tp_emergency_stops_total", ())] == 1
    assert samples[("tp_kill_switches_engaged", (("scope", "user"),))] == 1
    assert samples[("tp_risk_events_5m", (("code", "emergency_stop"), ("severity", "critical")))] == 1
    from notifications.models import Outbox

    pending = Outbox.objects.filter(state="pending").count()
    assert pending >= 1  # the test's transaction never commits, so nothing is sent
    assert samples[("tp_alert_outbox_backlog", (("state", "pending"),))] == pending


def test_a_fill_digest_waiting_for_its_window_is_not_a_late_alert(alice, charlie, settings):
    from datetime import timedelta

    from django.utils import timezone

    from notifications.models import Outbox
    from notifications.services import channel_create

    settings.NOTIFICATION_ALLOWED_HOSTS = ["127.0.0.1"]
    channel = channel_create(owner=alice, kind="dingtalk", name="desk",
                             webhook_url="http://127.0.0.1:9/robot/send?access_token=placeholder")
    now = timezone.now()
    Outbox.objects.create(channel=channel, user=alice, event="fills", severity="info", title="digest", bot_id=1,
                          created_at=now - timedelta(minutes=10), next_attempt_at=now + timedelta(minutes=5), items=4)
    assert _scrape(_staff_client(charlie))[("tp_alert_outbox_oldest_seconds", ())] == 0
    Outbox.objects.create(channel=channel, user=alice, event="risk", severity="critical", title="late",
                          created_at=now - timedelta(minutes=7), next_attempt_at=now - timedelta(minutes=7))
    assert _scrape(_staff_client(charlie))[("tp_alert_outbox_oldest_seconds", ())] == pytest.approx(420, abs=10)


def test_failed_alert_sends_of_the_last_5_minutes_are_counted_by_outcome(alice, charlie, settings):
    """tp_alert_delivery_failures_5m: a DingTalk robot that answers 503 is a "retry", a wrong signing secret a
    "failed" (given up, the channel disabled); a delivered message is no failure."""
    from notifications.models import Outbox
    from notifications.services import channel_create, notify, outbox_deliver
    from tests.notifications.dingtalk_standin import SECRET, DingTalkStandIn

    settings.DINGTALK_WEBHOOK_URL = ""
    settings.NOTIFICATION_ALLOWED_HOSTS = ["127.0.0.1"]

    def failures():
        samples = _scrape(_staff_client(charlie))
        return {o: samples[("tp_alert_delivery_failures_5m", (("outcome", o),))] for o in ("retry", "failed")}

    assert failures() == {"retry": 0, "failed": 0}
    robot = DingTalkStandIn().start()
    try:
        channel_create(owner=alice, kind="dingtalk", name="desk", webhook_url=robot.url, secret=SECRET)
        channel_create(owner=alice, kind="dingtalk", name="typo", webhook_url=robot.url, secret="SECwrong" + "0" * 20)
        notify(user=alice, event="risk", severity="critical", title="Bot halted", text="daily loss")
        good, wrong = Outbox.objects.order_by("channel__name")
        robot.mode = "fail"
        assert outbox_deliver(outbox_id=good.pk, now=good.next_attempt_at) == "retry"
        robot.mode = "ok"
        assert outbox_deliver(outbox_id=wrong.pk, now=wrong.next_attempt_at) == "failed"
        good.refresh_from_db()
        assert outbox_deliver(outbox_id=good.pk, now=good.next_attempt_at) == "ok"
    finally:
        robot.stop()
    assert failures() == {"retry": 1, "failed": 1}


def test_rejected_orders_risk_breaches_and_open_websockets_are_scraped(alice, charlie, settings):
    """What the runbook's alerts read: paper rejects by mode, a real risk breach (a daily-loss halt) by code,
    and the open WebSockets of every web process, all as /metrics shows them."""
    from config.redis import get_redis
    from ops.websockets import WS_KEY_PREFIX
    from risk.models import RiskEvent

    bot = bot_create(owner=alice, name="Rejects", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     params={}, starting_balance=Decimal("1000"))
    before = _scrape(_staff_client(charlie))
    Order.objects.create(bot=bot, client_id="metrics:reject", side="buy", type="market", amount=Decimal("1"),
                         status="rejected", reason="insufficient_funds: test")
    RiskEvent.objects.create(user=alice, bot=bot, code="daily_loss", severity="critical",
                             message="Daily loss limit reached: bot halted")
    get_redis().set(f"{WS_KEY_PREFIX}web-9:999", 3, ex=60)  # another web process's open sockets
    try:
        samples = _scrape(_staff_client(charlie))
    finally:
        get_redis().delete(f"{WS_KEY_PREFIX}web-9:999")
    key = ("tp_orders_5m", (("mode", "paper"), ("status", "rejected")))
    assert samples[key] == before.get(key, 0) + 1
    assert samples[("tp_risk_events_5m", (("code", "daily_loss"), ("severity", "critical")))] == 1
    assert samples[("tp_websocket_connections", ())] == before[("tp_websocket_connections", ())] + 3
