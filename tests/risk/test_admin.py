"""Admin for risk: read-only risk events, kill switches (stop from admin), policies, halt/resume bot actions."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from accounts.models import AuditEvent
from risk.models import KillSwitch, RiskEvent, RiskPolicy
from tests.risk.conftest import create_bot
from trading.execution.safety import bot_halt
from trading.models import Bot

pytestmark = pytest.mark.django_db


def staff(make_user, name, role):
    user = make_user(name, staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return user, client


def test_a_risk_officer_halts_and_resumes_a_users_bot_from_the_bot_admin(make_user, alice):
    officer, client = staff(make_user, "olivia", "risk officer")
    bot = create_bot(alice)
    r = client.post("/admin/trading/bot/", {"action": "halt_bots", "_selected_action": [bot.pk]}, follow=True)
    assert r.status_code == 200 and "Halted 1 bot(s)." in r.content.decode()
    bot.refresh_from_db()
    assert bot.status == "halted" and "olivia" in bot.halt_reason
    assert AuditEvent.objects.filter(actor=officer, action="bot.halt", target=f"bot:{bot.pk}").exists()
    assert RiskEvent.objects.filter(bot=bot, code="bot_halted").exists()

    r = client.post("/admin/trading/bot/", {"action": "resume_bots", "_selected_action": [bot.pk]}, follow=True)
    assert "Resumed 1 bot(s)." in r.content.decode()
    assert Bot.objects.get(pk=bot.pk).status == "running"


def test_support_staff_see_bots_but_cannot_halt_them(make_user, alice):
    _, client = staff(make_user, "sam", "support")
    bot = create_bot(alice, name="visible")
    page = client.get("/admin/trading/bot/")
    assert page.status_code == 200 and "visible" in page.content.decode()
    client.post("/admin/trading/bot/", {"action": "halt_bots", "_selected_action": [bot.pk]}, follow=True)
    assert Bot.objects.get(pk=bot.pk).status == "running"
    assert client.get("/admin/keys/exchangekey/").status_code == 403  # no secrets, not even masked ones
    assert client.get("/admin/accounts/user/").status_code == 200


def test_risk_events_are_read_only_and_auditors_can_read_them(make_user, alice):
    _, client = staff(make_user, "audrey", "auditor")
    bot = create_bot(alice)
    bot_halt(bot=bot, actor=alice, reason="test halt")
    event = RiskEvent.objects.get(bot=bot)
    assert client.get("/admin/risk/riskevent/").status_code == 200
    detail = client.get(f"/admin/risk/riskevent/{event.pk}/change/")
    assert detail.status_code == 200 and "test halt" in detail.content.decode()
    assert client.get("/admin/risk/riskevent/add/").status_code == 403
    assert client.post(f"/admin/risk/riskevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert RiskEvent.objects.filter(pk=event.pk).exists()
    assert client.get("/admin/accounts/auditevent/").status_code == 200  # the audit log, read-only
    assert client.get("/admin/trading/bot/").status_code == 403  # auditors do not browse bots


def test_global_stop_from_the_kill_switch_admin(make_user, alice, bob):
    officer, client = staff(make_user, "olivia", "risk officer")
    bots = [create_bot(alice), create_bot(bob)]
    switch = KillSwitch.objects.get(key="global")
    r = client.post("/admin/risk/killswitch/", {"action": "stop_scope", "_selected_action": [switch.pk]},
                    follow=True)
    assert "global: engaged; 2 bot(s) halted" in " ".join(str(m) for m in r.context["messages"])
    assert KillSwitch.objects.get(key="global").engaged_by == officer
    assert set(Bot.objects.filter(pk__in=[b.pk for b in bots]).values_list("status", flat=True)) == {"halted"}


def test_policy_overrides_saved_in_admin_cannot_loosen_the_platform(make_user, alice):
    root = make_user("root", staff=True, is_superuser=True)
    client = Client()
    client.force_login(root)
    client.post("/admin/risk/riskpolicy/add/", {"scope": "user", "user": alice.pk, "max_trades_per_day": 500})
    assert not RiskPolicy.objects.filter(scope="user", user=alice).exists()
    client.post("/admin/risk/riskpolicy/add/", {"scope": "user", "user": alice.pk, "max_trades_per_day": 20})
    assert RiskPolicy.objects.get(scope="user", user=alice).max_trades_per_day == 20


def test_the_platform_policy_is_edited_in_admin_and_audited(make_user):
    officer, client = staff(make_user, "olivia", "risk officer")
    platform = RiskPolicy.objects.get(scope="platform")
    data = {"scope": "platform", "max_position_pct": "100", "max_open_trades": 10, "max_trades_per_day": 30,
            "daily_loss_pct": "5", "max_drawdown_pct": "25", "max_orders_per_minute": 10, "cooldown_minutes": 60,
            "user_daily_loss_pct": "5"}
    r = client.post(f"/admin/risk/riskpolicy/{platform.pk}/change/", data)
    assert r.status_code == 302, r.content.decode()[:2000]
    assert RiskPolicy.objects.get(pk=platform.pk).max_trades_per_day == 30
    assert AuditEvent.objects.filter(actor=officer, action="risk_policy.platform_change").exists()
    assert client.post(f"/admin/risk/riskpolicy/{platform.pk}/delete/", {"post": "yes"}).status_code == 403


def test_manage_py_emergency_stop(make_user, alice, bob):
    from io import StringIO

    from django.core.management import CommandError, call_command

    root = make_user("root", staff=True, is_superuser=True)
    bots = [create_bot(alice), create_bot(bob)]
    with pytest.raises(CommandError, match="Only a risk officer"):
        call_command("emergency_stop", "--as", "alice", "--scope", "global")
    out = StringIO()
    call_command("emergency_stop", "--as", root.username, stdout=out)
    assert "kill switch global engaged" in out.getvalue().lower() and "2 bot(s) halted" in out.getvalue()
    assert set(Bot.objects.filter(pk__in=[b.pk for b in bots]).values_list("status", flat=True)) == {"halted"}


def test_an_override_without_its_target_is_a_form_error_not_a_crash(make_user):
    root = make_user("root", staff=True, is_superuser=True)
    client = Client()
    client.force_login(root)
    r = client.post("/admin/risk/riskpolicy/add/", {"scope": "bot", "max_trades_per_day": 5})
    assert r.status_code == 200 and "A bot policy needs a bot." in r.content.decode()
    r = client.post("/admin/risk/riskpolicy/add/", {"scope": "platform", "max_trades_per_day": 5})
    assert r.status_code == 200  # a second platform row is refused by the form
    assert RiskPolicy.objects.filter(scope="platform").count() == 1
