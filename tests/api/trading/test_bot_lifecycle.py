"""A bot through the API on the replay feed: create, start, a trade appears, stop, CSV export, performance;
and user B gets 404 on everything of user A's."""

import csv
import io
from decimal import Decimal

import pytest

from tests.bots_support import poll_and_tick, use_replay, write_recording
from tests.emulator.fixtures import *  # noqa: F403
from trading.engine.types import RestingOrder
from trading.models import Bot, Order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("binance_markets")]  # bots need a listed market


@pytest.fixture
def replay(settings, tmp_path):
    write_recording(tmp_path)
    use_replay(settings, tmp_path)


def _create(client, **kw):
    body = {"name": "Wave rider", "exchange": "binance", "symbol": "BTC/USDT", "strategy": "sma_cross",
            "params": {"fast": 3, "slow": 8}, "starting_balance": "1000", "seed": 7, **kw}
    r = client.post("/api/bots/", body, format="json")
    assert r.status_code == 201, r.json()
    return r.json()


def test_start_on_replay_trade_appears_stop_and_export(api, alice, replay):
    client = api(alice)
    bot = _create(client)
    url = f"/api/bots/{bot['id']}/"
    assert client.post(f"{url}start/").json()["status"] == "running"
    assert client.get(f"{url}trades/").json()["count"] == 0
    for _ in range(40):
        poll_and_tick()
    trades = client.get(f"{url}trades/").json()
    assert trades["count"] >= 2, "the SMA cross bot should have traded on the recording"
    newest = trades["results"][0]
    assert set(newest) >= {"side", "price", "amount", "fee", "fee_currency", "slippage", "liquidity", "ts"}
    assert Decimal(newest["fee"]) > 0 and newest["fee_currency"] == "USDT"
    buys = client.get(f"{url}trades/?side=buy").json()
    assert buys["count"] >= 1 and {t["side"] for t in buys["results"]} == {"buy"}

    orders = client.get(f"{url}orders/").json()
    assert orders["count"] >= trades["count"]
    filled = client.get(f"{url}orders/?status=filled").json()
    assert filled["count"] >= 1 and all(o["status"] == "filled" for o in filled["results"])
    assert client.get(f"{url}orders/?status=bogus").status_code == 400

    perf = client.get(f"{url}performance/").json()
    assert perf["closed_trades"] >= 1 and perf["win_rate"] is not None
    assert Decimal(perf["fees_paid"]) == sum(Decimal(t["fee"]) for t in trades["results"])
    detail = client.get(url).json()
    equity = Decimal(detail["quote"]) + Decimal(detail["base"]) * Decimal(detail["last_price"])
    assert Decimal(perf["equity"]) == equity == Decimal(detail["equity"])
    assert Decimal(perf["return_pct"]) == pytest.approx((equity / 1000 - 1) * 100)
    assert len(perf["equity_curve"]) == 40
    position = perf["position"]
    assert Decimal(position["equity"]) == pytest.approx(
        Decimal("1000") + Decimal(position["realized_pnl"]) + Decimal(position["unrealized_pnl"]))

    assert client.post(f"{url}stop/").json()["status"] == "stopped"
    count = Order.objects.filter(bot_id=bot["id"]).count()
    for _ in range(3):
        poll_and_tick()
    assert Order.objects.filter(bot_id=bot["id"]).count() == count  # a stopped bot does nothing

    r = client.get(f"{url}trades.csv")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    assert "attachment" in r["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode())))
    assert len(rows) == trades["count"]
    assert rows[0]["side"] == "buy" and rows[0]["order_type"] == "market"
    # at the market's precision (BTC/USDT: price 0.01, amount 0.00001), cost in USDT cents; no exponent
    fill = Bot.objects.get(pk=bot["id"]).fills.order_by("ts", "id").first()
    assert rows[0]["price"] == f"{fill.price:.2f}" and rows[0]["amount"] == f"{fill.amount:.5f}"
    assert rows[0]["cost"] == f"{fill.price * fill.amount:.2f}"
    assert all("E" not in r["slippage"] and "E" not in r["fee"] for r in rows)


def test_cancel_an_open_limit_order(api, alice):
    client = api(alice)
    bot = _create(client)
    rest = RestingOrder(id="1:0", side="buy", price=Decimal("90"), amount=Decimal("2"), fee_rate=Decimal("0.001"))
    order = Order.objects.create(bot_id=bot["id"], client_id=rest.id, side="buy", type="limit", amount=rest.amount,
                                 price=rest.price, status="open", resting=rest.to_json())
    Bot.objects.filter(pk=bot["id"]).update(quote_reserved=Decimal("180.18"))
    open_orders = client.get(f"/api/bots/{bot['id']}/orders/?status=open").json()
    assert [o["id"] for o in open_orders["results"]] == [order.pk]
    r = client.post(f"/api/bots/{bot['id']}/orders/{order.pk}/cancel/")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert Decimal(client.get(f"/api/bots/{bot['id']}/").json()["quote_reserved"]) == 0
    again = client.post(f"/api/bots/{bot['id']}/orders/{order.pk}/cancel/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "order_not_open"


def test_delete_archives_and_keeps_history(api, alice):
    client = api(alice)
    bot = _create(client)
    assert client.delete(f"/api/bots/{bot['id']}/").status_code == 204
    assert client.get(f"/api/bots/{bot['id']}/").status_code == 404
    assert client.get("/api/bots/").json() == []
    assert Bot.objects.get(pk=bot["id"]).archived_at is not None


def test_bob_gets_404_on_everything_of_alices(api, alice, bob):
    bot = _create(api(alice))
    order = Order.objects.create(bot_id=bot["id"], client_id="1:0", side="buy", type="limit", amount=1, price=1,
                                 status="open", resting=RestingOrder(id="1:0", side="buy", price=Decimal(1),
                                                                     amount=Decimal(1)).to_json())
    base = f"/api/bots/{bot['id']}/"
    b = api(bob)
    for method, path in [("get", ""), ("patch", ""), ("delete", ""), ("post", "start/"), ("post", "stop/"),
                         ("post", "pause/"), ("get", "orders/"), ("get", "trades/"), ("get", "trades.csv"),
                         ("get", "performance/"), ("post", f"orders/{order.pk}/cancel/")]:
        r = getattr(b, method)(base + path, {"name": "mine now"} if method == "patch" else None, format="json")
        assert r.status_code == 404, (method, path, r.status_code)
        assert r.json()["error"]["code"] == "not_found"
    assert b.get("/api/bots/").json() == []
    fresh = Bot.objects.get(pk=bot["id"])
    assert fresh.status == "stopped" and fresh.name == "Wave rider" and fresh.archived_at is None
    assert Order.objects.get(pk=order.pk).status == "open"
