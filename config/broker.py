"""The Celery broker transport: kombu's Redis transport with one fix, so a worker survives a Redis outage.

When Redis drops the worker's connection, Celery's consumer first calls `connection.collect()` and then
`connection.close()`. If closing the channel fails inside `collect()` (a connection error while it deletes
the remote-control fanout queue or reads the BRPOP in flight), kombu catches the error, closes the
transport and sets `transport.client = None`, but the channel stays open. `close()` then closes that channel
again; with a message received but not acknowledged (a prefetched task, or an `acks_late` tick), it
restores the message, needs a new Redis pool, and kombu builds the pool's parameters from
`transport.client`: `AttributeError: 'NoneType' object has no attribute 'hostname'`. That is not a
connection error, nothing catches it, and the worker exits with "Unrecoverable error" (about 1 Redis
restart in 5 in tests/faults/test_faults_real_processes.py; a known kombu problem, e.g. celery/kombu#582
and #970 for the same `_connparams` failure on other close paths).

The channel here keeps the connection's parameters it was opened with and builds that pool from them,
so the second close restores the unacknowledged messages when Redis answers (they run again, as after
any redelivery: the tasks are idempotent) or fails with a connection error that kombu and Celery already
handle when it does not. tests/faults/test_broker_transport.py shows both.
"""

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def __init__(self, connection, *args, **kwargs):
        self._opened_with = connection.client  # the kombu Connection: host, port, password, options
        super().__init__(connection, *args, **kwargs)

    def _connparams(self, asynchronous=False):
        transport = self.connection
        if transport.client is not None:
            return super()._connparams(asynchronous=asynchronous)
        transport.client = self._opened_with  # closed under this channel: see the module docstring
        try:
            return super()._connparams(asynchronous=asynchronous)
        finally:
            transport.client = None

    def close(self):
        try:
            super().close()
        finally:
            self._disconnect_pools()  # a pool made for the restore above is not left open


class Transport(kombu_redis.Transport):
    Channel = Channel
