"""order_gate: every pre-trade check reaches the order path with its reason code, and refusals are recorded."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from risk.limits import limits_for
from risk.models import KillSwitch, RiskEvent, RiskPolicy
from risk.services import kill_switch_engage, order_gate, policy_tighten
from tests.risk.conftest import buy, calm_state, sell

pytestmark = pytest.mark.django_db


def gate(bot, proposal, state=None):
    with transaction.atomic():
        return order_gate(bot=bot, proposal=proposal, state=state or calm_state())


def test_a_calm_order_passes_and_records_nothing(alice, make_bot):
    bot = make_bot(alice)
    decision = gate(bot, buy())
    assert decision.allowed, decision.message
    assert not RiskEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_must_run_inside_the_order_transaction(alice, make_bot):
    bot = make_bot(alice)
    with pytest.raises(RuntimeError):
        order_gate(bot=bot, proposal=buy(), state=calm_state())


def test_own_kill_switch_refuses_and_is_recorded(alice, bob, make_bot):
    bot, bobs = make_bot(alice), make_bot(bob)
    kill_switch_engage(scope="user", user=alice, actor=alice, reason="going to bed")
    decision = gate(bot, buy())
    assert (decision.allowed, decision.code) == (False, "kill_switch")
    assert "your kill switch" in decision.message
    event = RiskEvent.objects.get(bot=bot, code="kill_switch")
    assert event.user == alice and "refused" in event.message
    # bob's bots are outside alice's scope
    assert gate(bobs, buy()).allowed


def test_global_kill_switch_refuses_everyone(alice, bob, make_bot):
    from django.contrib.auth.models import Group

    officer = bob
    officer.groups.add(Group.objects.get(name="risk officer"))
    kill_switch_engage(scope="global", user=None, actor=officer, reason="exchange incident")
    decision = gate(make_bot(alice), buy())
    assert decision.code == "kill_switch" and "global kill switch" in decision.message


def test_kill_switch_stops_exits_too_unless_reduce_only(alice, make_bot):
    held = calm_state(position_base=Decimal("0.01"), position_value=Decimal("200"))
    kill_switch_engage(scope="user", user=alice, actor=alice)
    assert gate(make_bot(alice, name="plain"), sell("0.01"), held).code == "kill_switch"
    reduce_only = make_bot(alice, name="ro", reduce_only=True)
    assert gate(reduce_only, sell("0.01"), held).allowed  # an exit
    assert gate(reduce_only, buy(), held).code == "kill_switch"  # an entry


def test_reduce_only_bot_refuses_entries_without_a_switch(alice, make_bot):
    bot = make_bot(alice, reduce_only=True)
    assert gate(bot, buy()).code == "reduce_only"
    assert gate(bot, sell("0.01"), calm_state(position_base=Decimal("0.01"))).allowed


def test_halted_bot_places_nothing(alice, make_bot):
    bot = make_bot(alice, status="halted", halt_reason="breaker")
    assert gate(bot, buy()).code == "halted"


def test_order_rate_limit(alice, make_bot):
    bot = make_bot(alice)
    policy_tighten(actor=alice, user=alice, bot=bot, values={"max_orders_per_minute": 3})
    assert gate(bot, buy(), calm_state(orders_last_minute=2)).allowed
    assert gate(bot, buy(), calm_state(orders_last_minute=3)).code == "order_rate"


def test_daily_loss_breaker_refuses_entries(alice, make_bot):
    decision = gate(make_bot(alice), buy(), calm_state(equity=Decimal("949")))  # -5.1 %, default limit 5 %
    assert decision.code == "daily_loss"
    assert RiskEvent.objects.filter(code="daily_loss").count() == 1


def test_max_drawdown(alice, make_bot):
    state = calm_state(peak_equity=Decimal("2000"), day_start_equity=Decimal("1000"), equity=Decimal("1000"))
    assert gate(make_bot(alice), buy(), state).code == "max_drawdown"  # 50 % from peak, default 25 %


def test_max_trades_per_day_default_is_50(alice, make_bot):
    bot = make_bot(alice)
    assert gate(bot, buy(), calm_state(trades_today=49)).allowed
    assert gate(bot, buy(), calm_state(trades_today=50)).code == "max_trades_per_day"


def test_max_open_trades(alice, make_bot):
    bot = make_bot(alice)
    policy_tighten(actor=alice, user=alice, values={"max_open_trades": 2})
    assert gate(bot, buy(), calm_state(open_trades=2)).code == "max_open_trades"


def test_max_position_quote_and_pct(alice, make_bot):
    bot = make_bot(alice)
    policy_tighten(actor=alice, user=alice, values={"max_position_quote": Decimal("100")})
    assert gate(bot, buy("0.004", "20000")).allowed  # 80
    refused = gate(bot, buy("0.006", "20000"))  # 120
    assert refused.code == "max_position" and "quote" in refused.message
    policy_tighten(actor=alice, user=alice, values={"max_position_quote": None, "max_position_pct": Decimal("10")})
    assert gate(bot, buy("0.006", "20000")).code == "max_position"  # 12 % of 1000


def test_cooldown_after_a_breach(alice, make_bot):
    bot = make_bot(alice)
    RiskEvent.objects.create(user=alice, bot=bot, code="daily_loss", message="breach")
    decision = gate(bot, buy())
    assert decision.code == "cooldown"  # platform default: 60 min
    RiskEvent.objects.filter(code="daily_loss").update(created_at=timezone.now() - timedelta(minutes=61))
    assert gate(bot, buy()).allowed


def test_limits_combine_platform_user_and_bot_tightest_wins(alice, make_bot):
    bot = make_bot(alice)
    policy_tighten(actor=alice, user=alice, values={"max_trades_per_day": 20})
    policy_tighten(actor=alice, user=alice, bot=bot, values={"max_trades_per_day": 10, "cooldown_minutes": 120})
    limits = limits_for(bot=bot)
    assert limits.max_trades_per_day == 10
    assert limits.cooldown_minutes == 120
    assert limits.daily_loss_pct == Decimal("5")
    RiskPolicy.objects.filter(scope="platform").update(max_trades_per_day=5)
    assert limits_for(bot=bot).max_trades_per_day == 5  # the platform tightening applies to everyone


def test_missing_switch_rows_are_created_and_locked(alice, make_bot):
    KillSwitch.objects.all().delete()
    assert gate(make_bot(alice), buy()).allowed
    assert set(KillSwitch.objects.values_list("key", flat=True)) == {"global", f"user:{alice.pk}"}


def test_a_repeated_refusal_is_recorded_once_per_five_minutes(alice, make_bot):
    bot = make_bot(alice, reduce_only=True)
    for _ in range(3):
        assert gate(bot, buy()).code == "reduce_only"
    assert RiskEvent.objects.filter(bot=bot, code="reduce_only").count() == 1
    RiskEvent.objects.filter(bot=bot).update(created_at=timezone.now() - timedelta(minutes=6))
    gate(bot, buy())
    assert RiskEvent.objects.filter(bot=bot, code="reduce_only").count() == 2


def lock_statements(queries) -> int:
    return sum("pg_advisory_xact_lock_shared" in q["sql"] for q in queries)


@pytest.mark.django_db(transaction=True)  # real transactions, not savepoints of the test's own
def test_the_switch_rows_are_locked_once_per_owner_per_transaction(alice, bob, make_bot):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    a1, a2, b1 = make_bot(alice, name="a1"), make_bot(alice, name="a2"), make_bot(bob, name="b1")
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        for bot in (a1, a2, a1, b1):
            assert order_gate(bot=bot, proposal=buy(), state=calm_state()).allowed
    assert lock_statements(queries.captured_queries) == 2  # alice once, bob once
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        order_gate(bot=a1, proposal=buy(), state=calm_state())
    assert lock_statements(queries.captured_queries) == 1  # a new transaction locks again


def test_a_rolled_back_savepoint_releases_its_locks_so_they_are_taken_again(alice, make_bot):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    bot = make_bot(alice)
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        try:
            with transaction.atomic():
                order_gate(bot=bot, proposal=buy(), state=calm_state())
                raise ValueError("the order write failed")
        except ValueError:
            pass
        order_gate(bot=bot, proposal=buy(), state=calm_state())
    assert lock_statements(queries.captured_queries) == 2


def test_a_switch_engaged_on_the_same_connection_is_seen_at_once(alice, make_bot):
    bot = make_bot(alice)
    with transaction.atomic():
        assert order_gate(bot=bot, proposal=buy(), state=calm_state()).allowed
        kill_switch_engage(scope="user", user=alice, actor=alice)
        assert order_gate(bot=bot, proposal=buy(), state=calm_state()).code == "kill_switch"
