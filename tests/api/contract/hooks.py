"""Loaded by schemathesis (SCHEMATHESIS_HOOKS) in the contract run: a bearer token per operation.

tests/api/test_schema_contract.py writes CONTRACT_TOKENS (JSON): operation label -> access token, with
"*" for every other operation and "staff" for staff-only ones. Public operations (sign-up, sign-in,
password reset, health) are sent without a token.
"""

import json
import os

import schemathesis

TOKENS = json.loads(os.environ.get("CONTRACT_TOKENS", "{}"))
PUBLIC = set(json.loads(os.environ.get("CONTRACT_PUBLIC", "[]")))
STAFF_PREFIX = "/api/promotions/"


@schemathesis.auth(refresh_interval=None)
class TokenPerOperation:
    def get(self, case, ctx):
        label = case.operation.label  # e.g. "POST /api/auth/logout/"
        if case.operation.path in PUBLIC:
            return None
        if label in TOKENS:
            return TOKENS[label]
        if case.operation.path.startswith(STAFF_PREFIX):
            return TOKENS["staff"]
        return TOKENS["*"]

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
