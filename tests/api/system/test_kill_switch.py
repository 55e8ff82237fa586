"""GET/DELETE /api/system/kill-switch/: view; release needs re-authentication, is audited, and is scoped."""

import time

import pytest
from django.contrib.auth.models import Group

from accounts.models import AuditEvent
from risk.models import KillSwitch, RiskEvent
from risk.services import kill_switch_engage
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
URL = "/api/system/kill-switch/"


@pytest.fixture
def officer(make_user):
    user = make_user("olivia", staff=True)
    user.groups.add(Group.objects.get(name="risk officer"))
    return user


def engaged(key):
    return KillSwitch.objects.get(key=key).engaged


def test_it_shows_both_switches(api, alice):
    body = api(alice).get(URL).json()
    assert body["global"]["engaged"] is False and body["user"]["engaged"] is False and body["engaged"] is False
    kill_switch_engage(scope="user", user=alice, actor=alice, reason="lunch")
    body = api(alice).get(URL).json()
    assert body["user"]["engaged"] is True and body["user"]["reason"] == "lunch"
    assert body["user"]["engaged_by"] == "alice" and body["engaged"] is True


def test_release_needs_a_password_or_code(api, alice):
    kill_switch_engage(scope="user", user=alice, actor=alice)
    r = api(alice).delete(URL, {}, format="json")
    assert r.status_code == 403 and r.json()["error"]["code"] == "reauthentication_failed"
    r = api(alice).delete(URL, {"password": "not my password"}, format="json")
    assert r.status_code == 403 and r.json()["error"]["fields"]["password"]
    assert engaged(f"user:{alice.pk}")
    assert AuditEvent.objects.filter(actor=alice, action="kill_switch.release_refused").count() == 2


def test_release_with_password_is_audited(api, alice):
    kill_switch_engage(scope="user", user=alice, actor=alice)
    r = api(alice).delete(URL, {"password": PASSWORD}, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["engaged"] is False
    assert not engaged(f"user:{alice.pk}")
    audit = AuditEvent.objects.get(actor=alice, action="kill_switch.release")
    assert audit.details["reauth"] == "password"
    assert PASSWORD not in str(audit.details)
    assert RiskEvent.objects.filter(user=alice, code="kill_switch_released").exists()


def test_totp_release_is_refused_when_two_factor_is_not_set_up(api, alice):
    kill_switch_engage(scope="user", user=alice, actor=alice)
    r = api(alice).delete(URL, {"totp": "123456"}, format="json")
    assert r.status_code == 403 and "password" in r.json()["error"]["message"]
    assert engaged(f"user:{alice.pk}")


def test_a_user_cannot_release_someone_elses_switch(api, alice, bob):
    kill_switch_engage(scope="user", user=alice, actor=alice)
    r = api(bob).delete(URL, {"user_id": alice.pk, "password": PASSWORD}, format="json")
    assert r.status_code == 404
    assert engaged(f"user:{alice.pk}")
    # bob releasing "his" switch leaves alice's alone
    assert api(bob).delete(URL, {"password": PASSWORD}, format="json").status_code == 200
    assert engaged(f"user:{alice.pk}")


def test_a_user_cannot_release_or_engage_the_global_switch(api, alice, officer):
    kill_switch_engage(scope="global", user=None, actor=officer)
    r = api(alice).delete(URL, {"scope": "global", "password": PASSWORD}, format="json")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert engaged("global")


def test_plain_staff_without_the_role_cannot_release_the_global_switch(api, charlie, officer):
    kill_switch_engage(scope="global", user=None, actor=officer)
    assert api(charlie).delete(URL, {"scope": "global", "password": PASSWORD}, format="json").status_code == 403


def test_a_risk_officer_releases_the_global_switch_and_a_users_switch(api, alice, officer):
    kill_switch_engage(scope="global", user=None, actor=officer)
    kill_switch_engage(scope="user", user=alice, actor=alice)
    r = api(officer).delete(URL, {"scope": "global", "password": PASSWORD}, format="json")
    assert r.status_code == 200 and not engaged("global")
    r = api(officer).delete(URL, {"user_id": alice.pk, "password": PASSWORD}, format="json")
    assert r.status_code == 200 and not engaged(f"user:{alice.pk}")
    assert AuditEvent.objects.filter(actor=officer, action="kill_switch.release").count() == 2


def test_roles_exist_with_their_permissions():
    officer = set(Group.objects.get(name="risk officer").permissions.values_list("codename", flat=True))
    assert {"manage_global_kill_switch", "halt_any_bot", "approve_promotion"} <= officer
    support = set(Group.objects.get(name="support").permissions.values_list("codename", flat=True))
    assert {"view_user", "view_bot"} <= support
    assert not any(p.startswith(("change_", "add_", "delete_")) for p in support)
    assert "manage_global_kill_switch" not in support and "halt_any_bot" not in support
    auditor = set(Group.objects.get(name="auditor").permissions.values_list("codename", flat=True))
    assert {"view_auditevent", "view_riskevent"} <= auditor
    assert all(p.startswith("view_") for p in auditor)


def test_release_with_a_totp_code(alice):
    import pyotp

    from accounts.services import ReauthFailed, totp_enroll_confirm, totp_enroll_start
    from trading.execution.safety import kill_switch_release

    kill_switch_engage(scope="user", user=alice, actor=alice)
    _, secret = totp_enroll_start(user=alice)  # enrolment stores the secret encrypted in accounts.TotpDevice
    totp = pyotp.TOTP(secret)
    totp_enroll_confirm(user=alice, code=totp.at(time.time() - 30))
    valid = {totp.at(time.time() + step * 30) for step in (-1, 0, 1)}
    wrong = next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)
    with pytest.raises(ReauthFailed):
        kill_switch_release(scope="user", user=alice, actor=alice, totp=wrong)
    assert engaged(f"user:{alice.pk}")
    kill_switch_release(scope="user", user=alice, actor=alice, totp=totp.now())
    assert not engaged(f"user:{alice.pk}")
    assert AuditEvent.objects.get(actor=alice, action="kill_switch.release").details["reauth"] == "totp"


def test_guessing_the_password_is_stopped_after_five_tries(api, alice):
    kill_switch_engage(scope="user", user=alice, actor=alice)
    for _ in range(5):
        assert api(alice).delete(URL, {"password": "guess"}, format="json").status_code == 403
    r = api(alice).delete(URL, {"password": PASSWORD}, format="json")  # even the right one, for a while
    assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_attempts"
    assert engaged(f"user:{alice.pk}")


def test_releasing_the_global_switch_keeps_a_users_reduce_only_while_their_own_switch_is_on(api, alice, bob,
                                                                                           officer):
    from tests.risk.conftest import create_bot
    from trading.execution.safety import emergency_stop
    from trading.models import Bot

    a, b = create_bot(alice), create_bot(bob)
    emergency_stop(actor=officer, scope="global", reduce_only=True)
    emergency_stop(actor=alice, scope="user", reduce_only=True)
    assert api(officer).delete(URL, {"scope": "global", "password": PASSWORD}, format="json").status_code == 200
    assert Bot.objects.get(pk=b.pk).reduce_only is False  # nothing covers bob any more
    assert Bot.objects.get(pk=a.pk).reduce_only is True  # alice's own switch is still on
