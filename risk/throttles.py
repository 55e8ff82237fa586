"""The per-user API request quota as a DRF throttle (REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]).

DRF imports throttle classes while it is itself being imported (APIView's class body), before Django's
apps are ready: this module imports no models at the top; the quota is read per request.
"""

from rest_framework import exceptions
from rest_framework.throttling import SimpleRateThrottle


class UserRequestThrottle(SimpleRateThrottle):
    """The per-user API request quota, per user id (a minute window). Signed-out requests are left to the
    sign-in throttles. Over it: 429 `throttled` naming the limit, with Retry-After."""

    scope = "user_requests"

    def __init__(self):
        pass  # the rate is per user: read in allow_request

    def get_cache_key(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}

    def allow_request(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return True
        from risk.quotas import quotas_for  # at request time: DRF loads this module before apps are ready

        self.rate = f"{quotas_for(user_id=request.user.pk).api_requests_per_minute}/min"
        self.num_requests, self.duration = self.parse_rate(self.rate)
        if super().allow_request(request, view):
            return True
        raise exceptions.Throttled(wait=self.wait(), detail=(
            f"Quota reached: at most {self.num_requests} API requests per minute per user. "
            f"Try again in {max(1, round(self.wait() or 1))} seconds."))
