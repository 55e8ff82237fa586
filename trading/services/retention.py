"""Keep the equity history small enough to live with.

A running bot gets one equity point per candle minute: 1,440 rows a day, 14 million a day at
10,000 bots. Recent history stays at full detail (EQUITY_DETAIL_DAYS); older hours keep three
points each — the last, the lowest and the highest — so charts keep their shape and drawdowns
their depth while the table stops growing by the minute.

`equity_compact()` runs nightly from beat (task `trading.compact_equity`) and works one hour of
history per transaction, newest uncompacted first, over the last EQUITY_COMPACT_WINDOW_DAYS before
the cut-off (an instance that was off for longer can run it once with a bigger window).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

log = logging.getLogger(__name__)

COMPACT_HOUR_SQL = """
DELETE FROM trading_equitysnapshot
WHERE id IN (
    SELECT id FROM (
        SELECT id,
               row_number() OVER (PARTITION BY bot_id, date_trunc('hour', ts) ORDER BY ts DESC, id DESC) AS last_rank,
               row_number() OVER (PARTITION BY bot_id, date_trunc('hour', ts) ORDER BY equity, ts) AS low_rank,
               row_number() OVER (PARTITION BY bot_id, date_trunc('hour', ts) ORDER BY equity DESC, ts) AS high_rank
        FROM trading_equitysnapshot
        WHERE ts >= %(start)s AND ts < %(end)s
    ) ranked
    WHERE last_rank > 1 AND low_rank > 1 AND high_rank > 1
)
"""


@dataclass(frozen=True)
class CompactResult:
    cutoff: datetime
    hours: int
    deleted: int


def equity_compact(*, detail_days: int | None = None, window_days: int | None = None,
                   now: datetime | None = None) -> CompactResult:
    """Thin equity points older than `detail_days` to the last, lowest and highest of each hour."""
    detail_days = settings.EQUITY_DETAIL_DAYS if detail_days is None else detail_days
    window_days = settings.EQUITY_COMPACT_WINDOW_DAYS if window_days is None else window_days
    if detail_days < 1 or window_days < 1:
        raise ValueError("detail_days and window_days must be at least 1")
    now = now or timezone.now()
    cutoff = (now - timedelta(days=detail_days)).replace(minute=0, second=0, microsecond=0)
    hours = window_days * 24
    deleted = 0
    end = cutoff
    for _ in range(hours):
        start = end - timedelta(hours=1)
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(COMPACT_HOUR_SQL, {"start": start, "end": end})
            deleted += cur.rowcount
        end = start
    if deleted:
        log.info("equity history compacted: %d points older than %s removed", deleted, cutoff.isoformat())
    return CompactResult(cutoff=cutoff, hours=hours, deleted=deleted)
