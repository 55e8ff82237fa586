"""`make bench`: every benchmark in bench/ in its quick form, then the generated block of docs/benchmarks.md.

Runs each script below one after the other (a time limit each, so the whole run stays under 10 minutes
on the 2-core machine), shows its output as it goes, and rewrites only the part of docs/benchmarks.md
between the two markers: the machine (CPUs, RAM, CPU model, load average), the command, the date, and
each benchmark's printed figures. The hand-written history around the block is left as it is.

scripts/bench.sh (what `make bench` runs) starts the local PostgreSQL and Redis and sets the
environment first. By hand, with those set:

    .venv/bin/python bench/run_all.py                  # everything, then the doc block
    .venv/bin/python bench/run_all.py --only engine ws_latency --no-doc
    .venv/bin/python bench/run_all.py --dry-run        # the plan, and that every script's --help answers
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
START = "<!-- make bench: generated from here; edits inside are overwritten -->"
END = "<!-- make bench: generated up to here -->"
BUDGET_SECONDS = 600


@dataclass(frozen=True)
class Bench:
    name: str
    promise: str  # the figure this project promises, as the doc names it
    argv: tuple[str, ...]  # the script and its quick-mode arguments
    timeout: int  # seconds
    needs: str = ""  # a module that must be importable, else the bench is skipped with the reason


BENCHES = (
    Bench("engine", "paper-engine evaluations per second on one core", ("engine.py", "--bars", "250"), 30),
    Bench("bots_tick", "paper bots per 2 s tick (10,000 bots, 2 processes)",
          ("bots_tick.py", "--bots", "10000", "--ticks", "3", "--processes", "2"), 105),
    Bench("ws_latency", "tick-to-browser p99 at 1 / 100 / 1,000 WebSocket clients",
          ("ws_latency.py", "--clients", "1", "100", "1000", "--ticks", "10"), 70),
    Bench("emergency_stop", "emergency stop latency with 1 / 100 / 1,000 running bots",
          ("emergency_stop.py", "--bots", "1", "100", "1000", "--rounds", "3", "--load", "0"), 60),
    Bench("api_cpu", "server CPU per API request (what caps the requests/s two cores serve)",
          ("api_cpu.py", "--requests", "100", "--rounds", "3"), 25),
    Bench("load_api", "API under load: 50 and 200 requests/s, then 1,000 WebSocket clients; p50/p95/p99, errors",
          ("load_api.py", "--quick"), 130, needs="locust"),
    Bench("live_orders", "live order latency, decision -> exchange acknowledgement (emulator)",
          ("live_orders.py", "--bots", "1", "10"), 90),
    Bench("token_check", "cost of the token checks per authenticated request",
          ("token_check.py", "--requests", "500"), 20),
    Bench("notify", "notification send and storm folding", ("notify.py", "--calls", "100", "--storm", "100"), 30),
    Bench("equity_compact", "nightly equity compaction", ("equity_compact.py", "--bots", "100"), 20),
    Bench("bot_backtest", "a bot's backtest from its page", ("bot_backtest.py", "--candles", "2000", "10000", "--repeat", "1"), 20),
)


def machine() -> dict:
    mem_kb = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), model)
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "ram_gib": round(mem_kb / 1024 / 1024, 1), "cpu": model,
            "python": platform.python_version(), "kernel": platform.release()}


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def drop_leftover_test_db() -> None:
    """A benchmark stopped before its `finally` leaves its throwaway `test_<name>` database; the next one would
    be asked (with no one to answer) whether to delete it. Drop it first."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return
    from urllib.parse import urlsplit, urlunsplit

    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = "test_" + parts.path.lstrip("/")
    try:
        with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True, connect_timeout=5) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        print(f"(could not drop a leftover {name}: {exc})", flush=True)


def run_one(bench: Bench, budget_left: float) -> dict:
    """Run one script, echoing its output; returns what the doc block needs."""
    if bench.needs and not _has(bench.needs):
        return {"bench": bench, "status": f"skipped: {bench.needs} is not installed (pip install -r "
                                          "requirements/bench.txt)", "seconds": 0.0, "output": ""}
    timeout = max(5, min(bench.timeout, budget_left))
    argv = [sys.executable, str(ROOT / "bench" / bench.argv[0]), *bench.argv[1:]]
    print(f"\n==> {bench.name}: {' '.join(['bench/' + bench.argv[0], *bench.argv[1:]])} (limit {timeout:.0f} s)",
          flush=True)
    load = os.getloadavg()[0]
    started = time.monotonic()
    lines: list[str] = []
    proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        while True:
            left = timeout - (time.monotonic() - started)
            if left <= 0:
                raise subprocess.TimeoutExpired(argv, timeout)
            if sel.select(timeout=min(1.0, left)):
                line = proc.stdout.readline()
                if not line:
                    break
                print(line, end="", flush=True)
                lines.append(line.rstrip("\n"))
        proc.wait(timeout=max(1, timeout - (time.monotonic() - started)))
        status = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
    except subprocess.TimeoutExpired:
        import signal

        # SIGINT first: the script's `finally` drops its throwaway database (the next one would find it)
        for sig, grace in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, None)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        status = f"stopped at its {timeout:.0f} s limit"
    return {"bench": bench, "status": status, "seconds": time.monotonic() - started, "output": _figures(lines),
            "load": (load, os.getloadavg()[0])}


def _figures(lines: list[str]) -> str:
    """The printed figures, without tracebacks' noise or progress bars."""
    keep = [line for line in lines if line.strip() and "\r" not in line and not line.startswith("Got an error")]
    return "\n".join(keep[-60:])


def block(results: list[dict], command: str, total: float, when: datetime, info: dict) -> str:
    out = [START, "",
           f"## Latest `make bench` ({when:%Y-%m-%d %H:%M} UTC)", "",
           f"Generated by `{command}` in {total / 60:.1f} minutes on {info['cpus']} CPUs ({info['cpu']}), "
           f"{info['ram_gib']} GiB RAM, Python {info['python']}, Linux {info['kernel']}. Quick forms of the "
           "benchmarks (fewer rounds than the hand-written sections below); the load average is the machine's "
           "1-minute figure before and after each one: other work on the machine moves every figure.", "",
           "| benchmark | promise | status | seconds | load average |", "| --- | --- | --- | ---: | ---: |"]
    for r in results:
        load = f"{r['load'][0]:.1f} -> {r['load'][1]:.1f}" if r.get("load") else ""
        out.append(f"| `{r['bench'].name}` | {r['bench'].promise} | {r['status']} | {r['seconds']:.0f} | {load} |")
    for r in results:
        if not r["output"]:
            continue
        out += ["", f"### `{' '.join(['bench/' + r['bench'].argv[0], *r['bench'].argv[1:]])}`", "", "```text",
                r["output"], "```"]
    out += ["", END]
    return "\n".join(out)


def doc_rewrite(text: str, new_block: str) -> str:
    """Replace the block between the markers (or add it after the page's introduction); keep the rest."""
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        return head + new_block + tail
    first = text.find("\n## ")
    if first == -1:
        return text.rstrip("\n") + "\n\n" + new_block + "\n"
    return text[:first + 1] + new_block + "\n\n" + text[first + 1:]


def dry_run(selected: list[Bench]) -> int:
    """The plan, and each script's --help (parses its arguments, imports nothing heavy): exit 1 if one fails."""
    bad = 0
    for b in selected:
        argv = [sys.executable, str(ROOT / "bench" / b.argv[0]), "--help"]
        skipped = b.needs and not _has(b.needs)
        r = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
        ok = r.returncode == 0 and "usage:" in r.stdout
        bad += not ok
        print(f"{b.name:<15} {'ok ' if ok else 'BAD'} limit {b.timeout:>3} s  bench/{' '.join(b.argv)}"
              f"{'  (would be skipped: ' + b.needs + ' not installed)' if skipped else ''}")
        if not ok:
            print(r.stdout[-500:] + r.stderr[-1500:])
    total = sum(b.timeout for b in selected)
    print(f"time limits add up to {total} s (budget {BUDGET_SECONDS} s)")
    return 1 if bad or total > BUDGET_SECONDS else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", choices=[b.name for b in BENCHES], help="run only these")
    ap.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks.md")
    ap.add_argument("--doc", type=Path, default=DOC, help=argparse.SUPPRESS)
    ap.add_argument("--dry-run", action="store_true", help="print the plan and check each script's --help")
    ap.add_argument("--command", default="make bench", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    selected = [b for b in BENCHES if not args.only or b.name in args.only]
    if args.dry_run:
        return dry_run(selected)
    info = machine()
    when = datetime.now(UTC)
    print(f"make bench: {len(selected)} benchmarks on {info['cpus']} CPUs ({info['cpu']}), {info['ram_gib']} GiB RAM, "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    started = time.monotonic()
    results = []
    for b in selected:
        drop_leftover_test_db()
        results.append(run_one(b, BUDGET_SECONDS - (time.monotonic() - started)))
    total = time.monotonic() - started
    print("\n==> summary")
    for r in results:
        print(f"{r['bench'].name:<15} {r['status']:<40} {r['seconds']:>6.0f} s")
    print(f"total {total:.0f} s (budget {BUDGET_SECONDS} s)")
    if not args.no_doc:
        args.doc.write_text(doc_rewrite(args.doc.read_text(), block(results, args.command, total, when, info)))
        print(f"rewrote the generated block of {args.doc.relative_to(ROOT) if args.doc.is_relative_to(ROOT) else args.doc}")
    return 0 if all(r["status"] == "ok" or r["status"].startswith("skipped") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
