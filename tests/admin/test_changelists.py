"""Every admin changelist, filled with realistic rows, reads like English and shows numbers without the
database's padding: no "Kill switchs" or "Outboxs", no 18-decimal numbers, no exponent notation."""

import re
from decimal import Decimal

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from risk.models import RiskPolicy
from risk.services import kill_switch_engage
from tests.browser.test_layout import content  # noqa: F401 - the trader's account with something everywhere
from trading.models import Candle, Market

pytestmark = pytest.mark.django_db

PADDED = re.compile(r"\d\.\d{9,}")  # numeric(38, 18) shown as stored: 3000.000000000000000000
EXPONENT = re.compile(r"\d[eE][+-]?\d")  # 0E-18
BAD_PLURAL = re.compile(r"(?:[sxz]|ch|sh)s$|[^aeiou]ys$")  # switchs, outboxs, policys


@pytest.fixture
def root(make_user, alice, content):  # noqa: F811
    now = timezone.now()
    Market.objects.create(exchange="binance", symbol="BTC/USDT", base="BTC", quote="USDT",
                          amount_step=Decimal("0.00001"), price_step=Decimal("0.01"), min_amount=Decimal("0.00001"),
                          min_cost=Decimal("5"), maker_fee=Decimal("0.001"), taker_fee=Decimal("0.001"))
    Candle.objects.create(exchange="binance", symbol="BTC/USDT", timeframe="1m", ts=now, open=Decimal("3000"),
                          high=Decimal("3001.5"), low=Decimal("2999"), close=Decimal("3000.25"), volume=Decimal("0"))
    RiskPolicy.objects.create(scope=RiskPolicy.USER, user=alice, max_position_quote=Decimal("500"),
                              daily_loss_pct=Decimal("3"))
    kill_switch_engage(scope="user", user=alice, actor=alice, reason="checking the admin")
    user = make_user("root", staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return client


def test_every_changelist_shows_plain_numbers_and_proper_names(root):
    index = root.get("/admin/").content.decode()
    assert "Kill switches" in index and "Outbox messages" in index
    checked = 0
    for model in admin.site._registry:
        opts = model._meta
        assert not BAD_PLURAL.search(str(opts.verbose_name_plural)), opts.verbose_name_plural
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        r = root.get(url)
        assert r.status_code == 200, url
        html = r.content.decode()
        table = html[html.find('id="result_list"'):] if 'id="result_list"' in html else ""
        assert not PADDED.findall(table), (url, PADDED.findall(table)[:5])
        assert not EXPONENT.findall(re.sub(r"<[^>]+>", " ", table)), (url, EXPONENT.findall(table)[:5])
        checked += bool(table)
    assert checked >= 12  # most changelists really had rows to show


def test_numbers_keep_their_value(root):
    html = root.get("/admin/trading/market/").content.decode()
    assert ">0.00001<" in html and ">0.01<" in html and ">5<" in html
    html = root.get("/admin/risk/riskpolicy/").content.decode()
    assert ">500<" in html and ">3<" in html
