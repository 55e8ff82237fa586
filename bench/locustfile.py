"""Locust users for the API load run (`bench/load_api.py` starts the stack and runs this headless).

Each simulated client is one of the seeded users, already signed in (an access token issued by
load_api.py, as a client holds one for 15 minutes), and at a fixed rate lists its bots, one bot's
orders and the live prices; about one request in 450 is a new sign-in (`POST /api/auth/login/`,
argon2 as in production: about 0.5 s of CPU each on this machine, so a login storm is not what is
measured here). The target rate is users x BENCH_USER_RPS requests per second.

Arrivals are random (Poisson), as from independent clients: each user draws the time to its next
request from an exponential distribution around its rate, counted from when the previous one was due,
not from when it was answered (so a slow server does not lower the offered load silently: locust
reports the rate it achieved). Locust's `constant_throughput` instead fires every user on a fixed beat;
users spawned within the same second then share a handful of phases, and the server sees bursts of
5-10 simultaneous requests every few tens of milliseconds, clients in lockstep that no real population
of SPA and phone clients makes (the lockstep run measured p50 43 ms at 50 requests/s where random
arrivals measured 15 ms on the same server).

The first BENCH_WARMUP_SECONDS (default 3) after every user has started are not counted: each client's
first requests open its connection and, on the server, the pool's PostgreSQL connections, its threads
and prepared statements; over a 12 s run those few hundred milliseconds were the whole p99 (at 50
requests/s: p99 110 ms counted from the start, 25 ms after a 3 s warm-up).

Input from the environment (written by load_api.py): BENCH_ACCOUNTS, a JSON file
[{"username", "password", "access", "bots": [id, ...]}, ...], and BENCH_USER_RPS. Run by hand against a running
stack, e.g.:

    BENCH_ACCOUNTS=accounts.json BENCH_USER_RPS=5 .venv/bin/locust -f bench/locustfile.py --headless \\
        --host http://127.0.0.1:8000 -u 40 -r 40 -t 30s
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from pathlib import Path

import gevent
from locust import FastHttpUser, events, task

_ACCOUNTS = json.loads(Path(os.environ["BENCH_ACCOUNTS"]).read_text()) if os.environ.get("BENCH_ACCOUNTS") else []
_NEXT = itertools.count()
PRICES = "/api/prices/live/?exchange=binance&symbols=BTC/USDT,ETH/USDT"


USER_RPS = float(os.environ.get("BENCH_USER_RPS", "5"))
WARMUP_SECONDS = float(os.environ.get("BENCH_WARMUP_SECONDS", "3"))


@events.spawning_complete.add_listener
def _count_after_warmup(user_count: int, **_kw) -> None:
    def reset() -> None:
        gevent.sleep(WARMUP_SECONDS)
        _ENVIRONMENT[0].stats.reset_all()

    gevent.spawn(reset)


_ENVIRONMENT: list = []
events.init.add_listener(lambda environment, **_kw: _ENVIRONMENT.append(environment))


class ApiClient(FastHttpUser):
    def wait_time(self) -> float:
        """Seconds until this user's next request: Poisson arrivals at USER_RPS (see the module's text)."""
        now = time.monotonic()
        due = getattr(self, "_due", None)
        if due is None or due < now - 1.0:  # first request, or more than a second behind: start afresh from now
            due = now
        self._due = due + random.expovariate(USER_RPS)
        return max(0.0, self._due - now)

    def on_start(self) -> None:
        if not _ACCOUNTS:
            raise RuntimeError("BENCH_ACCOUNTS names no accounts (run bench/load_api.py)")
        self.account = _ACCOUNTS[next(_NEXT) % len(_ACCOUNTS)]
        self.headers = {"Authorization": f"Bearer {self.account['access']}"}

    def _get(self, path: str, name: str) -> None:
        with self.client.get(path, headers=self.headers, name=name, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code}: {(r.text or '')[:200]}")

    @task(1)
    def login(self) -> None:
        body = {"username": self.account["username"], "password": self.account["password"]}
        with self.client.post("/api/auth/login/", json=body, name="POST /api/auth/login/", catch_response=True) as r:
            if r.status_code != 200 or "access_token" not in (r.json() or {}):
                r.failure(f"{r.status_code}: {(r.text or '')[:200]}")
                return
            self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

    @task(150)
    def bots(self) -> None:
        self._get("/api/bots/", "GET /api/bots/")

    @task(150)
    def orders(self) -> None:
        bot = random.choice(self.account["bots"])
        self._get(f"/api/bots/{bot}/orders/", "GET /api/bots/{id}/orders/")

    @task(150)
    def prices(self) -> None:
        self._get(PRICES, "GET /api/prices/live/")
