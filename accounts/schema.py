"""How the OpenAPI schema describes our bearer authentication: simplejwt's JWT scheme, for our subclass
that also checks the token version and the logout denylist (accounts.tokens.PlatformJWTAuthentication)."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class PlatformJWTScheme(SimpleJWTScheme):
    target_class = "accounts.tokens.PlatformJWTAuthentication"
    name = "jwtAuth"
