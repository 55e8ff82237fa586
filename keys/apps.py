from django.apps import AppConfig


class KeysConfig(AppConfig):
    name = "keys"
    verbose_name = "Exchange keys"

    def ready(self) -> None:
        # Fail fast: without well-formed encryption keys the app must not start at all.
        from keys.services import vault

        vault()
