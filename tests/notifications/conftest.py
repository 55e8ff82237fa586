import pytest

from tests.notifications.dingtalk_standin import SECRET, DingTalkStandIn, WebhookSink


@pytest.fixture
def standin():
    server = DingTalkStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def sink():
    server = WebhookSink().start()
    yield server
    server.stop()


@pytest.fixture
def allow_local(settings):
    """The stand-ins live on 127.0.0.1: the operator allows it (NOTIFICATION_ALLOWED_HOSTS)."""
    settings.NOTIFICATION_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.DASHBOARD_PUBLIC_URL = "https://trade.example.com"
    return settings


@pytest.fixture
def enqueued(monkeypatch):
    """Celery is the outside here: record what would go to the broker instead of publishing it.

    Delivery is sent by task name, so this catches it at the app's `send_task`, where both a by-name
    send and a registered task's `apply_async` end up."""
    from config.celery import app

    class Calls(list):
        publishes: list  # one entry per Celery message: (ids, countdown)

    calls = Calls()
    calls.publishes = []
    real_send_task = app.send_task

    def send_task(name, args=None, kwargs=None, countdown=None, **kw):
        if name != "notifications.deliver":
            return real_send_task(name, args, kwargs, countdown=countdown, **kw)
        calls.publishes.append((list(args[0]), countdown))
        calls.extend((pk, countdown) for pk in args[0])

    monkeypatch.setattr(app, "send_task", send_task)
    return calls


@pytest.fixture
def dingtalk_channel(db, alice, standin, allow_local):
    from notifications.services import channel_create

    return channel_create(owner=alice, kind="dingtalk", name="desk", webhook_url=standin.url, secret=SECRET)
