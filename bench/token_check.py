"""What ending tokens early costs each API request: the logout denylist and the token version.

Authenticates the same bearer token N times with simplejwt's stock JWTAuthentication and with ours
(PlatformJWTAuthentication: + one Redis GET for the denylist, + a version compare on the user row
simplejwt loads anyway), against the real PostgreSQL and Redis, and prints p50/p95/max per request
and the difference. Target: the added cost stays under 1 ms per request.

Runs in its own throwaway database `test_<name>` next to the one DATABASE_URL names, e.g. with the
local services up:

    eval "$(.venv/bin/python scripts/stack.py env)"
    DEBUG=true .venv/bin/python bench/token_check.py --requests 2000
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def _pct(samples: list[float]) -> tuple[float, float, float]:
    s = sorted(samples)
    return (s[len(s) // 2] * 1000, s[min(len(s) - 1, int(0.95 * len(s)))] * 1000, s[-1] * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection

    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0)
    try:
        run(args)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run(args) -> None:
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory
    from rest_framework_simplejwt.authentication import JWTAuthentication

    from accounts.models import User
    from accounts.services import tokens_issue
    from accounts.tokens import PlatformJWTAuthentication, access_token_denied, token_version_matches

    user = User.objects.create_user(username="bench", password="x" * 16)
    access = tokens_issue(user=user)["access_token"]
    factory = APIRequestFactory()
    stock, ours = JWTAuthentication(), PlatformJWTAuthentication()
    token = ours.get_validated_token(access.encode())
    samples: dict[str, list[float]] = {"simplejwt": [], "ours": [], "added checks": []}
    # interleaved, so a noisy neighbour on a shared machine hits both sides alike
    for i in range(args.requests + 100):
        request = Request(factory.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {access}"))
        timed = []
        for auth in (stock, ours):
            t0 = time.perf_counter()
            got = auth.authenticate(request)
            timed.append(time.perf_counter() - t0)
            assert got is not None and got[0].pk == user.pk
        t0 = time.perf_counter()
        assert not access_token_denied(token) and token_version_matches(token, user)
        timed.append(time.perf_counter() - t0)
        if i >= 100:  # warm-up: connections opened, caches filled
            for name, dt in zip(samples, timed, strict=True):
                samples[name].append(dt)
    print(f"\nbearer authentication per request, {args.requests} requests each (ms)")
    print(f"{'':>12} {'p50':>8} {'p95':>8} {'max':>8}")
    for name, values in samples.items():
        p50, p95, mx = _pct(values)
        print(f"{name:>12} {p50:8.3f} {p95:8.3f} {mx:8.3f}")
    p50, p95, _ = _pct(samples["added checks"])
    print("target: the added checks p50 and p95 < 1 ms:", "met" if max(p50, p95) < 1.0 else "NOT met")

if __name__ == "__main__":
    main()
