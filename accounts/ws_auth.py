"""WebSocket authentication: the session cookie for pages, a JWT access token for API clients.

API clients send `Authorization: Bearer <access_token>` on the upgrade request. A client that
cannot set headers (a browser's WebSocket API) first gets a ticket from `POST /api/auth/ws-ticket/`
and connects with `?ticket=<ticket>`: valid WS_TICKET_SECONDS, good for one connection, and ended
with the user's tokens. An access token in the query string (`?token=`) is not accepted: query
strings end up in logs, and WebSocket paths are logged without theirs anyway (WsQueryStringFilter).
"""

import logging
import secrets
from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware

TICKET_PREFIX = "accounts:ws-ticket:"


def ws_ticket_issue(*, user) -> tuple[str, int]:
    """A single-use, short-lived ticket for one WebSocket connection of `user`: (ticket, seconds valid)."""
    from django.conf import settings
    from django.core.cache import cache

    ticket = secrets.token_urlsafe(24)
    seconds = settings.WS_TICKET_SECONDS
    cache.set(f"{TICKET_PREFIX}{ticket}", {"user": user.pk, "tv": user.token_version}, timeout=seconds)
    return ticket, seconds


@database_sync_to_async
def _user_for_ticket(ticket: str):
    from django.core.cache import cache

    from accounts.models import User  # late: config.asgi imports this module before the apps are loaded

    if not ticket or len(ticket) > 64:
        return None
    key = f"{TICKET_PREFIX}{ticket}"
    claim = cache.get(key)
    if not claim or not cache.delete(key):  # spent: by this connection only
        return None
    user = User.objects.filter(pk=claim["user"], is_active=True).first()
    if user is None or user.token_version != claim["tv"] or user.must_change_password:
        return None
    return user


@database_sync_to_async
def _user_for(token: str):
    from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError

    # late: config.asgi imports this module before Django's apps are loaded (tokens imports models)
    from accounts.tokens import PlatformJWTAuthentication as JWTAuthentication

    auth = JWTAuthentication()
    try:
        return auth.get_user(auth.get_validated_token(token))
    except (InvalidToken, TokenError, AuthenticationFailed):
        return None


class JWTAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        if user is None or not user.is_authenticated:
            token = None
            for name, value in scope.get("headers", []):
                if name == b"authorization" and value.lower().startswith(b"bearer "):
                    token = value[7:].decode(errors="ignore").strip()
            found = None
            if token:
                found = await _user_for(token)
            else:
                query = parse_qs(scope.get("query_string", b"").decode(errors="ignore"))
                ticket = (query.get("ticket") or [None])[0]
                if ticket:
                    found = await _user_for_ticket(ticket)
            if found is not None:
                scope = {**scope, "user": found}
        return await super().__call__(scope, receive, send)


def SessionOrJWTAuthStack(inner):  # noqa: N802 - reads like Channels' own AuthMiddlewareStack
    return AuthMiddlewareStack(JWTAuthMiddleware(inner))


class BrowserOriginValidator:
    """Cross-site WebSocket hijacking guard.

    Browsers always send Origin, and only browsers carry the session cookie on their own,
    so an Origin must name one of our hosts (ALLOWED_HOSTS or CORS_ALLOWED_ORIGINS). Native
    and server clients send no Origin and authenticate with a JWT instead.
    """

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        from channels.security.websocket import OriginValidator
        from django.conf import settings

        origin = dict(scope.get("headers", [])).get(b"origin")
        if origin is None:
            return await self.application(scope, receive, send)
        allowed = list(settings.ALLOWED_HOSTS) + list(settings.CORS_ALLOWED_ORIGINS)
        return await OriginValidator(self.application, allowed)(scope, receive, send)


class WsQueryStringFilter(logging.Filter):
    """Drop the query string of WebSocket paths from server log lines (uvicorn's access and WebSocket lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_strip(a) for a in record.args)
        return True


def _strip(arg):
    if isinstance(arg, str) and arg.startswith("/ws/") and "?" in arg:
        return arg.split("?", 1)[0] + "?…"
    return arg


def ws_log_filter_install() -> None:
    for name in ("uvicorn.access", "uvicorn.error", "django.channels.server", "daphne.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, WsQueryStringFilter) for f in logger.filters):
            logger.addFilter(WsQueryStringFilter())
