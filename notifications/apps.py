import logging

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from notifications import receivers  # noqa: F401  (accounts' security signals become alerts)
        from notifications.services import periodic_tasks_ensure

        post_migrate.connect(periodic_tasks_ensure, sender=self)
        # Apprise's own log lines may quote the URL (tokens): the transport captures and scrubs them
        # into the delivery attempt's reason instead of letting them reach the platform's logs.
        apprise_log = logging.getLogger("apprise")
        apprise_log.propagate = False
        if not any(isinstance(h, logging.NullHandler) for h in apprise_log.handlers):
            apprise_log.addHandler(logging.NullHandler())
