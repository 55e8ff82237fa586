"""What a Celery worker does as it starts, wired by the apps (accounts, keys) when Django is set up.

Celery calls django.setup() (so every app's ready()) before it sends worker_init and worker_ready.
The hooks are called directly here: sending worker_init in a test would also run Celery's own Django
fixup, which closes the test's database connection.
"""

import pytest
from celery.signals import worker_init, worker_ready
from cryptography.fernet import Fernet
from django.core.cache import cache

from accounts.services import heartbeat_key
from accounts.signals import _first_heartbeat
from keys.services import key_create
from keys.signals import _verify_encryption

pytestmark = pytest.mark.django_db


def _connected(signal, dispatch_uid: str) -> bool:
    return any(lookup[0] == dispatch_uid for lookup, *_ in signal.receivers)


class _Consumer:
    """What worker_ready sends: the worker's consumer, whose app knows the queues it consumes."""

    def __init__(self, *queues):
        from config.celery import app

        class Queues:
            consume_from = {q: None for q in queues}

        class Amqp:
            pass

        class App:
            conf = app.conf

        Amqp.queues, App.amqp = Queues, Amqp
        self.app = App


def test_the_hooks_are_connected_once_django_is_set_up():
    assert _connected(worker_ready, "accounts.first_heartbeat")
    assert _connected(worker_init, "keys.verify_encryption")


@pytest.mark.parametrize(("queues", "alive"), [(("celery",), {"worker"}), (("alerts",), {"alerts"}),
                                               (("celery", "alerts"), {"worker", "alerts"})])
def test_a_worker_that_came_up_reports_a_heartbeat_for_each_queue_it_serves(queues, alive):
    _first_heartbeat(sender=_Consumer(*queues))
    assert {w for w in ("worker", "alerts") if cache.get(heartbeat_key(w))} == alive


def test_a_worker_whose_keys_cannot_open_the_stored_secrets_does_not_start(alice, settings):
    key_create(owner=alice, exchange="binance", label="main", api_key="APIKEYplaceholder",
               secret="SECRETplaceholder")
    assert _verify_encryption(signal=worker_init, sender=None) == "encryption keys loaded; stored secrets decrypt"
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    # a plain exception in a worker_init receiver is only logged by Celery; SystemExit ends the worker
    with pytest.raises(SystemExit, match="cannot decrypt the stored exchange keys") as caught:
        _verify_encryption(signal=worker_init, sender=None)
    assert "SECRETplaceholder" not in str(caught.value)
