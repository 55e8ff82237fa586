"""Brute-force brakes for login and sign-up: per client IP and per username."""

import hashlib

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class _SettingsRate(SimpleRateThrottle):
    def get_rate(self):
        # Read at request time so an operator (or a test) can change the rate without a restart.
        return settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][self.scope]


class AuthIPThrottle(_SettingsRate):
    scope = "auth_ip"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class AuthUsernameThrottle(_SettingsRate):
    scope = "auth_username"

    def get_cache_key(self, request, view):
        username = request.data.get("username") if hasattr(request.data, "get") else None
        if not isinstance(username, str) or not username.strip():
            return None
        # hashed: a username is user input (any characters, any length), a cache key should not be
        ident = hashlib.sha256(username.strip().lower()[:150].encode()).hexdigest()[:32]
        return self.cache_format % {"scope": self.scope, "ident": ident}
