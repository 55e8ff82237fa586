from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and audit"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from accounts import schema, signals  # noqa: F401  (the API's auth in the schema; audit hooks, heartbeat)
        from accounts.services import periodic_tasks_ensure

        post_migrate.connect(periodic_tasks_ensure, sender=self)
