"""One error shape for the whole API: {"error": {"code", "message", "fields"}}."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A refusal a user can act on. Subclasses set `code` and `status`."""

    code = "error"
    status = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, *, fields: dict | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        if code:
            self.code = code


class NotFound(DomainError):
    code = "not_found"
    status = status.HTTP_404_NOT_FOUND


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            msg = _first_message(value)
            return msg if key == "non_field_errors" else f"{key}: {msg}"
        return "Invalid input."
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else "Invalid input."
    return str(detail)


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        response = Response(error_body(exc.code, exc.message, exc.fields), status=exc.status)
        if getattr(exc, "retry_after", None):
            response["Retry-After"] = str(int(exc.retry_after))
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # unknown: a loud 500, logged by Django
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        fields = {k: [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in detail.items()}
        response.data = error_body("invalid", _first_message(exc.detail), fields)
    else:
        detail = getattr(exc, "detail", str(exc))
        code = detail.code if hasattr(detail, "code") else getattr(exc, "default_code", "error")
        if isinstance(detail, dict):
            # simplejwt's InvalidToken carries {"detail", "code", "messages"}
            code = str(detail.get("code", code))
            detail = detail.get("detail", detail)
        response.data = error_body(str(code), _first_message(detail))
    return response


class TextField(serializers.CharField):
    """A CharField that takes only strings: DRF's would turn a JSON number into text ("reason": 0 -> "0"),
    accepting what the schema (type: string) says is invalid."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON body's true or false only: DRF's would also take 0, 1, "yes", "on" ... that the schema
    (type: boolean) calls invalid."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


def query_data(request) -> dict:
    """The query string as plain data for an `In` serializer: `?status=` is then an empty value that the
    field validates (refused unless it allows blank), not a silently omitted one (DRF's form-input rule
    for QueryDicts); the last value of a repeated name counts."""
    return request.query_params.dict()


class Pagination(PageNumberPagination):
    """Pages of 50 (page_size up to 500). A page or page_size that is not a positive whole number is a 400
    (DRF would silently use the default size); a page past the last one is a 404, as DRF answers."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(self, queryset, request, view=None):
        bad = {}
        for name, top in ((self.page_query_param, None), (self.page_size_query_param, self.max_page_size)):
            raw = request.query_params.get(name)
            if raw is None or raw == "last" and name == self.page_query_param:
                continue
            if not (raw.isascii() and raw.isdigit()) or int(raw) < 1 or (top and int(raw) > top):
                bad[name] = [f"Must be a whole number from 1{f' to {top}' if top else ''}."]
        if bad:
            raise exceptions.ValidationError(bad)
        return super().paginate_queryset(queryset, request, view=view)

    def get_schema_operation_parameters(self, view):
        params = super().get_schema_operation_parameters(view)
        for p in params:
            p["schema"] = {"type": "integer", "minimum": 1,
                           **({"maximum": self.max_page_size} if p["name"] == self.page_size_query_param else {})}
        return params
