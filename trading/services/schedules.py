from django.conf import settings


def periodic_tasks_ensure(**_kwargs) -> None:
    """Default beat schedules for market data; created once, then staff own them in admin."""
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    poll, _ = IntervalSchedule.objects.get_or_create(every=max(1, int(settings.PRICE_POLL_SECONDS)),
                                                     period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.get_or_create(name="Poll prices", defaults={"task": "trading.poll_prices", "interval": poll,
                                                                     "expire_seconds": 10})
    daily, _ = CrontabSchedule.objects.get_or_create(minute="7", hour="3", day_of_week="*", day_of_month="*",
                                                     month_of_year="*")
    PeriodicTask.objects.get_or_create(name="Sync markets", defaults={"task": "trading.sync_markets", "crontab": daily})
    PeriodicTask.objects.get_or_create(name="Prune tick runs", defaults={"task": "trading.prune_tick_runs",
                                                                         "crontab": daily})
    PeriodicTask.objects.get_or_create(name="Compact equity history", defaults={"task": "trading.compact_equity",
                                                                                "crontab": daily})
    midnight, _ = CrontabSchedule.objects.get_or_create(minute="5", hour="0", day_of_week="*", day_of_month="*",
                                                        month_of_year="*")
    PeriodicTask.objects.get_or_create(name="Daily summary alerts", defaults={"task": "trading.daily_summary",
                                                                              "crontab": midnight})
    # risk monitor: daily-loss / drawdown breakers for every running bot (the tick path checks them too)
    risk_every, _ = IntervalSchedule.objects.get_or_create(every=30, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.get_or_create(name="Risk monitor", defaults={"task": "risk.monitor", "interval": risk_every,
                                                                      "expire_seconds": 30})
    # live execution: orders, fills and balances equal the exchange's (trading/execution/reconcile.py)
    live_every, _ = IntervalSchedule.objects.get_or_create(every=max(1, int(settings.LIVE_RECONCILE_SECONDS)),
                                                           period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.get_or_create(name="Reconcile live orders", defaults={
        "task": "trading.reconcile_live", "interval": live_every, "expire_seconds": 10})
