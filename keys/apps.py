from django.apps import AppConfig


class KeysConfig(AppConfig):
    name = "keys"
    verbose_name = "Exchange keys"

    def ready(self) -> None:
        from config.vault import vault
        from keys import signals  # noqa: F401  (the worker's encryption check)

        # Fail fast: without well-formed encryption keys the app must not start at all.
        vault()
