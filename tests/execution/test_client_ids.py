"""Client order ids: one pure function, deterministic, short, and always what Binance accepts."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.engine.ids import client_order_id, step_part

BINANCE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
bot_ids = st.none() | st.integers(min_value=-(10**40), max_value=10**40) | st.text(max_size=80)
step_keys = st.integers(min_value=-(10**40), max_value=10**40) | st.text(max_size=200)
ns = st.integers(min_value=0, max_value=9999)


@settings(max_examples=400, deadline=None)
@given(bot_id=bot_ids, step_key=step_keys, n=ns)
def test_every_id_is_one_binance_accepts_and_the_same_on_every_call(bot_id, step_key, n):
    cid = client_order_id(bot_id=bot_id, step_key=step_key, n=n)
    assert BINANCE.match(cid), cid
    assert cid == client_order_id(bot_id=bot_id, step_key=step_key, n=n)
    # the bot-local part is the same whatever the bot: paper fills are seeded with it
    assert step_part(cid) == client_order_id(bot_id=None, step_key=step_key, n=n)


@settings(max_examples=300, deadline=None)
@given(a=st.tuples(st.integers(0, 2**63), st.integers(0, 10**15), ns),
       b=st.tuples(st.integers(0, 2**63), st.integers(0, 10**15), ns))
def test_different_bots_steps_or_intents_never_share_an_id(a, b):
    ida = client_order_id(bot_id=a[0], step_key=a[1], n=a[2])
    idb = client_order_id(bot_id=b[0], step_key=b[1], n=b[2])
    assert (ida == idb) == (a == b)


def test_a_retry_of_the_same_decision_carries_the_same_id_and_the_next_intent_another():
    first = client_order_id(bot_id=42, step_key=1_700_000_040_000, n=0)
    assert first == client_order_id(bot_id=42, step_key=1_700_000_040_000, n=0) == "16-1700000040000:0"
    assert client_order_id(bot_id=42, step_key=1_700_000_040_000, n=1) == "16-1700000040000:1"
    assert client_order_id(bot_id=43, step_key=1_700_000_040_000, n=0) != first


def test_without_a_bot_the_id_is_the_bot_local_one_orders_have_always_had():
    assert client_order_id(bot_id=None, step_key=1_700_000_040_000, n=3) == "1700000040000:3"
    assert step_part("16-1700000040000:3") == "1700000040000:3"


def test_the_largest_database_id_and_a_millisecond_step_fit_without_hashing():
    cid = client_order_id(bot_id=2**63 - 1, step_key=9_999_999_999_999_999, n=9999)
    assert len(cid) <= 36 and "H" not in cid and cid.endswith("-9999999999999999:9999")


def test_keys_that_cannot_be_used_as_they_are_are_hashed_not_truncated():
    long_a = client_order_id(bot_id=1, step_key="x" * 100 + "a", n=0)
    long_b = client_order_id(bot_id=1, step_key="x" * 100 + "b", n=0)
    assert long_a != long_b and len(long_a) <= 36
    assert client_order_id(bot_id=1, step_key="Tick-1", n=0) != client_order_id(bot_id=1, step_key="tick-1", n=0)


@pytest.mark.parametrize("n", [-1, 10_000, True, 1.0])
def test_an_intent_number_out_of_range_is_refused(n):
    with pytest.raises(ValueError, match="n must be a whole number from 0 to 9999"):
        client_order_id(bot_id=1, step_key=1, n=n)


@pytest.mark.parametrize("kwargs", [{"bot_id": 1, "step_key": True}, {"bot_id": 1, "step_key": 1.5},
                                    {"bot_id": False, "step_key": 1}, {"bot_id": 1.5, "step_key": 1}])
def test_a_bot_or_step_that_is_not_an_int_or_string_is_refused(kwargs):
    with pytest.raises(ValueError, match="must be an int or a string"):
        client_order_id(n=0, **kwargs)
