"""The emergency stop wins every race: once it has returned, no order in its scope gets committed.

Many threads (each with its own database connection) keep placing orders the way the tick does
(order_gate, then the order row, in one transaction, with a pause between the check and the
commit to widen the window) while the stop is issued. Right after the stop returns we snapshot
the committed orders; afterwards no new order may have appeared in its scope. No Celery worker
runs in tests, so this also shows the stop needs none.
"""

import random
import threading
import time
import uuid
from decimal import Decimal

import pytest
from django.db import connection, transaction

from risk.models import RiskEvent
from risk.services import kill_switch_engage, order_gate
from tests.risk.conftest import buy, calm_state, create_bot
from trading.execution.safety import emergency_stop
from trading.models import Bot, Order

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


def place_orders(bot_ids: list[int], stop: threading.Event, seen: list, errors: list, lock_bot: bool) -> None:
    rng = random.Random()
    try:
        while not stop.is_set():
            bot_id = rng.choice(bot_ids)
            with transaction.atomic():
                if lock_bot:
                    bot = Bot.objects.select_for_update(no_key=True).get(pk=bot_id)  # the tick's per-bot lock
                else:
                    bot = Bot.objects.get(pk=bot_id)
                decision = order_gate(bot=bot, proposal=buy("0.0001"), state=calm_state())
                time.sleep(rng.uniform(0, 0.004))  # the strategy/fill work between check and write
                if decision.allowed:
                    Order.objects.create(bot=bot, client_id=uuid.uuid4().hex, side="buy", type="market",
                                         amount=Decimal("0.0001"), status="filled")
                    time.sleep(rng.uniform(0, 0.002))
            seen.append(decision.code)
    except Exception as exc:  # surfaced by the test
        errors.append(exc)
    finally:
        connection.close()


def race(*, bot_ids, scope_orders, do_stop, lock_bot=False):
    stop, seen, errors = threading.Event(), [], []
    threads = [threading.Thread(target=place_orders, args=(bot_ids, stop, seen, errors, lock_bot))
               for _ in range(THREADS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while scope_orders().count() < 40 and time.monotonic() < deadline and not errors:
        time.sleep(0.01)
    before = scope_orders().count()
    started = time.perf_counter()
    do_stop()
    elapsed = time.perf_counter() - started
    committed_at_return = set(scope_orders().values_list("pk", flat=True))
    time.sleep(0.5)  # the threads keep trying
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    return before, committed_at_return, set(scope_orders().values_list("pk", flat=True)), seen, elapsed


@pytest.mark.parametrize("lock_bot", [False, True], ids=["gate-only", "tick-like-bot-lock"])
def test_no_order_is_committed_after_a_user_stop_returns(alice, bob, lock_bot):
    alices = [create_bot(alice, name=f"a{i}").pk for i in range(4)]
    bobs = [create_bot(bob, name=f"b{i}").pk for i in range(2)]

    before, at_return, after, seen, elapsed = race(
        bot_ids=alices + bobs, scope_orders=lambda: Order.objects.filter(bot__owner=alice),
        do_stop=lambda: emergency_stop(actor=alice, scope="user"), lock_bot=lock_bot)

    assert before >= 40, "the threads were placing orders when the stop was issued"
    assert after == at_return, f"{len(after - at_return)} order(s) committed after the stop returned"
    assert seen.count("kill_switch") + seen.count("halted") > 0  # attempts after the stop were refused
    assert RiskEvent.objects.filter(user=alice, code__in=["kill_switch", "halted"]).exists()
    assert Order.objects.filter(bot__owner=bob).count() > 0  # bob's bots kept trading: outside the scope
    assert set(Bot.objects.filter(owner=alice).values_list("status", flat=True)) == {"halted"}
    print(f"stop answered in {elapsed * 1000:.1f} ms with {THREADS} threads placing orders")


def test_no_order_is_committed_after_the_switch_alone_is_engaged(alice):
    """Without halting anything (the reduce-only path): the switch row lock alone closes the window."""
    alices = [create_bot(alice, name=f"a{i}").pk for i in range(4)]
    _, at_return, after, seen, _ = race(
        bot_ids=alices, scope_orders=lambda: Order.objects.filter(bot__owner=alice),
        do_stop=lambda: kill_switch_engage(scope="user", user=alice, actor=alice, reason="race"))
    assert after == at_return
    assert "kill_switch" in seen


def test_no_order_anywhere_after_a_global_stop_returns(make_user, alice, bob):
    root = make_user("root", staff=True, is_superuser=True)
    bots = [create_bot(alice, name="a").pk, create_bot(bob, name="b").pk, create_bot(bob, name="c").pk]
    _, at_return, after, _, _ = race(bot_ids=bots, scope_orders=lambda: Order.objects.all(),
                                     do_stop=lambda: emergency_stop(actor=root, scope="global"))
    assert after == at_return
    assert set(Bot.objects.values_list("status", flat=True)) == {"halted"}
