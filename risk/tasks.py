from celery import shared_task
from django.conf import settings

from risk.services import risk_monitor_run


@shared_task(name="risk.monitor", ignore_result=True, expires=30)
def monitor() -> None:
    """Daily loss / drawdown breakers for every running bot (the tick path checks them too)."""
    if not settings.ENABLE_SCHEDULERS:
        return
    risk_monitor_run()
