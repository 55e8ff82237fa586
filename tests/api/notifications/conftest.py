from tests.notifications.conftest import allow_local, enqueued, sink, standin  # noqa: F401
