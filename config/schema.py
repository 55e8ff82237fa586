"""The OpenAPI schema documents every answer the API gives, errors included, in the one error shape.

A drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]) adds the `Error`
component ({"error": {"code", "message", "fields"}}, config/api.py) and, to every operation, the error
answers the shared machinery can give it; an operation's own declaration of a code wins:

- 400 invalid input or an unreadable body (every operation: query strings and bodies are validated),
- 401 no or a bad token, 403 not allowed (staff-only, CSRF for session callers),
- 404 an id that is not the caller's (in the path, a query or the body), a page past the last one,
- 409 the state forbids it (writes: quota_exceeded, bot already running, kill switch on ...),
- 413 a body over the size limit (operations with a body),
- 429 throttled (every operation: the per-user rate; sign-in brakes), with Retry-After,
- 503 PostgreSQL, Redis or the exchange's market list unavailable, with Retry-After.

schemathesis checks the server against this in `make test` (tests/api/test_schema_contract.py).
"""

from django.core.validators import RegexValidator
from drf_spectacular import openapi
from rest_framework import serializers

ERROR_SCHEMA = {
    "type": "object",
    "description": "The one error shape of the API.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "Machine-readable reason, e.g. invalid, not_found, "
                                                          "quota_exceeded, throttled."},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}},
                           "description": "Per-field messages for invalid input; empty otherwise."},
            },
            "required": ["code", "message", "fields"],
        },
    },
    "required": ["error"],
}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}}
DESCRIPTIONS = {
    "400": "Invalid input (code `invalid` with per-field messages, or a more specific code).",
    "401": "Not signed in, or the token is invalid or expired.",
    "403": "Signed in but not allowed.",
    "404": "No such object among the caller's own.",
    "409": "The current state forbids it (e.g. `quota_exceeded`, naming the limit and the value).",
    "413": "The request body is too large.",
    "429": "Too many requests (`throttled`); wait the Retry-After seconds.",
    "503": "A service the API needs is unavailable; retry after Retry-After seconds.",
}
WRITES = {"post", "put", "patch", "delete"}
NO_NUL = "^[^\\x00]*$"  # DRF refuses NUL characters in every text field
NO_NUL_NOT_BLANK = "^[^\\x00]*[^\\s\\x00][^\\x00]*$"


def _names_ids(operation: dict, schemas: dict) -> bool:
    """Whether the operation takes another object's id (a query parameter or a body field): that id may be
    none of the caller's, a 404."""
    names = [p.get("name", "") for p in operation.get("parameters", []) if p.get("in") == "query"]
    for media in operation.get("requestBody", {}).get("content", {}).values():
        ref = media.get("schema", {}).get("$ref", "")
        names += list(schemas.get(ref.rsplit("/", 1)[-1], {}).get("properties", {}))
    return any(n in ("bot", "page") or n.endswith("_id") for n in names)


def _codes(path: str, method: str, operation: dict, schemas: dict) -> list[str]:
    codes = ["400", "401", "403", "429", "503"]
    if "{" in path or _names_ids(operation, schemas):
        codes.append("404")  # an id that is not the caller's, or a page past the last one
    if method in WRITES:
        codes += ["409", "413"]
    return codes


def add_error_responses(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR_SCHEMA)
    ref = {"$ref": "#/components/schemas/Error"}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for code in _codes(path, method, operation, schemas):
                if code in responses:
                    continue
                answer = {"description": DESCRIPTIONS[code], "content": {"application/json": {"schema": ref}}}
                if code in ("429", "503"):
                    answer["headers"] = RETRY_AFTER
                responses[code] = answer
    return result


def decimal_pattern(field) -> str:
    """A decimal string's pattern with the field's bounds that a pattern can carry: at least one digit (DRF
    refuses "" and "."), no sign when the minimum is 0 or more, and a maximum that is a power of ten (100 for
    a percentage) as the number of integer digits. drf-spectacular's own allows "", "-" and any size."""
    places = field.decimal_places
    digits = None if field.max_digits is None else field.max_digits - (places or 0)
    frac = "" if places == 0 else (rf"(?:\.\d{{0,{places}}})?" if places is not None else r"(?:\.\d*)?")
    sign = "" if field.min_value is not None and field.min_value >= 0 else "-?"
    top = field.max_value
    exact_top = (top is not None and sign == "" and top >= 1 and top == 10 ** (len(str(int(top))) - 1)
                 and top == int(top))
    if exact_top:
        digits = len(str(int(top))) - 1
    whole = r"\d+" if digits is None else rf"\d{{1,{max(digits, 1)}}}"
    alternatives = [whole + frac]
    if places != 0:
        alternatives.append(rf"\.\d{{1,{places}}}" if places else r"\.\d+")
    if exact_top:
        alternatives.append(str(int(top)) + (rf"(?:\.0{{0,{places}}})?" if places else ""))
        if digits == 0:
            alternatives = alternatives[1:]  # a maximum of 1: only 0.x and 1
            alternatives.insert(0, "0" + frac)
    return f"^{sign}(?:{'|'.join(alternatives)})$"


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's, plus what the server enforces and drf-spectacular leaves out:

    - request bodies on DELETE where the view declares one (turning two-factor codes off needs the
      password): drf-spectacular documents bodies only for POST, PUT and PATCH;
    - text input never holds a NUL character (DRF refuses it in every CharField), nor only whitespace where
      blank is refused (DRF trims first);
    - a request serializer's `schema_extra` (rules across fields, e.g. `anyOf`/`not`) merged into its
      request schema, where one field's rule depends on another's value.
    """

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction == "request" and isinstance(field, serializers.DecimalField) and schema.get("type") == "string":
            schema["pattern"] = decimal_pattern(field)
            return schema
        if (direction == "request" and isinstance(field, serializers.CharField) and schema.get("type") == "string"
                and "pattern" not in schema and "enum" not in schema and "format" not in schema
                and not any(isinstance(v, RegexValidator) for v in field.validators)):  # a RegexField has its own
            # DRF trims surrounding whitespace first: then a blank-refusing field needs one visible character
            blank_refused = field.trim_whitespace and not field.allow_blank
            schema["pattern"] = NO_NUL_NOT_BLANK if blank_refused else NO_NUL
        return schema

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        extra = getattr(serializer, "schema_extra", None)
        if direction == "request" and extra:
            schema.update(extra() if callable(extra) else extra)
        return schema

    def _get_request_body(self, direction="request"):
        if self.method != "DELETE" or self.get_request_serializer() is None:
            return super()._get_request_body(direction)
        self.method = "POST"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"
