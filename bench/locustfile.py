"""Locust users for the API load run (`bench/load_api.py` starts the stack and runs this headless).

Each simulated client is one of the seeded users, already signed in (an access token issued by
load_api.py, as a client holds one for 15 minutes), and at a fixed rate lists its bots, one bot's
orders and the live prices; about one request in 450 is a new sign-in (`POST /api/auth/login/`,
argon2 as in production: about 0.5 s of CPU each on this machine, so a login storm is not what is
measured here). The target rate is users x BENCH_USER_RPS requests per second
(`constant_throughput`, so a slow server does not lower the offered load silently: locust reports the
rate it achieved).

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
from pathlib import Path

from locust import FastHttpUser, constant_throughput, task

_ACCOUNTS = json.loads(Path(os.environ["BENCH_ACCOUNTS"]).read_text()) if os.environ.get("BENCH_ACCOUNTS") else []
_NEXT = itertools.count()
PRICES = "/api/prices/live/?exchange=binance&symbols=BTC/USDT,ETH/USDT"


class ApiClient(FastHttpUser):
    wait_time = constant_throughput(float(os.environ.get("BENCH_USER_RPS", "5")))

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
