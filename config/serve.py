"""Serve the platform on a TCP port with several uvicorn processes, each on a listening socket of its own.

    python -m config.serve --host 127.0.0.1 --port 8000 --workers 2 [-- more uvicorn options]
    python -m config.serve --uds /run/tradeplatform/web-{n}.sock --workers 2 [-- ...]   # behind nginx

`uvicorn --workers N` shares one listening socket between its processes, and a connection stays with the
process that accepted it. Which one does is a race: with 40 kept-alive API clients, one process was seen
holding 33 of them and running at 92 % of a core (one core is all one Python process can use) while the
other idled at 20 %, and the API's p99 tripled (bench/load_api.py). Here every process has its own socket
bound to the same port with SO_REUSEPORT, and the kernel spreads new connections over them evenly.

A unix socket has no SO_REUSEPORT, and behind nginx (its upstream keeps connections alive) the same race
was measured: one of two uvicorn processes at 83 % of a core, the other at 3 %. With --uds every process
listens on a socket of its own, the path's "{n}" replaced by 1, 2, ...; nginx's upstream lists them all
(deploy/install.sh) and spreads requests over them.

A process that exits is started again (after a second, so a crash loop does not spin); SIGTERM or SIGINT
stops them all. With --workers 1 on TCP it is plain uvicorn.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import stat
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


def unix_socket(path: str, backlog: int = 2048) -> socket.socket:
    """A listening unix socket at `path` (a stale one from an earlier run is replaced), mode 0666 as uvicorn's
    --uds makes it: who may connect is decided by the directory it is in."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    os.chmod(path, 0o666)  # noqa: S103 - as uvicorn --uds does; the directory decides (deploy/: nginx's group)
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def uds_paths(pattern: str, workers: int) -> list[str]:
    """The socket of each process: `pattern` with "{n}" replaced by 1 .. workers."""
    return [pattern.replace("{n}", str(n)) for n in range(1, workers + 1)]


def _start(sock: socket.socket, extra: list[str]) -> subprocess.Popen:
    return subprocess.Popen([UVICORN, APP, "--fd", str(sock.fileno()), *extra], pass_fds=(sock.fileno(),))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int)
    ap.add_argument("--uds", help='unix sockets instead of TCP: a path with "{n}", one socket per process')
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--backlog", type=int, default=2048, help="each socket's queue of connections not yet accepted")
    ap.add_argument("extra", nargs=argparse.REMAINDER, help="after --: options for every uvicorn process")
    args = ap.parse_args(argv)
    extra = [a for a in args.extra if a != "--"]
    if args.workers < 1:
        ap.error("--workers must be at least 1")
    if args.uds is not None:
        if "{n}" not in args.uds:
            ap.error('--uds needs "{n}" in the path (each process has a socket of its own)')
        paths = uds_paths(args.uds, args.workers)
        try:
            return _supervise([unix_socket(path, args.backlog) for path in paths], extra)
        finally:
            for path in paths:  # as uvicorn --uds removes its socket when it stops
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
    if args.port is None or args.port < 1:
        ap.error("--port (at least 1) or --uds is needed")
    if args.workers == 1:
        os.execv(UVICORN, [UVICORN, APP, "--host", args.host, "--port", str(args.port), "--backlog",  # noqa: S606
                           str(args.backlog), *extra])

    return _supervise([reuseport_socket(args.host, args.port, args.backlog) for _ in range(args.workers)], extra)


def _supervise(sockets: list[socket.socket], extra: list[str]) -> int:
    """One uvicorn process per socket, each started again when it exits, until SIGTERM or SIGINT."""
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
