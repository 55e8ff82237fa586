"""How the OpenAPI schema describes our authentication. The bearer scheme (simplejwt's JWT scheme, for our
subclass that also checks the token version and the logout denylist: accounts.tokens.PlatformJWTAuthentication)
is named so that it sorts first: the docs page lists schemes in name order, and a pasted token must land in the
bearer box, not the session cookie's."""

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme

BEARER_HOW_TO = ("Paste the `access_token` from `POST /api/auth/login/` (without the word Bearer); it lasts "
                 "a few minutes, `POST /api/auth/refresh/` gives a new one.")


class PlatformJWTScheme(SimpleJWTScheme):
    target_class = "accounts.tokens.PlatformJWTAuthentication"
    name = "bearerAuth"  # before "sessionCookie"

    def get_security_definition(self, auto_schema):
        return {**super().get_security_definition(auto_schema), "description": BEARER_HOW_TO}


class PlatformSessionScheme(SessionScheme):
    name = "sessionCookie"
    priority = 1  # ours, not drf-spectacular's own "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {**super().get_security_definition(auto_schema),
                "description": "The signed-in browser session of the platform's pages (with its CSRF token); "
                               "scripts use the bearer token instead."}
