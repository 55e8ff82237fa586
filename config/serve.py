"""Serve the platform on a TCP port with several uvicorn processes, each on a listening socket of its own.

    python -m config.serve --host 127.0.0.1 --port 8000 --workers 2 [-- more uvicorn options]

`uvicorn --workers N` shares one listening socket between its processes, and a connection stays with the
process that accepted it. Which one does is a race: with 40 kept-alive API clients, one process was seen
holding 33 of them and running at 92 % of a core (one core is all one Python process can use) while the
other idled at 20 %, and the API's p99 tripled (bench/load_api.py). Here every process has its own socket
bound to the same port with SO_REUSEPORT, and the kernel spreads new connections over them evenly.

A process that exits is started again (after a second, so a crash loop does not spin); SIGTERM or SIGINT
stops them all. With --workers 1 it is plain uvicorn. Only for TCP: a unix socket (production behind
nginx, deploy/) has no SO_REUSEPORT; there uvicorn's own --workers is used.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

APP = "config.asgi:application"
UVICORN = str(Path(sys.executable).with_name("uvicorn"))


def reuseport_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket on host:port that other processes may bind as well (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def _start(sock: socket.socket, extra: list[str]) -> subprocess.Popen:
    return subprocess.Popen([UVICORN, APP, "--fd", str(sock.fileno()), *extra], pass_fds=(sock.fileno(),))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--backlog", type=int, default=2048, help="each socket's queue of connections not yet accepted")
    ap.add_argument("extra", nargs=argparse.REMAINDER, help="after --: options for every uvicorn process")
    args = ap.parse_args(argv)
    extra = [a for a in args.extra if a != "--"]
    if args.workers < 1 or args.port < 1:
        ap.error("--workers and --port must be at least 1")
    if args.workers == 1:
        os.execv(UVICORN, [UVICORN, APP, "--host", args.host, "--port", str(args.port), "--backlog",  # noqa: S606
                           str(args.backlog), *extra])

    sockets = [reuseport_socket(args.host, args.port, args.backlog) for _ in range(args.workers)]
    procs = [_start(sock, extra) for sock in sockets]
    stopping = False

    def stop(signum, _frame):
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        for i, proc in enumerate(procs):
            if proc.poll() is not None and not stopping:
                print(f"config.serve: web process {proc.pid} exited ({proc.returncode}); starting it again",
                      file=sys.stderr, flush=True)
                time.sleep(1)
                procs[i] = _start(sockets[i], extra)
        time.sleep(0.2)
    deadline = time.monotonic() + 20
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
