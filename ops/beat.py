"""Which Celery beat processes are alive, and the one that schedules. Exactly one beat may run per
deployment: two would double every schedule (price polls, so bot ticks; risk monitor, summaries).

Each beat announces itself in Redis (`ops:beat:<host>:<pid>`, a 30 s expiry refreshed every 10 s); a beat
that finds another one alive logs an error at start, /metrics reports the count (tp_beat_processes) and
/api/health/ says `degraded` while more than one runs.

A beat started by mistake still cannot double a tick: the scheduler (`SingleBeatScheduler`, django-celery-beat's
DatabaseScheduler behind a Redis lease) sends tasks only while it holds `ops:beat-leader`; another beat stands
by and takes over within LEADER_TTL seconds of the leader stopping. The leader writes `ops:beat-last-run` at
every scheduler tick: /api/health/ reads it as beat's last run.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from django_celery_beat.schedulers import DatabaseScheduler

from config.redis import get_redis

log = logging.getLogger(__name__)

BEAT_KEY_PREFIX = "ops:beat:"
BEAT_KEY_TTL = 30
REFRESH_SECONDS = 10
LEADER_KEY = "ops:beat-leader"  # not under BEAT_KEY_PREFIX: beats_running() must not count it
LAST_RUN_KEY = "ops:beat-last-run"
LEADER_TTL = 15  # a leader that stops (or freezes) for this long hands over to a standing-by beat
CHECK_SECONDS = 1.0  # how often a beat renews (or tries to take) the lease
# renew the lease only if this process still holds it (a frozen leader may have lost it meanwhile)
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end return 0"


def _me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def beats_running() -> list[str]:
    """host:pid of every beat that announced itself within BEAT_KEY_TTL seconds."""
    return sorted(k.removeprefix(BEAT_KEY_PREFIX) for k in get_redis().scan_iter(match=f"{BEAT_KEY_PREFIX}*", count=200))


def beat_last_run() -> float | None:
    """Unix time of the scheduling beat's latest tick (None: no beat has run since Redis started)."""
    value = get_redis().get(LAST_RUN_KEY)
    return float(value) if value is not None else None


def beat_leader() -> str | None:
    return get_redis().get(LEADER_KEY)


def beat_announce() -> threading.Thread:
    """Called in the beat process at start: announce it, warn about others, keep announcing."""
    me = _me()
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


class SingleBeatScheduler(DatabaseScheduler):
    """django-celery-beat's scheduler (schedules in the database, edited in admin) that sends only while
    this beat holds the Redis lease: a second beat stands by instead of doubling every schedule."""

    def __init__(self, *args, **kwargs):
        self._leading = False
        self._said_standby = False
        self._checked_at = float("-inf")
        self._me = _me()
        super().__init__(*args, **kwargs)

    def _lead(self) -> bool:
        now = time.monotonic()
        if now - self._checked_at < CHECK_SECONDS:
            return self._leading
        self._checked_at = now
        was = self._leading
        try:
            r = get_redis()
            leading = bool(r.eval(_RENEW, 1, LEADER_KEY, self._me, LEADER_TTL)) or bool(
                r.set(LEADER_KEY, self._me, nx=True, ex=LEADER_TTL))
            if leading:
                r.set(LAST_RUN_KEY, f"{time.time():.3f}")
            holder = None if leading else r.get(LEADER_KEY)
        except Exception:  # noqa: BLE001 - Redis is the broker too: nothing is sent while it is away anyway
            log.warning("could not renew the beat lease in Redis; keeping this beat's role", exc_info=True)
            return was
        if leading and not was:
            log.info("this beat (%s) schedules the periodic tasks", self._me)
            self._said_standby = False
        elif not leading and (was or not self._said_standby):
            log.error("another beat (%s) is scheduling: this one (%s) stands by and sends nothing; stop all "
                      "but one beat (docs/scale-out.md)", holder, self._me)
            self._said_standby = True
        self._leading = leading
        return leading

    def tick(self, *args, **kwargs):
        if not self._lead():
            return CHECK_SECONDS
        return min(super().tick(*args, **kwargs), LEADER_TTL / 3)

    def close(self):
        try:
            if self._leading:
                get_redis().eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
                                 "end return 0", 1, LEADER_KEY, self._me)
        except Exception:  # noqa: BLE001 - the lease expires by itself
            log.warning("could not release the beat lease", exc_info=True)
        finally:
            self._leading = False
            super().close()
