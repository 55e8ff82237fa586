"""OpenAPI: our bearer authentication is simplejwt's, documented the same way (imported by AccountsConfig.ready)."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class PlatformJWTScheme(SimpleJWTScheme):
    target_class = "accounts.tokens.PlatformJWTAuthentication"
    name = "jwtAuth"
