"""Every answer under /api/ is JSON in the one error shape, including Django's own 400/404/500 and outages.

Pages keep their HTML error pages. When PostgreSQL or Redis cannot be reached, the answer is 503 with
Retry-After (JSON under /api/, a short page elsewhere), never a 500 with a traceback.
"""

import logging
import sys

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.views import defaults

from config.api import error_body

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def bad_request(request, exception=None):
    if not _is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse(error_body("payload_too_large", "The request body is too large."), status=413)
    if isinstance(exception, TooManyFieldsSent):
        return JsonResponse(error_body("invalid", "Too many fields in the request."), status=400)
    return JsonResponse(error_body("bad_request", "Bad request."), status=400)


def not_found(request, exception=None):
    if not _is_api(request):
        return defaults.page_not_found(request, exception)
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def server_error(request):
    what = _outage(sys.exc_info()[1])  # Django calls this inside its `except`: an outage in a middleware lands here
    if what is not None:
        return unavailable_response(request, what)
    if not _is_api(request):
        return defaults.server_error(request)
    return JsonResponse(error_body("server_error", "Something went wrong on our side; it was logged."), status=500)


def _outage(exc) -> str | None:
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover
        RedisConnectionError = RedisTimeoutError = ()  # noqa: N806
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return "redis"
    if isinstance(exc, OperationalError | InterfaceError):
        return "database"
    return None


def unavailable_response(request, what: str):
    message = "The service is briefly unavailable (a backing store cannot be reached); try again shortly."
    if _is_api(request):
        response = JsonResponse(error_body("service_unavailable", message), status=503)
    else:
        response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class OutageMiddleware:
    """Turns 'PostgreSQL or Redis is unreachable' into 503 + Retry-After instead of a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exc):
        what = _outage(exc)
        if what is None:
            return None
        log.warning("%s unreachable while serving %s %s: %s", what, request.method, request.path, type(exc).__name__)
        return unavailable_response(request, what)
