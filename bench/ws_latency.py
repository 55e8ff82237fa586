"""Tick-to-browser latency over /ws/prices/ with 1, 100 and 1,000 clients on loopback.

Measures, for every client and every tick, the time from the poll result being stored
(the tick's `received_at`, stamped just before it is written to Redis and published) to the
message arriving at a WebSocket client. The server is the real stack: uvicorn with the
project's ASGI app (WEB_WORKERS processes), the Redis pub/sub channel layer, the poll
service publishing synthetic ticks. Clients run in separate processes so their own
parsing cost stays off the server's cores as much as a 2-core machine allows.

Run with the test services up (`make services`), e.g.:

    .venv/bin/python bench/ws_latency.py --clients 1 100 1000 --ticks 20
"""

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _client_proc(port: int, token: str, n: int, ticks: int, ready, results, symbol: str) -> None:
    import websockets

    since = time.time()

    async def one(lat: list, connected: asyncio.Event, counter: list[int]):
        url = f"ws://127.0.0.1:{port}/ws/prices/"
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"},
                                      max_queue=None, open_timeout=60, ping_interval=None) as ws:
            await ws.send(json.dumps({"action": "subscribe", "exchange": "binance", "symbols": [symbol]}))
            while True:
                msg = json.loads(await ws.recv())
                if msg["type"] == "subscribed":
                    break
            counter[0] += 1
            if counter[0] == n:
                connected.set()
            got = 0
            while got < ticks:
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=15)
                except TimeoutError:
                    return
                now = time.time()
                msg = json.loads(raw)
                if msg.get("type") == "tick" and msg["received_at"] < since:
                    continue  # the snapshot of an older price sent on subscribe
                if msg.get("type") == "tick":
                    lat.append((msg["received_at"], now - msg["received_at"]))
                    got += 1

    async def main():
        lat: list[tuple[float, float]] = []
        connected = asyncio.Event()
        counter = [0]
        tasks = []
        for i in range(n):
            tasks.append(asyncio.create_task(one(lat, connected, counter)))
            if i % 50 == 49:
                await asyncio.sleep(0.05)  # do not SYN-flood our own server
        await asyncio.wait_for(connected.wait(), timeout=120)
        ready.put(n)
        await asyncio.gather(*tasks, return_exceptions=True)
        results.put(lat)

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000


def run(clients: int, ticks: int, workers: int, procs: int, interval: float, ws_impl: str = "auto",
        deflate: bool = False) -> dict:
    import django

    django.setup()
    from django.conf import settings

    from accounts.models import User
    from accounts.services import tokens_issue
    from trading.feeds import Tick
    from trading.services import prices

    user, _ = User.objects.get_or_create(username="bench-ws")
    token = tokens_issue(user=user)["access_token"]
    symbol = "BENCH/USDT"
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/uvicorn"), "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers), "--lifespan", "off", "--log-level", "warning", "--ws-max-queue", "32",
         "--backlog", "4096", "--ws", ws_impl, "--ws-per-message-deflate", str(deflate).lower()], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        ctx = mp.get_context("spawn")
        ready, results = ctx.Queue(), ctx.Queue()
        per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
        workers_ = [ctx.Process(target=_client_proc, args=(port, token, n, ticks, ready, results, symbol))
                    for n in per if n]
        for w in workers_:
            w.start()
        connected = sum(ready.get(timeout=180) for _ in workers_)
        time.sleep(1.0)
        from decimal import Decimal

        price = Decimal("100")
        server_pids = _descendants(server.pid)
        client_pids = [w.pid for w in workers_]
        cpu_before = _cpu_seconds(server_pids), _cpu_seconds(client_pids)
        for _ in range(ticks):
            price += Decimal("0.01")
            # what a poll does after fetching: stamp, store, publish
            tick = Tick("binance", symbol, price - Decimal("0.01"), price + Decimal("0.01"), price, time.time(),
                        source="synthetic")
            stored = prices._store("binance", [tick])
            prices.publish(stored)
            time.sleep(interval)
        time.sleep(1.0)  # the last tick's frames drain
        server_cpu = (_cpu_seconds(server_pids) - cpu_before[0]) / ticks
        client_cpu = (_cpu_seconds(client_pids) - cpu_before[1]) / ticks
        pairs: list[tuple[float, float]] = []
        for _ in workers_:
            pairs += results.get(timeout=120)
        lat = [d for _, d in pairs]
        if os.environ.get("BENCH_DEBUG"):
            by_tick: dict[float, list[float]] = {}
            for t, d in pairs:
                by_tick.setdefault(t, []).append(d)
            for t in sorted(by_tick):
                print(f"  tick {t:.3f}: n={len(by_tick[t])} p50={_pct(by_tick[t], .5):.1f} max={max(by_tick[t])*1000:.1f}")
        for w in workers_:
            w.join(timeout=30)
        expected = connected * ticks
        return {"clients": clients, "connected": connected, "ticks": ticks, "messages": len(lat),
                "lost": expected - len(lat), "p50_ms": round(_pct(lat, 0.50), 1) if lat else None,
                "p99_ms": round(_pct(lat, 0.99), 1) if lat else None,
                "max_ms": round(max(lat) * 1000, 1) if lat else None,
                "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else None,
                "server_cpu_ms": round(server_cpu * 1000, 1), "client_cpu_ms": round(client_cpu * 1000, 1),
                "server_workers": workers, "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]}
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--ws", default="auto", help="uvicorn's WebSocket implementation")
    parser.add_argument("--deflate", action="store_true",
                        help="permessage-deflate on (make run and the systemd unit turn it off)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between ticks")
    args = parser.parse_args()
    print(f"{'clients':>8} {'msgs':>7} {'lost':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'server CPU ms/tick':>19} {'clients CPU ms/tick':>20}  server")
    for n in args.clients:
        r = run(n, args.ticks, args.workers, min(args.client_procs, n), args.interval, args.ws, args.deflate)
        print(f"{r['clients']:>8} {r['messages']:>7} {r['lost']:>5} {r['p50_ms']:>8} {r['p99_ms']:>8} "
              f"{r['max_ms']:>8} {r['server_cpu_ms']:>19} {r['client_cpu_ms']:>20}  uvicorn x{r['server_workers']} ws={args.ws}{' +deflate' if args.deflate else ''}, {r['layer']}", flush=True)


if __name__ == "__main__":
    main()
