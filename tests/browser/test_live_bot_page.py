"""A live bot's page in a real browser (phone and desktop widths): the exchange's own order ids and the fills'
exchange trade ids next to our orders and trades (live trades marked LIVE, a BNB fee with its USDT value, also
after the bot went back to paper), and after an emergency stop where the exchange refuses one
cancel, which live orders were cancelled on the exchange and which were not, with the reason. The orders went
to the Binance emulator through the real ccxt client with alice's key; the LIVE marking stays on screen."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.test_promotion import DESKTOP, PHONE, fits, on_screen

# the live tests' fixtures (a bot promoted through the workflow, the emulator with the replay feed)
from tests.live.conftest import _fresh_clients, emu, live_bot, live_tick, make_live_bot  # noqa: F401
from tests.live.test_live_stop import resting
from tests.promotion.fixtures import *  # noqa: F403
from trading.events import events_publish, fill_json
from trading.models import Bot, Fill, Order

VIEWPORTS = pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])


@VIEWPORTS
def test_a_live_bots_page_shows_the_exchanges_order_and_trade_ids(page, login, alice, live_bot, emu,  # noqa: F811
                                                                  viewport):
    live_tick()  # the strategy's market buy: sent, filled, recorded
    filled = Order.objects.filter(bot=live_bot, status="filled").exclude(exchange_order_id="").get()
    fill = Fill.objects.get(order=filled)
    open_order = resting(live_bot, price="95", step=5)
    page.set_viewport_size(viewport)
    login(page, alice)
    page.goto(f"/bots/{live_bot.pk}/")

    on_screen(page.get_by_test_id("live-badge"))
    row = page.locator(f'[data-testid="trade-row"][data-fill-id="{fill.pk}"]')
    expect(row.get_by_test_id("trade-exchange-ids")).to_have_text(
        f"order {filled.exchange_order_id} · trade {fill.exchange_trade_id}")
    on_screen(row.get_by_test_id("trade-live"))  # in the first column: on screen at phone width too
    assert fill.exchange_trade_id and filled.exchange_order_id == str(emu.orders(filled.client_id)[0]["orderId"])
    paper_fill = Fill.objects.filter(bot=live_bot, exchange_trade_id="").first()
    expect(page.locator(f'[data-testid="trade-row"][data-fill-id="{paper_fill.pk}"]')
           .get_by_test_id("trade-exchange-ids")).to_have_text("paper")
    order_row = page.locator(f'[data-testid="order-row"][data-order-id="{open_order.pk}"]')
    expect(order_row.get_by_test_id("order-exchange-id")).to_have_text(open_order.exchange_order_id)
    assert open_order.exchange_order_id == str(emu.orders(open_order.client_id)[0]["orderId"])
    on_screen(order_row.get_by_test_id("order-exchange-id"))
    fits(page)
    assert page.js_errors == []


@VIEWPORTS
def test_after_an_emergency_stop_the_page_says_which_live_orders_were_not_cancelled_and_why(
        page, login, alice, live_bot, emu, viewport):  # noqa: F811 - the live fixtures, imported above
    stuck, gone = resting(live_bot, price="95", step=1), resting(live_bot, price="94", step=2)
    page.set_viewport_size(viewport)
    login(page, alice)
    page.goto(f"/bots/{live_bot.pk}/")
    on_screen(page.get_by_test_id("live-badge"))
    expect(page.get_by_test_id("live-cancel-report")).to_have_count(0)

    emu.fail("server_error", path="/api/v3/order", times=1)  # the exchange refuses the first cancel only
    page.get_by_test_id("estop-button").click()
    page.get_by_test_id("estop-confirm").click()
    expect(page.locator("li.msg.error")).to_contain_text(f"Live order {stuck.client_id} could not be cancelled")

    page.goto(f"/bots/{live_bot.pk}/")
    report = page.get_by_test_id("live-cancel-report")
    on_screen(report)
    expect(report).to_contain_text("LIVE")
    expect(report.get_by_test_id("live-cancel-warning")).to_contain_text("1 order could not be cancelled")
    failed = report.locator(f'[data-testid="live-cancel-failed"][data-order="{stuck.client_id}"]')
    expect(failed).to_contain_text(stuck.exchange_order_id)
    expect(failed).to_contain_text("not cancelled")
    expect(failed).to_contain_text("Binance")  # the exchange's reason, as ccxt reported it
    ok = report.locator(f'[data-testid="live-cancel-ok"][data-order="{gone.client_id}"]')
    expect(ok).to_contain_text(gone.exchange_order_id)
    expect(ok).to_contain_text("cancelled on the exchange")
    fits(page)
    assert emu.orders(gone.client_id)[0]["status"] == "CANCELED" and emu.orders(stuck.client_id)[0]["status"] == "NEW"
    assert Order.objects.get(pk=stuck.pk).status == "open"  # never marked cancelled on our side
    assert Bot.objects.get(pk=live_bot.pk).status == "halted"
    assert page.js_errors == []


@VIEWPORTS
def test_after_demotion_the_history_marks_its_live_trades_and_a_bnb_fee_shows_its_quote_value(
        page, login, alice, make_live_bot, emu, viewport):  # noqa: F811 - the live fixtures, imported above
    from trading.promotion.demotion import promotion_demote

    emu.list_market("BNB/USDT")  # an account paying its fees in BNB (listed before our client loads markets)
    emu.set_balance("BNB", "1")
    emu.pay_fees_in_bnb()
    bot = make_live_bot(alice)
    live_tick()  # the DCA bot's market buy, its fee paid in BNB
    fill = Fill.objects.exclude(exchange_trade_id="").get(bot=bot)
    assert fill.fee_currency == "BNB" and fill.fee_quote > 0
    promotion_demote(bot=Bot.objects.get(pk=bot.pk), actor=alice)  # back to paper: the history stays
    page.set_viewport_size(viewport)
    login(page, alice)
    page.goto(f"/bots/{bot.pk}/")
    expect(page.get_by_test_id("live-badge")).to_be_hidden()  # the bot is on paper now
    live_row = page.locator(f'[data-testid="trade-row"][data-fill-id="{fill.pk}"]')
    on_screen(live_row.get_by_test_id("trade-live"))
    expect(live_row.get_by_test_id("trade-exchange-ids")).to_contain_text(f"trade {fill.exchange_trade_id}")
    expect(live_row.get_by_test_id("trade-fee")).to_contain_text("BNB")
    expect(live_row.get_by_test_id("trade-fee-quote")).to_have_text(f"≈ {fill.fee_quote.normalize():f} USDT")
    paper = Fill.objects.filter(bot=bot, exchange_trade_id="").order_by("-ts").first()  # its paper record
    paper_row = page.locator(f'[data-testid="trade-row"][data-fill-id="{paper.pk}"]')
    expect(paper_row.get_by_test_id("trade-exchange-ids")).to_have_text("paper")
    expect(paper_row.get_by_test_id("trade-live")).to_have_count(0)
    expect(paper_row.get_by_test_id("trade-fee-quote")).to_have_count(0)
    # a live trade pushed to the open page is marked the same way (the page's script, not the template)
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    pushed = Fill.objects.create(bot=bot, order=fill.order, side="buy", price=fill.price, amount=fill.amount,
                                 fee=fill.fee, fee_currency="BNB", fee_quote=fill.fee_quote, fee_note=fill.fee_note,
                                 exchange_trade_id="99999", liquidity="taker", ts=timezone.now())
    events_publish([(alice.pk, {"type": "fill", "fill": fill_json(pushed)})])
    pushed_row = page.locator(f'[data-testid="trade-row"][data-fill-id="{pushed.pk}"]')
    on_screen(pushed_row.get_by_test_id("trade-live"))
    expect(pushed_row.get_by_test_id("trade-fee-quote")).to_have_text(f"≈ {fill.fee_quote.normalize():f} USDT")
    fits(page)
    assert page.js_errors == []
