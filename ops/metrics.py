"""The figures an operator alerts on, in Prometheus' text format, read fresh from the database and Redis
at each scrape (prometheus-client renders them; nothing is counted in process memory, so every web
process and host answers the same).

Everything is cheap to read: the tick log by its (exchange, tick_key) index, prices from one Redis hash
per exchange, risk events and delivery attempts by their time indexes, and orders and fills by primary-key
range from a checkpoint (see `_since_checkpoint`) instead of a scan of the whole table.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Case, Count, Max, Min, Sum, When
from django.db.models.functions import Greatest
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from accounts.services import WORKERS, heartbeat_key
from config.redis import get_redis
from notifications.models import DeliveryAttempt, Outbox
from ops.beat import beats_running
from ops.websockets import websockets_open
from risk.models import KillSwitch, RiskEvent
from trading.models import Bot, Fill, Order, TickRun
from trading.price_selectors import PRICES_KEY

WINDOW_SECONDS = 300  # orders, fills, rejects, risk events, delivery failures: "in the last 5 minutes"
TICK_WINDOW_SECONDS = 900
CHECKPOINTS_KEY = "ops:metrics:checkpoints:{table}"  # sorted set: unix time -> highest id then
QUEUES = ("celery", "alerts")


def _since_checkpoint(model, table: str, now: float) -> int:
    """The lowest primary key created within the window, from checkpoints each scrape leaves in Redis.

    Ids only grow, so "rows with pk > the highest pk WINDOW_SECONDS ago" are the rows of the window
    (a transaction that commits late lands in a later window, never twice). The first scrape of a
    fresh Redis has no checkpoint yet and counts from the window's start by time, once.
    """
    r = get_redis()
    key = CHECKPOINTS_KEY.format(table=table)
    top = model.objects.aggregate(top=Max("pk"))["top"] or 0
    r.zadd(key, {f"{top}:{now:.3f}": now})
    r.zremrangebyscore(key, 0, now - 2 * WINDOW_SECONDS)
    r.expire(key, 4 * WINDOW_SECONDS)
    older = r.zrevrangebyscore(key, now - WINDOW_SECONDS, 0, start=0, num=1)
    if older:
        return int(older[0].split(":", 1)[0]) + 1
    # a fill's ts is market time (a replay's candles are old): its order's creation is our clock
    field = "order__created_at" if model is Fill else "created_at"
    since = timezone.now() - timedelta(seconds=WINDOW_SECONDS)
    first = model.objects.filter(**{f"{field}__gte": since}).aggregate(low=Min("pk"))["low"]
    return first if first is not None else top + 1


class PlatformCollector(Collector):
    def collect(self):
        now = time.time()
        yield from self._ticks(now)
        yield from self._prices(now)
        yield from self._trading(now)
        yield from self._risk()
        yield from self._alerts()
        yield from self._processes(now)

    def _ticks(self, now: float):
        duration = GaugeMetricFamily("tp_tick_duration_seconds", "The latest finished bot tick: from the price "
                                     "tick to its last shard done", labels=["exchange"])
        slowest = GaugeMetricFamily("tp_tick_duration_max_seconds", "The slowest bot tick of the last 15 minutes",
                                    labels=["exchange"])
        bots = GaugeMetricFamily("tp_tick_bots", "Bots the latest tick ran", labels=["exchange"])
        errors = GaugeMetricFamily("tp_tick_errors", "Bots that failed in the latest tick", labels=["exchange"])
        age = GaugeMetricFamily("tp_tick_age_seconds", "Seconds since the latest bot tick started",
                                labels=["exchange"])
        since_ms = int((now - TICK_WINDOW_SECONDS) * 1000)
        for exchange in settings.SUPPORTED_EXCHANGES:
            rows = list(TickRun.objects.filter(exchange=exchange, tick_key__gte=since_ms).values("tick_key")
                        .annotate(start=Min("started_at"), end=Max("finished_at"), bots=Sum("bots"),
                                  errors=Sum("errors")).order_by("-tick_key"))
            if not rows:
                continue
            seconds = [(r["end"] - r["start"]).total_seconds() for r in rows if r["end"]]
            latest = rows[0]
            if latest["end"]:
                duration.add_metric([exchange], (latest["end"] - latest["start"]).total_seconds())
            if seconds:
                slowest.add_metric([exchange], max(seconds))
            bots.add_metric([exchange], latest["bots"] or 0)
            errors.add_metric([exchange], latest["errors"] or 0)
            age.add_metric([exchange], max(0.0, now - latest["start"].timestamp()))
        yield from (duration, slowest, bots, errors, age)

    def _prices(self, now: float):
        age = GaugeMetricFamily("tp_price_age_seconds", "Seconds since the last good price", labels=["exchange",
                                                                                                     "symbol"])
        stale = GaugeMetricFamily("tp_price_stale", "1 while the price is stale (bots do not trade on it)",
                                  labels=["exchange", "symbol"])
        r = get_redis()
        for exchange in settings.SUPPORTED_EXCHANGES:
            for symbol, raw in sorted(r.hgetall(PRICES_KEY.format(exchange=exchange)).items()):
                try:
                    data = json.loads(raw)
                    received = float(data["received_at"])
                except (ValueError, KeyError, TypeError):
                    continue
                seconds = max(0.0, now - received)
                age.add_metric([exchange, symbol], seconds)
                is_stale = bool(data.get("stale")) or seconds > settings.PRICE_STALE_AFTER_SECONDS
                stale.add_metric([exchange, symbol], 1 if is_stale else 0)
        yield from (age, stale)

    def _trading(self, now: float):
        bots = GaugeMetricFamily("tp_bots", "Bots by mode and status", labels=["mode", "status"])
        for row in Bot.objects.filter(archived_at__isnull=True).values("mode", "status").annotate(n=Count("pk")):
            bots.add_metric([row["mode"], row["status"]], row["n"])
        orders = GaugeMetricFamily("tp_orders_5m", "Orders created in the last 5 minutes, by mode and status now "
                                   "(status rejected: the rejects)", labels=["mode", "status"])
        first_order = _since_checkpoint(Order, "order", now)
        for row in (Order.objects.filter(pk__gte=first_order).values("bot__mode", "status")
                    .annotate(n=Count("pk")).order_by()):
            orders.add_metric([row["bot__mode"], row["status"]], row["n"])
        fills = GaugeMetricFamily("tp_fills_5m", "Fills in the last 5 minutes, by mode", labels=["mode"])
        first_fill = _since_checkpoint(Fill, "fill", now)
        for row in Fill.objects.filter(pk__gte=first_fill).values("bot__mode").annotate(n=Count("pk")).order_by():
            fills.add_metric([row["bot__mode"]], row["n"])
        yield from (bots, orders, fills)

    def _risk(self):
        since = timezone.now() - timedelta(seconds=WINDOW_SECONDS)
        events = GaugeMetricFamily("tp_risk_events_5m", "Risk events of the last 5 minutes (refusals, breaches, "
                                   "halts, kill switches, emergency stops) by code", labels=["code", "severity"])
        for row in (RiskEvent.objects.filter(created_at__gte=since).values("code", "severity")
                    .annotate(n=Count("pk")).order_by()):
            events.add_metric([row["code"], row["severity"]], row["n"])
        stops = CounterMetricFamily("tp_emergency_stops", "Emergency stops ever recorded")
        stops.add_metric([], RiskEvent.objects.filter(code="emergency_stop").count())
        engaged = GaugeMetricFamily("tp_kill_switches_engaged", "Kill switches engaged now", labels=["scope"])
        counts = dict(KillSwitch.objects.filter(engaged=True).values_list("scope").annotate(n=Count("pk")))
        for scope, _ in KillSwitch.SCOPES:
            engaged.add_metric([scope], counts.get(scope, 0))
        yield from (events, stops, engaged)

    def _alerts(self):
        backlog = GaugeMetricFamily("tp_alert_outbox_backlog", "Alert messages not delivered yet", labels=["state"])
        counts = dict(Outbox.objects.filter(state__in=[Outbox.State.PENDING, Outbox.State.SENDING])
                      .values_list("state").annotate(n=Count("pk")).order_by())
        for state in (Outbox.State.PENDING, Outbox.State.SENDING):
            backlog.add_metric([state], counts.get(state, 0))
        oldest = GaugeMetricFamily("tp_alert_outbox_oldest_seconds", "Age of the oldest undelivered alert "
                                   "(a fill digest counts from when it is due)")
        # a fill digest waits on purpose until its window ends: it is late only from then on
        waiting_since = Case(When(attempts=0, then=Greatest("created_at", "next_attempt_at")), default="created_at")
        first = (Outbox.objects.filter(state=Outbox.State.PENDING).annotate(since=waiting_since)
                 .aggregate(t=Min("since"))["t"])
        oldest.add_metric([], max(0.0, (timezone.now() - first).total_seconds()) if first else 0)
        since = timezone.now() - timedelta(seconds=WINDOW_SECONDS)
        failures = GaugeMetricFamily("tp_alert_delivery_failures_5m", "Failed alert sends of the last 5 minutes "
                                     "(retry: will be tried again; failed: given up)", labels=["outcome"])
        counts = dict(DeliveryAttempt.objects.filter(at__gte=since, outcome__in=["retry", "failed"])
                      .values_list("outcome").annotate(n=Count("pk")).order_by())
        for outcome in ("retry", "failed"):
            failures.add_metric([outcome], counts.get(outcome, 0))
        yield from (backlog, oldest, failures)

    def _processes(self, now: float):
        queues = GaugeMetricFamily("tp_celery_queue_length", "Tasks waiting in the broker", labels=["queue"])
        broker = _broker()
        for queue in QUEUES:
            queues.add_metric([queue], broker.llen(queue))
        beat = GaugeMetricFamily("tp_worker_heartbeat_age_seconds", "Seconds since the worker's last heartbeat "
                                 "(a beat-scheduled task: missing means the worker or beat is down)",
                                 labels=["worker"])
        for worker in WORKERS:
            at = cache.get(heartbeat_key(worker))
            if at is not None:
                beat.add_metric([worker], max(0.0, now - float(at)))
        beats = GaugeMetricFamily("tp_beat_processes", "Celery beat processes alive (must be exactly 1)")
        beats.add_metric([], len(beats_running()))
        sockets = GaugeMetricFamily("tp_websocket_connections", "Open WebSockets over every web process")
        sockets.add_metric([], websockets_open())
        yield from (queues, beat, beats, sockets)


def _broker():
    import redis

    global _broker_client
    if _broker_client is None:
        _broker_client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2,
                                              socket_connect_timeout=2)
    return _broker_client


_broker_client = None


def registry() -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(PlatformCollector())
    return reg
