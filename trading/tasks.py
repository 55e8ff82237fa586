"""Celery tasks of trading: thin, named, JSON arguments, each calling one service."""

import logging

from celery import shared_task
from django.conf import settings

from trading.execution.monitor import risk_monitor_run
from trading.execution.reconcile import reconcile_live
from trading.price_selectors import symbols_in_use
from trading.services.live_ticks import live_tick_run
from trading.services.markets import markets_sync
from trading.services.prices import prices_poll_all
from trading.services.retention import equity_compact
from trading.services.summary import daily_summaries_send
from trading.services.ticks import tick_run, tick_runs_prune

log = logging.getLogger(__name__)


@shared_task(name="trading.poll_prices", ignore_result=True, expires=10)
def poll_prices() -> None:
    """Poll every exchange in use, then run each exchange's bots for the prices just stored."""
    if not settings.ENABLE_SCHEDULERS:
        return
    for result in prices_poll_all():
        if result.tick_key is None:
            continue
        try:
            run_bots_tick.delay(result.exchange, result.tick_key)
        except Exception:  # noqa: BLE001 - the prices are stored and pushed; the next poll enqueues again
            log.exception("could not enqueue the bots' tick for %s", result.exchange)


@shared_task(name="trading.sync_markets", ignore_result=True)
def sync_markets() -> None:
    if settings.MARKET_DATA_SOURCE != "ccxt":
        return
    for exchange in symbols_in_use():
        try:
            markets_sync(exchange=exchange)
        except Exception:  # one exchange failing must not stop the others
            log.exception("market sync failed for %s", exchange)


@shared_task(name="trading.run_bots_tick", ignore_result=True, acks_late=True, reject_on_worker_lost=True,
             expires=30)
def run_bots_tick(exchange: str, tick_key: int) -> None:
    """Safe to run twice or on two workers at once: the tick claims each bot in the database.

    With BOT_TICK_SHARDS > 1 the tick fans out to that many shard tasks, so several worker processes
    (or machines) share one tick's bots."""
    shards = max(1, settings.BOT_TICK_SHARDS)
    live_tick_run(exchange=exchange, tick_key=tick_key)  # live bots: one by one, orders to the exchange
    if shards == 1:
        tick_run(exchange=exchange, tick_key=tick_key)
        return
    for shard in range(shards):
        run_bots_tick_shard.delay(exchange, tick_key, shard, shards)


@shared_task(name="trading.run_bots_tick_shard", ignore_result=True, acks_late=True, reject_on_worker_lost=True,
             expires=30)
def run_bots_tick_shard(exchange: str, tick_key: int, shard: int, shards: int) -> None:
    tick_run(exchange=exchange, tick_key=tick_key, shard=shard, shards=shards)


@shared_task(name="trading.reconcile_live", ignore_result=True, expires=10)
def reconcile_live_task() -> None:
    """Live orders, fills and balances equal to the exchange's, batched per key and symbol."""
    if not settings.ENABLE_SCHEDULERS:
        return
    reconcile_live()


@shared_task(name="risk.monitor", ignore_result=True, expires=30)
def risk_monitor() -> None:
    """Daily loss / drawdown breakers for every running bot (the tick path checks them too)."""
    if not settings.ENABLE_SCHEDULERS:
        return
    risk_monitor_run()


@shared_task(name="trading.prune_tick_runs", ignore_result=True)
def prune_tick_runs() -> None:
    tick_runs_prune()


@shared_task(name="trading.compact_equity", ignore_result=True)
def compact_equity() -> None:
    equity_compact()


@shared_task(name="trading.daily_summary", ignore_result=True)
def daily_summary() -> None:
    daily_summaries_send()
