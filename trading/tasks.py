import logging

from celery import shared_task
from django.conf import settings

from trading.services.markets import markets_sync
from trading.services.prices import prices_poll_all, symbols_in_use

log = logging.getLogger(__name__)


@shared_task(name="trading.poll_prices", ignore_result=True, expires=10)
def poll_prices() -> None:
    if not settings.ENABLE_SCHEDULERS:
        return
    prices_poll_all()


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
    if shards == 1:
        from trading.services.ticks import tick_run

        tick_run(exchange=exchange, tick_key=tick_key)
        return
    for shard in range(shards):
        run_bots_tick_shard.delay(exchange, tick_key, shard, shards)


@shared_task(name="trading.run_bots_tick_shard", ignore_result=True, acks_late=True, reject_on_worker_lost=True,
             expires=30)
def run_bots_tick_shard(exchange: str, tick_key: int, shard: int, shards: int) -> None:
    from trading.services.ticks import tick_run

    tick_run(exchange=exchange, tick_key=tick_key, shard=shard, shards=shards)


@shared_task(name="trading.prune_tick_runs", ignore_result=True)
def prune_tick_runs() -> None:
    from trading.services.ticks import tick_runs_prune

    tick_runs_prune()


@shared_task(name="trading.compact_equity", ignore_result=True)
def compact_equity() -> None:
    from trading.services.retention import equity_compact

    equity_compact()


@shared_task(name="trading.daily_summary", ignore_result=True)
def daily_summary() -> None:
    from trading.services.summary import daily_summaries_send

    daily_summaries_send()
