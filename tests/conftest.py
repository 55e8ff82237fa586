"""Shared fixtures: personas alice (a trader), bob (another trader), charlie (staff), API clients.

Tests run on the real PostgreSQL and Redis that `make test` starts (never SQLite or fakeredis).
"""

import importlib

import pytest
from django.core.cache import cache
from django.db.models.signals import post_migrate
from rest_framework.test import APIClient

PASSWORD = "correct horse battery staple 42"


# Rows the data migrations write: the platform risk policy, the global kill switch, the staff role groups and
# their permissions. (module, function) in migration order.
DATA_MIGRATIONS = [("risk.migrations.0002_defaults_and_staff_roles", "forwards"),
                   ("risk.migrations.0003_user_daily_loss", "platform_default"),
                   ("trading.migrations.0005_promotion", "grant_roles")]
_migrated_apps = None


def _data_migrations_again(sender, using="default", **kwargs):
    """A transactional test ends with a flush of every table, these rows included, and Django then sends
    post_migrate: write them again, as the migrations did, so that no test depends on running before the first
    flush of its process (the suite runs on parallel workers, test files in any order)."""
    global _migrated_apps
    if sender.label != "risk":  # once per flush (post_migrate is sent per app)
        return
    from django.db import connections
    from django.db.migrations.loader import MigrationLoader

    if _migrated_apps is None:
        _migrated_apps = MigrationLoader(connections[using]).project_state().apps
    for module, function in DATA_MIGRATIONS:
        getattr(importlib.import_module(module), function)(_migrated_apps, None)


post_migrate.connect(_data_migrations_again, dispatch_uid="tests-data-migrations-again")


@pytest.fixture(autouse=True)
def _fast_and_clean(request, settings):
    # Argon2 is the real hasher; tests that are not about hashing use a fast one.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher",
                                 *settings.PASSWORD_HASHERS]
    uses_services = request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(
        request.fixturenames)
    if uses_services:
        # throttles, heartbeats, tickers and locks live in Redis: every test starts clean
        # (Django's Redis cache clear() flushes the whole test database, platform keys included)
        cache.clear()
    yield


@pytest.fixture
def make_user(db):
    from accounts.models import User

    def make(username: str, *, staff: bool = False, password: str = PASSWORD, **extra):
        user = User.objects.create_user(username=username, email=f"{username}@example.com", password=password,
                                        is_staff=staff, **extra)
        return user

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def charlie(make_user):
    return make_user("charlie", staff=True)


@pytest.fixture
def anon():
    return APIClient()


@pytest.fixture
def api():
    """api(user) -> an APIClient carrying that user's JWT access token."""
    from accounts.services import tokens_issue

    def client_for(user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user)['access_token']}")
        return client

    return client_for
