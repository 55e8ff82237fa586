"""After Redis is killed and comes back, the first event a process publishes arrives (it used to fail once
on the dead pooled connection and be lost: the emergency-stop event was lost this way). The test's own
Redis on its own port is killed; the suite's is never touched."""

import time

import msgpack
import pytest
import redis

from tests.faults.redis_private import PrivateRedis
from trading.events import events_publish
from trading.feeds import Tick
from trading.groups import price_group, user_group
from trading.services.prices import publish


@pytest.fixture
def own_redis(tmp_path, settings):
    server = PrivateRedis(tmp_path / "redis", persist=False)
    server.start()
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                                           "CONFIG": {"hosts": [server.url], "prefix": "faults"}}}
    yield server
    server.stop()


class Listener:
    """A subscriber on its own plain connection (what a page's consumer gets through the channel layer)."""

    def __init__(self, url: str, group: str):
        self.pubsub = redis.Redis.from_url(url).pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(f"faults__group__{group}")
        assert self.pubsub.get_message(timeout=2) is None  # the subscribe confirmation

    def next(self, timeout: float = 5) -> dict | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.pubsub.get_message(timeout=0.2)
            if message is not None:
                return msgpack.unpackb(message["data"])
        return None

    def close(self):
        self.pubsub.close()


def _event(n: int) -> dict:
    return {"type": "bot", "bot": {"id": 7, "status": "halted", "halt_reason": f"emergency stop {n}"}}


def test_the_first_bot_event_after_a_redis_restart_arrives(own_redis):
    before = Listener(own_redis.url, user_group(7))
    events_publish([(7, _event(1))])  # the publisher's connection is open and in use
    assert before.next()["events"] == [_event(1)]
    before.close()

    own_redis.kill()
    own_redis.start()

    after = Listener(own_redis.url, user_group(7))
    events_publish([(7, _event(2))])
    got = after.next()
    assert got is not None, "the first event after Redis came back was lost"
    assert got["events"] == [_event(2)]
    events_publish([(7, _event(3))])  # and the ones after it, on the fresh connection
    assert after.next()["events"] == [_event(3)]
    after.close()


def test_the_first_price_tick_after_a_redis_restart_arrives(own_redis):
    def tick(last: str) -> Tick:
        from decimal import Decimal
        return Tick("binance", "BTC/USDT", Decimal(last), Decimal(last), Decimal(last), time.time(), 1, source="replay")

    before = Listener(own_redis.url, price_group("binance", "BTC/USDT"))
    publish([tick("100")])
    assert before.next()["tick"]["last"] == "100"
    before.close()

    own_redis.kill()
    own_redis.start()

    after = Listener(own_redis.url, price_group("binance", "BTC/USDT"))
    publish([tick("101")])
    got = after.next()
    assert got is not None, "the first price tick after Redis came back was lost"
    assert got["tick"]["last"] == "101"
    after.close()
