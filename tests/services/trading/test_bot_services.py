"""Bot services: create (validated by the engine's schemas), edit only while stopped, start/stop/pause, archive."""

from decimal import Decimal

import pytest

from accounts.models import AuditEvent
from config.api import DomainError
from trading.models import Bot, Order
from trading.services.bots import bot_archive, bot_create, bot_pause, bot_start, bot_stop, bot_update
from trading.services.orders import order_cancel

pytestmark = pytest.mark.django_db


def make_bot(owner, **kw):
    args = {"name": "Trend", "exchange": "binance", "symbol": "BTC/USDT", "strategy": "sma_cross",
            "params": {"fast": 3, "slow": 8}, "starting_balance": Decimal("1000")}
    args.update(kw)
    return bot_create(owner=owner, **args)


def test_a_new_bot_is_a_stopped_paper_bot_holding_its_starting_balance_in_quote(alice):
    bot = make_bot(alice)
    assert bot.status == "stopped" and bot.mode == "paper"
    assert bot.quote == Decimal("1000") and bot.base == 0
    assert bot.params == {"fast": 3, "slow": 8, "size_pct": "100", "stop_loss_pct": "0", "take_profit_pct": "0", "trailing_stop_pct": "0"}  # defaults filled in by the schema
    assert AuditEvent.objects.filter(action="bot.create", target=f"bot:{bot.pk}", actor=alice).exists()


def test_params_are_validated_with_a_message_per_field(alice):
    with pytest.raises(DomainError) as err:
        make_bot(alice, params={"fast": 10, "slow": 5, "bogus": 1})
    assert err.value.status == 400
    assert set(err.value.fields) == {"params.bogus"}  # unknown names first; cross-field rules after
    with pytest.raises(DomainError) as err:
        make_bot(alice, params={"fast": 10, "slow": 5})
    assert "less than slow" in err.value.fields["params.fast"][0]
    with pytest.raises(DomainError) as err:
        make_bot(alice, strategy="dca", params={})
    assert "required" in err.value.fields["params.order_amount"][0]


def test_unknown_strategy_and_live_mode_are_refused(alice):
    with pytest.raises(DomainError) as err:
        make_bot(alice, strategy="martingale")
    assert "strategy" in err.value.fields
    with pytest.raises(DomainError) as err:
        make_bot(alice, mode="live")
    assert err.value.code == "live_not_available"
    assert err.value.message.startswith("Live trading is not enabled on this platform; a bot would go live only "
                                        "through its promotion")
    assert not Bot.objects.exists()


def test_fill_overrides_are_validated_by_the_engine(alice):
    with pytest.raises(DomainError) as err:
        make_bot(alice, fill_overrides={"reject_rate": "2", "nope": 1})
    assert set(err.value.fields) == {"fill_overrides.reject_rate", "fill_overrides.nope"}
    bot = make_bot(alice, fill_overrides={"reject_rate": "0"})
    assert bot.fill_overrides == {"reject_rate": "0"}


def test_starting_balance_must_be_positive(alice):
    for bad in (Decimal("0"), Decimal("-5")):
        with pytest.raises(DomainError) as err:
            make_bot(alice, starting_balance=bad)
        assert "starting_balance" in err.value.fields


def test_params_change_only_while_stopped_and_reset_the_strategy_memory(alice):
    bot = make_bot(alice)
    bot_start(bot=bot, actor=alice)
    with pytest.raises(DomainError) as err:
        bot_update(bot=bot, actor=alice, params={"fast": 4, "slow": 9})
    assert err.value.status == 409
    bot = bot_update(bot=bot, actor=alice, name="Renamed while running")
    assert bot.name == "Renamed while running"
    bot_stop(bot=bot, actor=alice)
    Bot.objects.filter(pk=bot.pk).update(state={"engine": {"last_bar_ms": 1}})
    bot = bot_update(bot=bot, actor=alice, params={"fast": 4, "slow": 9})
    assert bot.params["fast"] == 4
    assert Bot.objects.get(pk=bot.pk).state == {}


def test_start_pause_stop_transitions_are_audited(alice):
    bot = make_bot(alice)
    assert bot_start(bot=bot, actor=alice).status == "running"
    assert bot_pause(bot=bot, actor=alice).status == "paused"
    assert bot_start(bot=bot, actor=alice).status == "running"
    assert bot_stop(bot=bot, actor=alice).status == "stopped"
    with pytest.raises(DomainError) as err:
        bot_pause(bot=bot, actor=alice)  # a stopped bot cannot be paused
    assert err.value.status == 409
    actions = list(AuditEvent.objects.filter(target=f"bot:{bot.pk}").order_by("id").values_list("action", flat=True))
    assert actions == ["bot.create", "bot.start", "bot.pause", "bot.start", "bot.stop"]


def test_start_is_refused_when_trading_is_switched_off(alice, settings):
    settings.ENABLE_TRADING = False
    bot = make_bot(alice)
    with pytest.raises(DomainError) as err:
        bot_start(bot=bot, actor=alice)
    assert err.value.code == "trading_disabled"


def _resting_buy(bot, *, price="90", amount="1", fee_rate="0.001"):
    """A resting limit buy as the tick would have written it (funds reserved)."""
    from trading.engine.types import RestingOrder

    rest = RestingOrder(id="1:0", side="buy", price=Decimal(price), amount=Decimal(amount),
                        fee_rate=Decimal(fee_rate))
    order = Order.objects.create(bot=bot, client_id=rest.id, side="buy", type="limit", amount=rest.amount,
                                 price=rest.price, status="open", resting=rest.to_json())
    reserved = rest.price * rest.amount * (1 + rest.fee_rate)
    Bot.objects.filter(pk=bot.pk).update(quote_reserved=reserved)
    return order, reserved


def test_cancelling_a_resting_limit_order_releases_its_reserved_funds(alice):
    bot = make_bot(alice)
    order, reserved = _resting_buy(bot)
    assert Bot.objects.get(pk=bot.pk).quote_reserved == reserved == Decimal("90.09")
    order = order_cancel(order=order, actor=alice)
    assert order.status == "cancelled" and order.closed_at is not None and order.resting is None
    bot.refresh_from_db()
    assert bot.quote_reserved == 0 and bot.free_quote == Decimal("1000")
    with pytest.raises(DomainError) as err:
        order_cancel(order=order, actor=alice)
    assert err.value.code == "order_not_open" and err.value.status == 409


def test_stop_cancels_open_orders_and_archive_keeps_history(alice):
    bot = make_bot(alice)
    bot_start(bot=bot, actor=alice)
    order, _ = _resting_buy(bot)
    bot_stop(bot=bot, actor=alice)
    order.refresh_from_db()
    assert order.status == "cancelled" and order.reason == "bot stopped"
    bot = bot_archive(bot=bot, actor=alice)
    assert bot.archived_at is not None and bot.status == "stopped"
    assert Order.objects.filter(bot=bot).count() == 1  # history kept
    from trading.selectors import bots_for

    assert not bots_for(alice).filter(pk=bot.pk).exists()
    with pytest.raises(DomainError):
        bot_start(bot=bot, actor=alice)


def test_starting_a_halted_bot_goes_through_risk_and_is_refused_under_a_kill_switch(alice):
    from risk.models import RiskEvent
    from risk.services import kill_switch_engage
    from trading.execution.safety import bot_halt, kill_switch_release

    bot = make_bot(alice)
    bot_start(bot=bot, actor=alice)
    bot_halt(bot=bot, actor=alice, reason="daily loss")
    kill_switch_engage(scope="user", user=alice, actor=alice, reason="test")
    with pytest.raises(DomainError) as err:
        bot_start(bot=bot, actor=alice)
    assert err.value.code == "kill_switch_engaged" and err.value.status == 409
    assert Bot.objects.get(pk=bot.pk).status == "halted"
    kill_switch_release(scope="user", user=alice, actor=alice, password="correct horse battery staple 42")
    assert bot_start(bot=bot, actor=alice).status == "running"
    assert RiskEvent.objects.filter(bot=bot, code="bot_resumed").exists()
