"""Risk pages: the panel, the stop button in every header, the banner while a switch is engaged."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client, RequestFactory

from risk.context import kill_switch as banner_context
from risk.models import KillSwitch, RiskPolicy
from risk.services import kill_switch_engage
from tests.conftest import PASSWORD
from tests.risk.conftest import create_bot
from trading.models import Bot

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(alice):
    client = Client()
    client.force_login(alice)
    return client


def test_the_panel_needs_a_login(client):
    r = client.get("/risk/")
    assert r.status_code == 302 and "/login/" in r["Location"]


def test_the_panel_shows_limits_switches_bots_and_events(web, alice):
    create_bot(alice, name="Mover", status="halted", halt_reason="Circuit breaker: Daily loss 5.1%")
    html = web.get("/risk/").content.decode()
    assert "Max trades per day per bot" in html and "50" in html
    assert 'data-testid="switch-user"' in html and "released" in html
    assert "Mover" in html and "Circuit breaker: Daily loss 5.1%" in html and ">Resume<" in html


def test_every_page_has_the_stop_button_and_no_banner_until_engaged(web, alice, django_capture_on_commit_callbacks):
    for url in ("/", "/keys/", "/risk/"):
        html = web.get(url).content.decode()
        assert 'data-testid="estop-button"' in html, url
        assert "Halt and flatten" in html
        assert 'data-testid="kill-switch-banner"' not in html
    with django_capture_on_commit_callbacks(execute=True):
        kill_switch_engage(scope="user", user=alice, actor=alice, reason="away")
    for url in ("/", "/keys/", "/risk/"):
        assert "Your kill switch is engaged" in web.get(url).content.decode(), url


def test_the_global_banner_shows_for_everyone(web, bob, make_user, django_capture_on_commit_callbacks):
    officer = make_user("olivia", staff=True)
    officer.groups.add(Group.objects.get(name="risk officer"))
    with django_capture_on_commit_callbacks(execute=True):
        kill_switch_engage(scope="global", user=None, actor=officer)
    assert "Global kill switch engaged" in web.get("/keys/").content.decode()


def test_the_banner_costs_no_query_once_cached(alice, django_assert_num_queries, django_capture_on_commit_callbacks):
    request = RequestFactory().get("/")
    request.user = alice
    banner_context(request)  # fills the cache
    with django_assert_num_queries(0):
        assert banner_context(request)["KILL_SWITCH_ENGAGED"] is False
    with django_capture_on_commit_callbacks(execute=True):
        kill_switch_engage(scope="user", user=alice, actor=alice)
    assert banner_context(request)["KILL_SWITCH_ENGAGED"] is True  # a change shows at once


def test_stop_without_javascript_and_release_from_the_panel(web, alice):
    bot = create_bot(alice)
    assert "Halt all bots" in web.get("/risk/stop/").content.decode()
    r = web.post("/risk/stop/", {"scope": "user", "action": "halt", "next": "/keys/"})
    assert r.status_code == 302 and r["Location"] == "/keys/"
    assert Bot.objects.get(pk=bot.pk).status == "halted"
    r = web.post("/risk/release/", {"scope": "user", "password": "wrong"}, follow=True)
    assert "not right" in r.content.decode()
    assert KillSwitch.objects.get(key=f"user:{alice.pk}").engaged
    r = web.post("/risk/release/", {"scope": "user", "password": PASSWORD}, follow=True)
    assert "Kill switch released" in r.content.decode()
    assert not KillSwitch.objects.get(key=f"user:{alice.pk}").engaged


def test_an_off_site_next_is_ignored(web):
    r = web.post("/risk/stop/", {"scope": "user", "action": "halt", "next": "https://evil.example/"})
    assert r["Location"] == "/risk/"


def test_a_trader_cannot_stop_the_platform_from_the_page(web, bob):
    create_bot(bob)
    assert 'data-testid="stop-global"' not in web.get("/risk/stop/").content.decode()
    r = web.post("/risk/stop/", {"scope": "global", "action": "halt"}, follow=True)
    assert "Only a risk officer" in r.content.decode()
    assert not KillSwitch.objects.filter(engaged=True).exists()
    assert set(Bot.objects.values_list("status", flat=True)) == {"running"}


def test_a_risk_officer_sees_the_global_choice(make_user):
    officer = make_user("olivia", staff=True)
    officer.groups.add(Group.objects.get(name="risk officer"))
    client = Client()
    client.force_login(officer)
    assert 'data-testid="stop-global"' in client.get("/risk/stop/").content.decode()


def test_tighten_limits_from_the_panel_and_loosening_is_refused(web, alice):
    r = web.post("/risk/limits/", {"max_trades_per_day": "20"}, follow=True)
    assert "Your limits were saved" in r.content.decode()
    assert RiskPolicy.objects.get(scope="user", user=alice).max_trades_per_day == 20
    r = web.post("/risk/limits/", {"max_trades_per_day": "80"}, follow=True)
    assert "Must be at most 50" in r.content.decode()
    assert RiskPolicy.objects.get(scope="user", user=alice).max_trades_per_day == 20


def test_the_bot_risk_include_lists_the_bots_refusals_for_its_owner_only(alice, bob, rf):
    from django.template.loader import render_to_string

    from trading.execution.safety import bot_halt

    bot = create_bot(alice, name="Mover")
    bot_halt(bot=bot, actor=alice, reason="checking")
    request = rf.get("/bots/1/")
    request.user = alice
    html = render_to_string("risk/_bot_risk.html", {"bot": Bot.objects.get(pk=bot.pk)}, request=request)
    assert "Bot Mover halted: checking" in html and 'data-testid="bot-resume"' in html
    request.user = bob
    assert "Bot Mover halted" not in render_to_string("risk/_bot_risk.html", {"bot": bot}, request=request)
