"""Which Celery beat processes are alive. Exactly one may run per deployment: two would double every
schedule (price polls, risk monitor, summaries).

Each beat announces itself in Redis (`ops:beat:<host>:<pid>`, a 30 s expiry refreshed every 10 s); a beat
that finds another one alive logs an error at start, and /metrics reports the count (tp_beat_processes).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from config.redis import get_redis

log = logging.getLogger(__name__)

BEAT_KEY_PREFIX = "ops:beat:"
BEAT_KEY_TTL = 30
REFRESH_SECONDS = 10


def beats_running() -> list[str]:
    """host:pid of every beat that announced itself within BEAT_KEY_TTL seconds."""
    return sorted(k.removeprefix(BEAT_KEY_PREFIX) for k in get_redis().scan_iter(match=f"{BEAT_KEY_PREFIX}*", count=200))


def beat_announce() -> threading.Thread:
    """Called in the beat process at start: announce it, warn about others, keep announcing."""
    me = f"{socket.gethostname()}:{os.getpid()}"
    key = f"{BEAT_KEY_PREFIX}{me}"
    others = [b for b in beats_running() if b != me]
    if others:
        log.error("another Celery beat is running (%s): two beats double every schedule; stop all but one "
                  "(docs/scale-out.md)", ", ".join(others))

    def announce() -> None:
        while True:
            try:
                get_redis().set(key, int(time.time()), ex=BEAT_KEY_TTL)
            except Exception:  # noqa: BLE001 - beat keeps scheduling whatever Redis does
                log.warning("could not announce this beat in Redis", exc_info=True)
            time.sleep(REFRESH_SECONDS)

    thread = threading.Thread(target=announce, name="beat-announce", daemon=True)
    thread.start()
    return thread
