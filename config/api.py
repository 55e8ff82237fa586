"""One error shape for the whole API: {"error": {"code", "message", "fields"}}."""

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, QuerySet, Window
from django.db.models.query import ModelIterable
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework import fields as drf_fields
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.settings import api_settings
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


class OneQueryPaginator(Paginator):
    """Django's Paginator, but a page of a plain model queryset and the total count come from one query.

    Django counts first (SELECT COUNT(*)) and then fetches the page; here the page's rows carry the count
    (COUNT(*) OVER (), which PostgreSQL computes over every matching row before LIMIT/OFFSET). Only a page
    with no rows (an empty list, a page past the end) asks for the count on its own, as Django does, so the
    answers and the 404 past the last page stay Django's. Querysets that are not plain rows of a model
    (values(), DISTINCT, a union, already sliced) take Django's way.
    """

    def page(self, number):
        qs = self.object_list
        if ("count" in self.__dict__ or self.orphans or not isinstance(qs, QuerySet)
                or qs._iterable_class is not ModelIterable or qs.query.distinct or qs.query.combinator
                or qs.query.is_sliced or not str(number).isdigit() or int(number) < 1):
            return super().page(number)
        number = int(number)
        bottom = (number - 1) * self.per_page
        rows = list(qs.annotate(page_total_count=Window(Count("*")))[bottom:bottom + self.per_page])
        if not rows:
            return super().page(number)
        self.__dict__["count"] = rows[0].page_total_count  # Paginator.count is a cached_property
        return self._get_page(rows, number, self)


class Pagination(PageNumberPagination):
    """Pages of 50 (page_size up to 500). A page or page_size that is not a positive whole number is a 400
    (DRF would silently use the default size); a page past the last one is a 404, as DRF answers."""

    django_paginator_class = OneQueryPaginator
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

# field types whose to_representation depends on nothing but the value (not on the serializer's context)
_CONTEXT_FREE_FIELDS = (drf_fields.DecimalField, drf_fields.JSONField, drf_fields.BooleanField,
                        drf_fields.FloatField, drf_fields.IntegerField, drf_fields.CharField,
                        drf_fields.DateTimeField, drf_fields.ChoiceField)


def iso_utc(value: datetime) -> str:
    """A datetime as DRF's DateTimeField writes it with TIME_ZONE "UTC": ISO 8601 in UTC, "Z" for +00:00
    (a naive value is taken as UTC)."""
    text = (value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class FastOutput:
    """Mix into an output-only Serializer: the same JSON as DRF's to_representation, for less CPU per object.

    DRF looks each field up through its generic attribute walk and, for a datetime, the current time
    zone (a context-local lookup) per value; for a page of 50 orders that was about half of the view's
    time. Here a per-serializer plan reads plain fields with getattr and renders integers, strings and
    ISO 8601 datetimes (UTC, "Z") directly; any other field (method fields, dotted sources, decimals,
    JSON, nested serializers) goes through the field itself, as DRF does. tests/api/test_fast_output.py
    compares both paths on every serializer using it.

    The plan is made once per class (per datetime format and time zone) when every field in it renders
    from its value alone: then a new serializer instance (one per request) never builds `self.fields`,
    DRF's deep copy of every declared field (a third of a bot list's serializer time). Method fields are
    called on the instance at hand. Otherwise (a custom __init__ or get_fields, a field that could read
    the context) the plan is per instance, as before.
    """

    def _fast_plan(self) -> list:
        plan = self.__dict__.get("_fast_plan_cache")
        if plan is not None:
            return plan
        cls = type(self)
        key = (api_settings.DATETIME_FORMAT, settings.TIME_ZONE)
        shared = cls.__dict__.get("_fast_class_plans")
        if shared is not None and key in shared:
            return shared[key]
        iso = (api_settings.DATETIME_FORMAT or "").lower() == "iso-8601" and settings.TIME_ZONE == "UTC"
        plan, context_free = [], True
        for field in self._readable_fields:
            simple = field.source_attrs == [field.field_name] and not isinstance(field, drf_fields.SerializerMethodField)
            kind = "field"
            if isinstance(field, drf_fields.SerializerMethodField):
                kind = "method"
            elif simple and type(field) is drf_fields.IntegerField:
                kind = "int"
            elif simple and type(field) is drf_fields.CharField:
                kind = "str"
            elif (simple and type(field) is drf_fields.DateTimeField and iso and not hasattr(field, "format")
                  and not hasattr(field, "timezone")):
                kind = "datetime"
            elif simple:
                kind = "attr"
            if kind in ("field", "attr") and not isinstance(field, _CONTEXT_FREE_FIELDS):
                context_free = False
            plan.append((field.field_name, kind, field))
        self.__dict__["_fast_plan_cache"] = plan
        if (context_free and cls.__init__ is serializers.BaseSerializer.__init__
                and cls.get_fields is serializers.Serializer.get_fields):
            if shared is None:
                shared = {}
                setattr(cls, "_fast_class_plans", shared)  # noqa: B010 - on this very class, not a parent
            shared[key] = plan
        return plan

    def to_representation(self, instance):
        if isinstance(instance, Mapping):
            return super().to_representation(instance)
        ret = {}
        for name, kind, field in self._fast_plan():
            if kind == "method":
                ret[name] = getattr(self, field.method_name)(instance)
                continue
            if kind == "field":
                value = field.get_attribute(instance)
                ret[name] = None if value is None else field.to_representation(value)
                continue
            value = getattr(instance, name)
            if value is None:
                ret[name] = None
            elif kind == "int":
                ret[name] = int(value)
            elif kind == "str":
                ret[name] = str(value)
            elif kind == "datetime":
                ret[name] = iso_utc(value)
            else:
                ret[name] = field.to_representation(value)
        return ret
