from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operations: the Prometheus metrics endpoint, WebSocket counting, backup and restore commands.

    Sits above every other app (it reads their models and selectors, writes none of them).
    """

    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from ops import signals  # noqa: F401  (the beat's announcement)
