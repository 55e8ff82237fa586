"""The schema is the contract: schemathesis fuzzes every operation of /api/schema/ against the live server.

The platform runs in this process (uvicorn, the browser tests' server) on the test database and Redis;
schemathesis runs as its command, `--checks all`, every phase (examples, coverage, fuzzing, stateful),
a bounded number of examples per operation and a fixed seed, and the test fails on any finding, listing
them. Whatever it finds is fixed in the server or the schema; tests/api/contract/schemathesis.toml lists
the few refusals that depend on data the schema cannot carry (listed markets and a strategy's parameters,
a one-time code's secret, allowed notification hosts, the exchange's verdict on a key), each with its reason.

Destructive operations must not make the run flaky: each of them (sign-out, password change, two-factor
enrolment, emergency stop, kill switch release, revoking every key, resuming every bot, tightening the
risk policy) runs as its own fresh user, so it can end its own tokens or halt its own bots without
touching the user every other operation runs as (tests/api/contract/hooks.py picks the token per
operation). Staff-only operations (promotion reviews) run as a staff superuser, the sign-up/sign-in/reset/health operations
without a token.

Before this work: 89 unique findings (1,101 test cases, 10 examples per operation, seed 1); after: 0
(about 3,360 test cases, 130-160 s on this 2-core machine with other runs in parallel).
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.browser.conftest import _asgi_server  # noqa: F401 - the in-process uvicorn server, session-wide
from tests.emulator.fixtures import binance_emulator  # noqa: F401

HERE = Path(__file__).parent / "contract"
EXAMPLES = int(os.environ.get("CONTRACT_EXAMPLES", "10"))
SEED = os.environ.get("CONTRACT_SEED", "1")
PUBLIC = ["/api/auth/register/", "/api/auth/login/", "/api/auth/login/totp/", "/api/auth/refresh/",
          "/api/auth/password-reset/", "/api/auth/password-reset/confirm/", "/api/health/", "/api/health/ping/"]
# Operations that change the whole account's state: one fresh user each.
OWN_USER = ["POST /api/auth/logout/", "POST /api/auth/password/", "POST /api/auth/totp/", "DELETE /api/auth/totp/",
            "POST /api/auth/totp/confirm/", "POST /api/system/emergency-stop/", "DELETE /api/system/kill-switch/",
            "POST /api/keys/revoke-all/", "POST /api/bots/resume-all/", "PATCH /api/risk/policy/",
            "PATCH /api/risk/policy/bots/{id}/"]


@pytest.fixture
def platform(_asgi_server, transactional_db, settings, binance_emulator):  # noqa: F811
    """The live server with what a running platform has: one exchange (the local Binance emulator, so key
    tests and market lists get real answers and nothing leaves the machine) with its market list loaded,
    fresh worker heartbeats, and a per-user request quota high enough for a fuzzer (429 is documented;
    the quota itself is tested in tests/api/test_quotas.py)."""
    from django.core.cache import cache

    from accounts.services import heartbeat_key
    from trading.services.markets import markets_sync

    settings.SUPPORTED_EXCHANGES = ["binance"]
    settings.CCXT_OVERRIDES = binance_emulator.ccxt_overrides()
    settings.HEARTBEAT_MAX_AGE_SECONDS = 3600
    settings.QUOTA_API_REQUESTS_PER_MINUTE = 1_000_000
    for worker in ("worker", "alerts"):
        cache.set(heartbeat_key(worker), str(time.time()), timeout=3600)
    markets_sync(exchange="binance")
    return _asgi_server


def _findings(report: dict) -> list[str]:
    return [f"{f['code']} {f['title']} x{f['count']}: {', '.join(f['operations'])}" for f in report["failures"]]


@pytest.mark.timeout(900)
def test_the_server_answers_as_its_schema_says(platform, make_user, tmp_path):
    from accounts.services import tokens_issue

    tokens = {"*": tokens_issue(user=make_user("contract"))["access_token"],
              "staff": tokens_issue(user=make_user("contract-staff", staff=True, is_superuser=True))["access_token"]}
    for n, label in enumerate(OWN_USER):
        tokens[label] = tokens_issue(user=make_user(f"contract-own-{n}"))["access_token"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.api.contract.hooks", "CONTRACT_TOKENS": json.dumps(tokens),
           "CONTRACT_PUBLIC": json.dumps(PUBLIC), "PYTHONPATH": str(Path.cwd())}
    cmd = [str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(HERE / "schemathesis.toml"),
           "run", f"{platform}/api/schema/", "--checks", "all", "--max-examples", str(EXAMPLES), "--seed", SEED,
           "--workers", "1", "--request-timeout", "20", "--generation-database", "none", "--report", "json", "--report-json-path",
           str(tmp_path / "report.json"), "--no-color"]
    started = time.monotonic()
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.monotonic() - started
    report = json.loads((tmp_path / "report.json").read_text())
    findings = _findings(report)
    cases = report.get("test_cases", {})
    print(f"schemathesis: {report['operations'].get('tested')} operations, {cases.get('generated')} test cases, "
          f"{cases.get('unique_failures')} unique failures ({len(findings)} kinds), {elapsed:.0f} s")
    assert run.returncode == 0 and not findings and not report["errors"], (
        "\n".join(findings) + "\n\n" + run.stdout[-20000:] + run.stderr[-3000:])
