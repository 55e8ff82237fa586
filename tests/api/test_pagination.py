"""Pages of orders: the right rows and count on every page, 404 past the last, and one query for a page.

config/api.py's OneQueryPaginator reads a page's rows and the total count in one query (COUNT(*) OVER ());
these tests hold it to what Django's paginator answered: count, next/previous links, the last page, an
empty list, a page past the end, a filter.
"""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from config.api import Pagination
from trading.models import Order
from trading.selectors import bot_orders
from trading.services.bots import bot_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def bot_with_orders(alice):
    bot = bot_create(owner=alice, name="Pages", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                     params={}, starting_balance=Decimal("1000"))
    Order.objects.bulk_create([
        Order(bot=bot, client_id=f"page:{i}", side="buy" if i % 2 else "sell", type="market",
              amount=Decimal("0.001"), status="filled" if i % 3 else "rejected") for i in range(120)])
    return bot


def test_every_page_has_its_rows_and_the_whole_count(api, alice, bot_with_orders):
    url = f"/api/bots/{bot_with_orders.pk}/orders/"
    seen = []
    for page, size in ((1, 50), (2, 50), (3, 20)):
        r = api(alice).get(f"{url}?page={page}")
        assert r.status_code == 200
        body = r.json()
        assert body["count"] == 120 and len(body["results"]) == size
        assert bool(body["next"]) is (page < 3) and bool(body["previous"]) is (page > 1)
        seen += [o["client_id"] for o in body["results"]]
    assert sorted(seen) == sorted(f"page:{i}" for i in range(120))  # every order once, none twice
    assert api(alice).get(f"{url}?page=last").json()["results"][-1]["client_id"] == seen[-1]
    assert len(api(alice).get(f"{url}?page_size=500").json()["results"]) == 120


def test_a_filter_counts_only_what_it_lets_through(api, alice, bot_with_orders):
    body = api(alice).get(f"/api/bots/{bot_with_orders.pk}/orders/?status=rejected").json()
    assert body["count"] == 40 and len(body["results"]) == 40 and body["next"] is None
    assert {o["status"] for o in body["results"]} == {"rejected"}


def test_past_the_last_page_is_a_json_404_and_an_empty_list_a_page(api, alice, bob, bot_with_orders):
    r = api(alice).get(f"/api/bots/{bot_with_orders.pk}/orders/?page=4")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    empty = bot_create(owner=bob, name="Empty", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                       params={}, starting_balance=Decimal("1000"))
    body = api(bob).get(f"/api/bots/{empty.pk}/orders/").json()
    assert body == {"count": 0, "next": None, "previous": None, "results": []}


def test_a_page_and_its_count_are_one_query(alice, bot_with_orders):
    paginator = Pagination()
    with CaptureQueriesContext(connection) as queries:  # Django's paginator: SELECT COUNT(*), then the page
        rows = paginator.paginate_queryset(bot_orders(bot=bot_with_orders),
                                           Request(APIRequestFactory().get("/", {"page": "2"})))
        response = paginator.get_paginated_response([r.client_id for r in rows])
    assert len(queries.captured_queries) == 1, [q["sql"] for q in queries.captured_queries]
    assert response.data["count"] == 120 and len(response.data["results"]) == 50
