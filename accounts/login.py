"""Password sign-in with brakes that slow guessing without locking the owner out.

Failures (never successes) are counted in Redis over LOGIN_FAILURE_WINDOW_SECONDS:

- per client IP: LOGIN_MAX_FAILURES_PER_IP failures and that address gets 429 for any username;
- per (username, IP): LOGIN_MAX_FAILURES_PER_CLIENT failures and that client gets 429 for that username;
- per username (from anywhere): past LOGIN_SLOW_AFTER_FAILURES each attempt waits a little longer
  (doubling, capped at LOGIN_SLOW_MAX_SECONDS) but is never refused, so a correct password from a
  client that has not failed always gets in; at LOGIN_NOTIFY_AFTER_FAILURES the owner is told once per
  window: audit log, an email (sent by a task, never during the request) and `login_failures_alert`, the
  signal notifications turns into an alert on the owner's channels (notifications sit above accounts).

The pages (`/login/`) and the API (`POST /api/auth/login/`) both go through `login_attempt`.
"""

from __future__ import annotations

import hashlib
import logging
import time

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.dispatch import Signal
from rest_framework import status

from accounts.audit import audit_record
from accounts.emails import LOGIN_FAILURES_TASK, email_enqueue
from accounts.models import User
from accounts.selectors import client_ip
from config.api import DomainError

log = logging.getLogger(__name__)

# Sent (user=, failures=) once per window when a user's account had LOGIN_NOTIFY_AFTER_FAILURES failed
# sign-ins; notifications.receivers raises it as an alert on the user's channels.
login_failures_alert = Signal()


class InvalidCredentials(DomainError):
    code = "invalid_credentials"
    status = status.HTTP_401_UNAUTHORIZED


class LoginThrottled(DomainError):
    code = "throttled"
    status = status.HTTP_429_TOO_MANY_REQUESTS

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


def _h(username: str) -> str:
    # a username is user input (any characters, any length): hash it for the cache key
    return hashlib.sha256(username.strip().lower()[:150].encode()).hexdigest()[:32]


def _keys(username: str, ip: str) -> dict[str, str]:
    return {"ip": f"accounts:login-fail:ip:{ip}", "client": f"accounts:login-fail:client:{_h(username)}:{ip}",
            "username": f"accounts:login-fail:user:{_h(username)}"}


def _count(key: str) -> int:
    return int(cache.get(key) or 0)


def _bump(key: str, window: int) -> int:
    if cache.add(key, 1, timeout=window):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window)
        return 1


def _retry_after(key: str, window: int) -> int:
    try:  # Django's cache API has no ttl(); ask its Redis client
        ttl = cache._cache.get_client(key).ttl(cache.make_and_validate_key(key))
    except Exception:  # noqa: BLE001 - another cache backend: the whole window is a safe answer
        ttl = None
    return int(ttl) if ttl and ttl > 0 else window


def slow_down_seconds(failures: int) -> float:
    over = failures - settings.LOGIN_SLOW_AFTER_FAILURES
    if over < 0:
        return 0.0
    return min(settings.LOGIN_SLOW_MAX_SECONDS, 0.25 * (2 ** min(over, 10)))


def _notify_owner(username: str, failures: int, request) -> None:
    user = User.objects.filter(username__iexact=username.strip()).first()
    if user is None:
        return
    if not cache.add(f"accounts:login-fail:notified:{user.pk}", 1, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS):
        return
    audit_record(action="login.failures_alert", actor=user, target=f"user:{user.pk}", request=request,
                 details={"failures": failures})
    if user.email:
        email_enqueue(LOGIN_FAILURES_TASK, user_id=user.pk, failures=failures)
    try:
        login_failures_alert.send(sender=User, user=user, failures=failures)
    except Exception:  # noqa: BLE001 - a receiver failing must not break sign-in
        log.exception("a login_failures_alert receiver failed for user:%s", user.pk)


def login_attempt(*, request, username: str, password: str) -> User:
    """The user for a correct username and password, or InvalidCredentials / LoginThrottled."""
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    ip = client_ip(request) or "unknown"
    keys = _keys(username, ip)
    if _count(keys["ip"]) >= settings.LOGIN_MAX_FAILURES_PER_IP:
        raise LoginThrottled("Too many failed sign-ins from your address: try again later.",
                             retry_after=_retry_after(keys["ip"], window))
    if _count(keys["client"]) >= settings.LOGIN_MAX_FAILURES_PER_CLIENT:
        raise LoginThrottled("Too many failed sign-ins for this username from your address: try again later.",
                             retry_after=_retry_after(keys["client"], window))
    delay = slow_down_seconds(_count(keys["username"]))
    if delay:
        time.sleep(delay)  # the username is under attack from elsewhere: slower, never refused
    user = authenticate(request, username=username, password=password)  # failures audited by the signal
    if user is not None:
        cache.delete(keys["client"])
        return user
    _bump(keys["ip"], window)
    _bump(keys["client"], window)
    failures = _bump(keys["username"], window)
    if failures >= settings.LOGIN_NOTIFY_AFTER_FAILURES:
        _notify_owner(username, failures, request)
    raise InvalidCredentials("Wrong username or password.")
