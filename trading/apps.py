from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "trading"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from trading.services.schedules import periodic_tasks_ensure

        post_migrate.connect(periodic_tasks_ensure, sender=self)
