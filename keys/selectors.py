from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from keys.models import ExchangeKey


def keys_for(user) -> QuerySet[ExchangeKey]:
    """Every read of keys starts here: a user sees only their own."""
    return ExchangeKey.objects.filter(owner=user)


def key_rotate_due(key: ExchangeKey) -> bool:
    return key.created_at <= timezone.now() - timedelta(days=settings.KEY_ROTATE_AFTER_DAYS)


def key_age_days(key: ExchangeKey) -> int:
    return (timezone.now() - key.created_at).days


def key_test_status(key: ExchangeKey) -> str:
    """passed / failed / untested: what the last connection test (on save or asked for) said."""
    if key.last_test_ok is None:
        return "untested"
    return "passed" if key.last_test_ok else "failed"
