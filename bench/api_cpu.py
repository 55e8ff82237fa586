"""Server CPU per API request, per endpoint: what decides how many requests/s two cores can serve.

Same stack and seed as bench/load_api.py (a throwaway database, DEBUG off, the production middleware and
authentication), but ONE web process and ONE client sending requests one after another on a kept-alive
connection, so the server's CPU time (user + sys from /proc, all its threads) divided by the requests is
the cost of one request, with no queueing in it. Run several rounds; the minimum is the least noisy.

    eval "$(.venv/bin/python scripts/stack.py env)"
    SECRET_KEY=... FIELD_ENCRYPTION_KEYS=... .venv/bin/python bench/api_cpu.py --requests 300 --rounds 3
    ... --handler django-asgi   # the same through Django's own ASGI handler (how HTTP was served before)
    ... --profile out.svg    # and a py-spy flame graph of the server while it runs (py-spy installed)
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load_api  # noqa: E402 - this directory's sibling, for its seed and server start

PATHS = {
    "GET /api/bots/": lambda a: "/api/bots/",
    "GET /api/bots/{id}/orders/": lambda a: f"/api/bots/{random.choice(a['bots'])}/orders/",
    "GET /api/prices/live/": lambda a: load_api.PRICES,
    "GET /api/health/ping/": lambda a: "/api/health/ping/",
}


def _cpu_seconds(pid: int) -> float:
    """user + sys of the process and every one of its threads (and of reaped children), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _server_pids(root: int) -> list[int]:
    """The server process and its children (uvicorn's workers, when there are several)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(root)], capture_output=True, text=True).stdout.split()
    return [root, *map(int, out)]


def measure(port: int, accounts: list[dict], name: str, n: int, pids: list[int]) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    walls = []
    for i in range(10):  # warm: caches, the pool's connections, the plan of each serializer
        acct = accounts[i % len(accounts)]
        conn.request("GET", PATHS[name](acct), headers={"Authorization": f"Bearer {acct['access']}"})
        conn.getresponse().read()
    cpu0 = sum(_cpu_seconds(p) for p in pids)
    t0 = time.perf_counter()
    for i in range(n):
        acct = accounts[i % len(accounts)]
        s = time.perf_counter()
        conn.request("GET", PATHS[name](acct), headers={"Authorization": f"Bearer {acct['access']}"})
        r = conn.getresponse()
        r.read()
        walls.append(time.perf_counter() - s)
        if r.status != 200:
            raise SystemExit(f"{name}: {r.status}")
    wall = time.perf_counter() - t0
    cpu = sum(_cpu_seconds(p) for p in pids) - cpu0
    conn.close()
    walls.sort()
    return {"cpu_ms": cpu / n * 1000, "p50_ms": walls[n // 2] * 1000, "wall_rps": n / wall}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--handler", choices=["threads", "django-asgi"], default="threads",
                    help="WEB_HTTP_HANDLER (config/asgi_http.py); django-asgi: Django's own ASGI handler")
    ap.add_argument("--profile", help="write a py-spy flame graph (svg) of the server for the whole run")
    args = ap.parse_args(argv)
    seed_args = load_api.parse_args(["--ws-prices", "0", "--ws-events", "0"])
    import django

    django.setup()
    from django.db import connection

    old_name = connection.settings_dict["NAME"]
    db_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    server = spy = None
    try:
        accounts, _, _ = load_api.seed(seed_args)
        load_api.publish_once([], load_api.Decimal("30000"))
        connection.close()
        server = load_api.Servers(db_name, 1, args.handler)
        port = server.http_port
        pids = _server_pids(server.http_pid)
        if args.profile:
            spy = subprocess.Popen([str(load_api.ROOT / ".venv/bin/py-spy"), "record", "-o", args.profile, "-r", "100", "--subprocesses", "--nonblocking",
                                    *(["--format", "raw"] if not args.profile.endswith(".svg") else []),
                                    "-p", str(server.http_pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        print(f"server CPU per request (uvicorn, handler {args.handler}, 1 process, one client in sequence, {args.requests} "
              f"requests x {args.rounds} rounds; load average {os.getloadavg()[0]:.2f})")
        print(f"{'endpoint':<30} {'CPU ms min':>10} {'median':>8} {'max':>8} {'wall p50 ms':>12}")
        for name in PATHS:
            rounds = [measure(port, accounts, name, args.requests, pids) for _ in range(args.rounds)]
            cpu = sorted(r["cpu_ms"] for r in rounds)
            print(f"{name:<30} {cpu[0]:>10.2f} {cpu[len(cpu) // 2]:>8.2f} {cpu[-1]:>8.2f} "
                  f"{min(r['p50_ms'] for r in rounds):>12.2f}", flush=True)
        print(json.dumps({"load_after": os.getloadavg()[0]}))
    finally:
        if spy is not None:
            spy.send_signal(2)
            spy.wait(timeout=30)
        if server is not None:
            server.stop()
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
