"""WebSocket authentication: the session cookie for pages, a JWT access token for API clients.

API clients send `Authorization: Bearer <access_token>` on the upgrade request (or, where
a client cannot set headers, `?token=<access_token>`; prefer the header: query strings
end up in access logs).
"""

from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware


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
            if token is None:
                token = (parse_qs(scope.get("query_string", b"").decode()).get("token") or [None])[0]
            if token:
                found = await _user_for(token)
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
