"""API under load: locust at 50 and 200 requests/s plus WebSocket price and event subscribers.

Production-like stack on loopback: uvicorn with WEB_WORKERS (2) processes of the real ASGI app,
DEBUG off, argon2 passwords, PostgreSQL and Redis as DATABASE_URL / REDIS_URL name them, in a
throwaway database `test_<name>` (created, migrated, seeded, dropped). Seeded: --users users, each
with --bots paper bots of --orders orders. Locust (bench/locustfile.py, a separate process) signs
each simulated client in and then lists bots, one bot's orders and the live prices at a fixed
rate. Meanwhile a separate process holds --ws-prices `/ws/prices/` and --ws-events `/ws/events/`
subscribers; this process publishes a price tick (store + publish, as a poll does) and one event
per seeded user every 0.5 s, and the subscribers time each from publish to arrival. Last, one more
run at the lowest rate with --ws-clients (1,000) subscribers, half on prices and half on events.

Prints, per rate: requests, errors, p50/p95/p99/max per endpoint (locust's figures, ms) and the WS
latencies, the CPU the web server and the load generator used, and the machine's load average. All clients come from 127.0.0.1, so the per-IP login
throttle is raised for the run (THROTTLE_AUTH_IP); everything else is the production default.

Needs locust (requirements/bench.txt; `make bench` installs it). With the local services up:

    eval "$(.venv/bin/python scripts/stack.py env)"
    SECRET_KEY=... FIELD_ENCRYPTION_KEYS=... .venv/bin/python bench/load_api.py --rps 50 200 --seconds 30

Goal: API list endpoints p99 under 50 ms at 200 requests/s on the 2-core machine, 0 errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
PASSWORD = "load-bench-password-1"  # a throwaway database's seeded users; never a real account  # pragma: allowlist secret
PER_USER_RPS = 5.0
WARMUP_SECONDS = 3  # not counted: each run's first seconds open connections (bench/locustfile.py)
PRICES = "/api/prices/live/?exchange=binance&symbols=BTC/USDT,ETH/USDT"
LIST_ENDPOINTS = ("GET /api/bots/", "GET /api/bots/{id}/orders/", "GET /api/prices/live/")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rps", type=int, nargs="+", default=[50, 200], help="offered requests per second")
    ap.add_argument("--seconds", type=int, default=30, help="measured seconds per rate")
    ap.add_argument("--users", type=int, default=20, help="seeded users (each simulated client is one of them)")
    ap.add_argument("--bots", type=int, default=10, help="paper bots per seeded user")
    ap.add_argument("--orders", type=int, default=100, help="orders per bot")
    ap.add_argument("--ws-prices", type=int, default=100, help="/ws/prices/ subscribers during each run")
    ap.add_argument("--ws-events", type=int, default=100, help="/ws/events/ subscribers during each run")
    ap.add_argument("--ws-clients", type=int, default=1000,
                    help="then one more run at the lowest rate with this many subscribers, half prices, half "
                         "events (0: none)")
    ap.add_argument("--workers", type=int, default=int(os.environ.get("WEB_WORKERS", "2")),
                    help="uvicorn worker processes")
    ap.add_argument("--handler", choices=["threads", "django-asgi"], default="threads",
                    help="WEB_HTTP_HANDLER of the web (config/asgi_http.py); django-asgi for comparison")
    ap.add_argument("--quick", action="store_true", help="make bench: 15 s per rate")
    ap.add_argument("--keepdb", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds = min(args.seconds, 12)
    return args


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * p))] * 1000, 1)


# --- WebSocket subscribers (a separate process) -----------------------------------------------


def _ws_proc(port: int, price_tokens: list[str], event_tokens: list[str], ready, stop, results) -> None:
    import websockets

    stats = {"connected": 0, "errors": [], "ticks": [], "events": []}

    async def client(kind: str, token: str, go: asyncio.Event) -> None:
        url = f"ws://127.0.0.1:{port}/ws/{kind}/"
        try:
            async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"},
                                          max_queue=None, open_timeout=60, ping_interval=None) as ws:
                if kind == "prices":
                    await ws.send(json.dumps({"action": "subscribe", "exchange": "binance",
                                              "symbols": ["BTC/USDT"]}))
                while True:
                    msg = json.loads(await ws.recv())
                    if msg["type"] in ("subscribed", "hello"):
                        break
                stats["connected"] += 1
                await go.wait()
                while not stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
                    except TimeoutError:
                        continue
                    now, msg = time.time(), json.loads(raw)
                    if msg.get("type") == "tick":
                        if (msg.get("received_at") or 0) > started:  # not the snapshot sent on subscribe
                            stats["ticks"].append(now - msg["received_at"])
                    elif msg.get("type") == "bot" and "bench_sent_at" in msg.get("bot", {}):
                        stats["events"].append(now - msg["bot"]["bench_sent_at"])
        except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
            stats["errors"].append(f"{kind}: {type(exc).__name__}: {exc}"[:200])

    async def main() -> None:
        go = asyncio.Event()
        tasks = []
        for i, (kind, token) in enumerate([("prices", t) for t in price_tokens] + [("events", t) for t in event_tokens]):
            tasks.append(asyncio.create_task(client(kind, token, go)))
            if i % 50 == 49:
                await asyncio.sleep(0.05)  # do not SYN-flood our own server
        deadline = time.time() + 120
        while stats["connected"] + len(stats["errors"]) < len(tasks) and time.time() < deadline:
            await asyncio.sleep(0.05)
        go.set()
        ready.put(stats["connected"])
        await asyncio.gather(*tasks, return_exceptions=True)
        results.put(stats)

    started = time.time()
    asyncio.run(main())


# --- seeding and the server -------------------------------------------------------------------


def seed(args) -> tuple[list[dict], list[str], list[str]]:
    """Users, bots and orders; returns the locust accounts and access tokens for the WS subscribers."""
    from accounts.models import User
    from accounts.services import tokens_issue
    from trading.models import Bot, Order

    hashed = User(username="x")
    hashed.set_password(PASSWORD)  # one argon2 hash for all: seeding 20 users should not take 20 hashes
    users = User.objects.bulk_create([User(username=f"load{i}", email=f"load{i}@example.com",
                                           password=hashed.password) for i in range(args.users)])
    accounts, tokens = [], []
    for user in users:
        bots = Bot.objects.bulk_create([
            Bot(owner=user, name=f"bot {j}", exchange="binance", symbol="BTC/USDT", strategy="sma_cross",
                params={"fast": 3, "slow": 8}, seed=j, status="running", starting_balance=Decimal(1000),
                quote=Decimal(1000)) for j in range(args.bots)])
        Order.objects.bulk_create([
            Order(bot=bot, client_id=f"seed:{bot.pk}:{k}", side="buy" if k % 2 else "sell", type="limit",
                  amount=Decimal("0.001"), price=Decimal("30000") + k, status="filled" if k % 3 else "open",
                  filled=Decimal("0.001") if k % 3 else Decimal(0)) for bot in bots for k in range(args.orders)])
        tokens.append(tokens_issue(user=user)["access_token"])
        accounts.append({"username": user.username, "password": PASSWORD, "access": tokens[-1],
                         "bots": [b.pk for b in bots]})
    price_tokens = [tokens[i % len(tokens)] for i in range(args.ws_prices)]
    event_tokens = [tokens[i % len(tokens)] for i in range(args.ws_events)]
    return accounts, price_tokens, event_tokens


def _server_env(db_name: str) -> dict:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return {**os.environ, "PYTHONUNBUFFERED": "1", "DEBUG": "false",
            "DATABASE_URL": urlunsplit(parts._replace(path=f"/{db_name}")),
            "THROTTLE_AUTH_IP": "1000000/min",  # every simulated client is 127.0.0.1
            "ALLOWED_HOSTS": "127.0.0.1,localhost"}


def _web_command(port: int, workers: int) -> list[str]:
    """As `make run` starts the web (config/serve.py: one SO_REUSEPORT socket per process)."""
    return [str(ROOT / ".venv/bin/python"), "-m", "config.serve", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--backlog", "4096", "--", "--lifespan", "off", "--log-level", "warning",
            "--no-access-log", "--no-proxy-headers", "--no-server-header", "--ws-per-message-deflate", "false"]


def _wait_http(proc: subprocess.Popen, port: int, what: str) -> None:
    import urllib.request

    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health/ping/", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not answer within 60 s")


class Servers:
    """uvicorn with `workers` processes of the real ASGI app, HTTP and /ws/ on one port, as `make run` serves
    it (config/serve.py). `handler` is WEB_HTTP_HANDLER: "threads" (the default, config/asgi_http.py) or
    "django-asgi" (Django's own ASGI handler, for comparison)."""

    def __init__(self, db_name: str, workers: int, handler: str = "threads"):
        self.workers, self.handler = workers, handler
        self.http_port = self.ws_port = _free_port()
        self.proc = subprocess.Popen(_web_command(self.http_port, workers), cwd=ROOT,
                                     env={**_server_env(db_name), "WEB_HTTP_HANDLER": handler},
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            _wait_http(self.proc, self.http_port, "uvicorn")
        except BaseException:
            self.stop()
            raise

    @property
    def http_pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """user + sys of uvicorn's supervisor and its worker processes so far (from /proc)."""
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True)
        total = 0.0
        for pid in [self.proc.pid, *map(int, out.stdout.split())]:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += sum(int(fields[i]) for i in (11, 12)) / os.sysconf("SC_CLK_TCK")
        return total

    def describe(self) -> str:
        return f"uvicorn x{self.workers} (HTTP handler {self.handler})"

    def stop(self) -> None:
        import signal

        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


# --- one rate ---------------------------------------------------------------------------------


def publish_once(user_ids: list[int], price: Decimal) -> None:
    """What a poll does after fetching (stamp, store, publish), plus one event per seeded user."""
    from trading.events import events_publish
    from trading.feeds import Tick
    from trading.services import prices

    now = time.time()
    ticks = [Tick("binance", "BTC/USDT", price - 1, price + 1, price, now, source="synthetic"),
             Tick("binance", "ETH/USDT", price / 10 - 1, price / 10 + 1, price / 10, now, source="synthetic")]
    prices.publish(prices._store("binance", ticks))
    events_publish([(uid, {"type": "bot", "bot": {"id": 0, "status": "running", "bench_sent_at": now}})
                    for uid in user_ids])


def run_rate(rps: int, args, servers: Servers, accounts_file: Path, user_ids: list[int], price_tokens, event_tokens,
             out_dir: Path) -> dict:
    ctx = mp.get_context("spawn")
    ready, stop, results = ctx.Queue(), ctx.Event(), ctx.Queue()
    ws = None
    connected = 0
    if price_tokens or event_tokens:
        ws = ctx.Process(target=_ws_proc, args=(servers.ws_port, price_tokens, event_tokens, ready, stop, results), daemon=True)
        ws.start()
        connected = ready.get(timeout=180)
    users = max(1, round(rps / PER_USER_RPS))
    prefix = out_dir / f"rps{rps}"
    env = {**os.environ, "BENCH_ACCOUNTS": str(accounts_file), "BENCH_USER_RPS": str(rps / users),
           "BENCH_WARMUP_SECONDS": str(WARMUP_SECONDS)}
    load_before = os.getloadavg()
    import resource

    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before, wall_before = servers.cpu_seconds(), time.monotonic()
    locust = subprocess.Popen(
        [str(ROOT / ".venv/bin/locust"), "-f", str(ROOT / "bench/locustfile.py"), "--headless",
         "--host", f"http://127.0.0.1:{servers.http_port}", "-u", str(users), "-r", str(users), "-t", f"{args.seconds + 1 + WARMUP_SECONDS}s",
         "--reset-stats", "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "5"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    price = Decimal("30000")
    while locust.poll() is None:
        price += Decimal("0.5")
        publish_once(user_ids, price)
        time.sleep(0.5)
    load_after = os.getloadavg()
    wall = time.monotonic() - wall_before
    server_cpu = servers.cpu_seconds() - server_before
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # locust, reaped above (the WS process is not yet)
    locust_cpu = (children.ru_utime + children.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
    stop.set()
    ws_stats = results.get(timeout=60) if ws else {"connected": 0, "errors": [], "ticks": [], "events": []}
    if ws:
        ws.join(timeout=30)
    err = locust.stderr.read().decode()
    rows = {}
    try:
        with open(f"{prefix}_stats.csv") as fh:
            for row in csv.DictReader(fh):
                rows[row["Name"]] = {"requests": int(row["Request Count"]), "errors": int(row["Failure Count"]),
                                     "rps": float(row["Requests/s"]), "p50": row["50%"], "p95": row["95%"],
                                     "p99": row["99%"], "max": round(float(row["Max Response Time"]))}
    except FileNotFoundError:
        raise SystemExit(f"locust wrote no stats (exit {locust.returncode}): {err[-2000:]}") from None
    failures = []
    if os.path.exists(f"{prefix}_failures.csv"):
        with open(f"{prefix}_failures.csv") as fh:
            failures = [f"{r['Name']}: {r['Error']} x{r['Occurrences']}" for r in csv.DictReader(fh)]
    return {"rps": rps, "users": users, "rows": rows, "failures": failures, "load": (load_before, load_after),
            "server_cpu": server_cpu, "locust_cpu": locust_cpu, "wall": wall,
            "ws_clients": len(price_tokens) + len(event_tokens), "ws_connected": connected,
            "ws_errors": ws_stats["errors"], "ticks": ws_stats["ticks"], "events": ws_stats["events"]}


def report(r: dict, seconds: int) -> None:
    print(f"\n{r['rps']} requests/s offered ({r['users']} locust users), {seconds} s measured, load average "
          f"{r['load'][0][0]:.2f} -> {r['load'][1][0]:.2f} (1 min)")
    print(f"{'endpoint':<30} {'requests':>9} {'errors':>7} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7}")
    for name, row in r["rows"].items():
        print(f"{name:<30} {row['requests']:>9} {row['errors']:>7} {row['rps']:>7.1f} {row['p50']:>7} "
              f"{row['p95']:>7} {row['p99']:>7} {row['max']:>7}")
    for kind, lat in (("WS /ws/prices/ tick", r["ticks"]), ("WS /ws/events/ event", r["events"])):
        print(f"{kind:<30} {len(lat):>9} {'':>7} {'':>7} {_pct(lat, .5) or '-':>7} {_pct(lat, .95) or '-':>7} "
              f"{_pct(lat, .99) or '-':>7} {round(max(lat) * 1000) if lat else '-':>7}")
    print(f"WebSocket subscribers: {r['ws_connected']} of {r['ws_clients']} connected, {len(r['ws_errors'])} errors")
    served_rps = r["rows"].get("Aggregated", {}).get("rps") or 0.0  # over the measured seconds (after the warm-up)
    print(f"CPU over the run ({r['wall']:.0f} s): web server {r['server_cpu'] / r['wall'] * 100:.0f} % of one core "
          f"({r['server_cpu'] / r['wall'] * 1000 / max(1.0, served_rps):.1f} ms per request, WebSocket work included), "
          f"load generator (locust) {r['locust_cpu'] / r['wall'] * 100:.0f} % of one core")
    for line in (r["failures"] + r["ws_errors"])[:10]:
        print(f"  error: {line}")
    worst = max((float(r["rows"][n]["p99"]) for n in LIST_ENDPOINTS if n in r["rows"]), default=float("nan"))
    errors = sum(row["errors"] for row in r["rows"].values()) + len(r["ws_errors"])
    ok = worst < 50 and errors == 0
    print(f"goal (list endpoints p99 < 50 ms, 0 errors): {'met' if ok else 'MISSED'} "
          f"(worst list p99 {worst:g} ms, {errors} errors)", flush=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if shutil.which("locust", path=str(ROOT / ".venv/bin")) is None:
        raise SystemExit("locust is not installed: .venv/bin/pip install -r requirements/bench.txt (make bench does)")
    import django

    django.setup()
    from django.db import connection

    from accounts.models import User

    old_name = connection.settings_dict["NAME"]
    db_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=args.keepdb)
    out_dir = Path(tempfile.mkdtemp(prefix="load-api-"))
    server = None
    try:
        accounts, price_tokens, event_tokens = seed(args)
        accounts_file = out_dir / "accounts.json"
        accounts_file.write_text(json.dumps(accounts))
        user_ids = list(User.objects.filter(username__in=[a["username"] for a in accounts]).values_list("pk", flat=True))
        connection.close()
        server = Servers(db_name, args.workers, args.handler)
        print(f"API load: {server.describe()} (DEBUG off), {args.users} users x {args.bots} bots x "
              f"{args.orders} orders, {args.ws_prices} /ws/prices/ + {args.ws_events} /ws/events/ subscribers, "
              f"{os.cpu_count()} CPUs", flush=True)
        for rps in args.rps:
            report(run_rate(rps, args, server, accounts_file, user_ids, price_tokens, event_tokens, out_dir),
                   args.seconds)
        if args.ws_clients:
            tokens = [a["access"] for a in accounts]
            half = args.ws_clients // 2
            print(f"\n{args.ws_clients} WebSocket clients ({half} /ws/prices/ + {args.ws_clients - half} /ws/events/) "
                  f"with the API at {min(args.rps)} requests/s:", flush=True)
            report(run_rate(min(args.rps), args, server, accounts_file, user_ids,
                            [tokens[i % len(tokens)] for i in range(half)],
                            [tokens[i % len(tokens)] for i in range(args.ws_clients - half)], out_dir), args.seconds)
    finally:
        if server is not None:
            server.stop()
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=args.keepdb)
        shutil.rmtree(out_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
