"""The user an API request runs as is read without the ORM's query compiler (accounts.selectors.user_by_pk):
it must be the very user the ORM loads, and the token checks built on it must answer as simplejwt's did."""

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.selectors import user_by_pk
from accounts.tokens import refresh_for

pytestmark = pytest.mark.django_db


def test_it_is_the_user_the_orm_loads(alice):
    alice.totp_enabled, alice.must_change_password, alice.email = True, True, "alice@example.com"
    alice.save()
    fresh, orm = user_by_pk(alice.pk), User.objects.get(pk=alice.pk)
    assert fresh is not None and fresh.pk == alice.pk and not fresh._state.adding
    for field in User._meta.concrete_fields:
        assert getattr(fresh, field.attname) == getattr(orm, field.attname), field.attname
    assert fresh.last_login is None or fresh.last_login.tzinfo is not None
    assert fresh.date_joined.tzinfo is not None
    assert user_by_pk(alice.pk + 10_000) is None


def test_a_token_of_a_deleted_or_inactive_user_is_refused_with_simplejwts_answers(alice, bob):
    for user, change, code in ((alice, "delete", "user_not_found"), (bob, "deactivate", "user_inactive")):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {refresh_for(user).access_token}")
        assert client.get("/api/auth/me/").status_code == 200
        if change == "delete":
            User.objects.filter(pk=user.pk).delete()
        else:
            User.objects.filter(pk=user.pk).update(is_active=False)  # no version bump: the row alone must refuse
        r = client.get("/api/auth/me/")
        assert r.status_code == 401, (change, r.content)
        assert code in r.content.decode(), (change, r.content)
