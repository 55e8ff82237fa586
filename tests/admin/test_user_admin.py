"""Staff deactivating a user in admin: that user's sessions and refresh tokens stop working at once."""

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from accounts.models import AuditEvent
from accounts.services import tokens_issue

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(charlie):
    charlie.is_superuser = True
    charlie.save()
    c = Client()
    c.force_login(charlie)
    return c


def _alice_sessions(alice) -> int:
    return sum(1 for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(alice.pk))


def _signed_in(user) -> Client:
    c = Client()
    c.force_login(user)
    assert c.get("/").status_code == 200
    return c


def _assert_locked_out(anon, browser, pair):
    assert browser.get("/").status_code == 302  # the page session is gone: back to the login page
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access_token']}")
    assert anon.get("/api/auth/me/").status_code == 401
    anon.credentials()
    r = anon.post("/api/auth/refresh/", {"refresh_token": pair["refresh_token"]}, format="json")
    assert r.status_code == 401


def test_unticking_active_on_the_change_form_ends_sessions_and_tokens(staff_client, alice, charlie, anon):
    browser, pair = _signed_in(alice), tokens_issue(user=alice)
    assert _alice_sessions(alice) == 1
    form = staff_client.get(f"/admin/accounts/user/{alice.pk}/change/")
    assert form.status_code == 200
    r = staff_client.post(f"/admin/accounts/user/{alice.pk}/change/", {
        "username": "alice", "email": "alice@example.com", "first_name": "", "last_name": "",
        # is_active left unticked
        "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
    })
    assert r.status_code == 302, r.content.decode()[:2000]
    alice.refresh_from_db()
    assert alice.is_active is False
    assert _alice_sessions(alice) == 0
    _assert_locked_out(anon, browser, pair)
    event = AuditEvent.objects.get(action="user.deactivate")
    assert event.actor == charlie and event.target == f"user:{alice.pk}"
    assert event.details == {"tokens_revoked": 1, "sessions_ended": 1}


def test_the_deactivate_action_does_the_same_but_never_to_yourself(staff_client, alice, bob, charlie, anon):
    browser, pair = _signed_in(alice), tokens_issue(user=alice)
    r = staff_client.post("/admin/accounts/user/", {
        "action": "deactivate_users", "_selected_action": [alice.pk, bob.pk, charlie.pk]}, follow=True)
    assert "You cannot deactivate yourself." in r.content.decode()
    assert "Deactivated 2 user(s)" in r.content.decode()
    assert sorted(type(alice).objects.filter(is_active=False).values_list("username", flat=True)) == ["alice", "bob"]
    charlie.refresh_from_db()
    assert charlie.is_active
    _assert_locked_out(anon, browser, pair)
    assert staff_client.get("/admin/").status_code == 200  # the staff member is still signed in


def test_a_deactivated_user_cannot_log_in_on_the_page(staff_client, alice):
    from tests.conftest import PASSWORD

    staff_client.post("/admin/accounts/user/", {"action": "deactivate_users", "_selected_action": [alice.pk]})
    c = Client()
    r = c.post("/login/", {"username": "alice", "password": PASSWORD})
    assert r.status_code == 200 and "_auth_user_id" not in c.session
