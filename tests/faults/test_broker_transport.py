"""A Celery worker survives Redis dropping it (config/broker.py), shown on the consumer's own close path
against a Redis of the test's own: a task received and not yet acknowledged, the next BRPOP in flight and the
remote-control fanout queue, then Redis killed and what Celery's consumer does on a connection loss
(`collect()`, then `close()` through `ignore_errors`). kombu's own transport raises AttributeError there
(the worker's "Unrecoverable error"); ours does not, and gives the message back when Redis answers again.
The whole worker across a Redis kill: tests/faults/test_faults_real_processes.py."""

import contextlib

import pytest
from kombu import Connection, Consumer, Exchange, Queue
from kombu.common import ignore_errors

from config.celery import app
from tests.faults.redis_private import PrivateRedis


def _received_then_redis_killed(redis: PrivateRedis, transport: str | None) -> Connection:
    conn = Connection(redis.url, transport=transport)
    work = Queue("faults-work")
    control = Queue("faults.pidbox", Exchange("faults.control", type="fanout"), auto_delete=True)
    with conn.Producer() as producer:
        producer.publish({"task": 1}, routing_key=work.name, declare=[work])
    received = []
    Consumer(conn.default_channel, [work, control], callbacks=[lambda body, msg: received.append(body)],
             prefetch_count=4).consume()
    conn.drain_events(timeout=5)
    channel = conn.default_channel
    assert received == [{"task": 1}] and len(channel.qos._delivered) == 1  # received, not acknowledged
    channel.connection.cycle.on_poll_start()  # the next BRPOP is in flight, as in the worker's event loop
    assert channel._in_poll
    redis.kill()
    return conn


def _consumer_connection_loss(conn: Connection) -> None:
    """celery.worker.consumer.Consumer.on_connection_error_after_connected, step by step."""
    with contextlib.suppress(Exception):  # Celery ignores whatever collect() raises
        conn.collect(socket_timeout=2)
    ignore_errors(conn, conn.close)


def test_the_workers_broker_connection_uses_the_fixed_transport():
    assert app.connection_for_read().transport_cls == "config.broker:Transport"
    with app.connection_for_read() as conn:
        assert conn.transport.Channel.__module__ == "config.broker"


def test_kombus_own_transport_still_fails_there(tmp_path):
    """If this fails, kombu fixed it: config/broker.py and its setting can go."""
    redis = PrivateRedis(tmp_path / "redis", persist=False)
    redis.start()
    conn = _received_then_redis_killed(redis, transport=None)
    with pytest.raises(AttributeError, match="hostname"):
        _consumer_connection_loss(conn)


def test_closing_after_redis_died_raises_nothing_the_consumer_does_not_handle(tmp_path):
    redis = PrivateRedis(tmp_path / "redis", persist=False)
    redis.start()
    conn = _received_then_redis_killed(redis, transport="config.broker:Transport")
    _consumer_connection_loss(conn)  # Redis still down: the restore fails with a connection error, caught


def test_the_unacknowledged_task_is_given_back_when_redis_answers_again(tmp_path):
    redis = PrivateRedis(tmp_path / "redis", persist=True)  # keeps the queue across the kill
    redis.start()
    try:
        conn = _received_then_redis_killed(redis, transport="config.broker:Transport")
        with contextlib.suppress(Exception):  # as Celery does
            conn.collect(socket_timeout=2)
        redis.start()  # back before the consumer's close(): the close restores the received task
        ignore_errors(conn, conn.close)
        with Connection(redis.url) as fresh:
            queue = fresh.SimpleQueue("faults-work")
            body = queue.get(timeout=5).payload
            queue.close()
        assert body == {"task": 1}
    finally:
        redis.stop()
