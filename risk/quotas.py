"""Per-user quotas: bots, running bots, watchlist symbols (409 quota_exceeded) and API requests (429).

Effective value of each quota: the user's Quota row, else the platform row, else the QUOTA_* setting
(an empty field inherits). Rows are edited by staff in admin; a save drops the cached values at once.
"""

import json
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q

from config.api import DomainError
from config.redis import get_redis
from risk.models import Quota

NAMES = ("bots", "running_bots", "watchlist_symbols", "api_requests_per_minute")
LABELS = {"bots": "bots", "running_bots": "running bots", "watchlist_symbols": "watchlist symbols",
          "api_requests_per_minute": "API requests per minute"}
CACHE_SECONDS = 60


class QuotaExceeded(DomainError):
    code = "quota_exceeded"
    status = 409


@dataclass(frozen=True)
class Quotas:
    bots: int
    running_bots: int
    watchlist_symbols: int
    api_requests_per_minute: int


GEN_KEY = "quotas:gen"


def _cache_key(user_id: int) -> str:
    return f"quotas:user:{user_id}"


def quotas_cache_keys(user_id: int) -> tuple[str, str]:
    """The two Redis keys quotas_for reads: the generation staff edits bump, and the user's cached values.
    risk/throttles.py reads them in the same round trip as the request count (quotas_from)."""
    return GEN_KEY, _cache_key(user_id)


def quotas_from(*, user_id: int, gen: str | None, cached: str | None) -> Quotas:
    """The quotas from the two cached values (as Redis returned them), or from the rows when stale."""
    generation = int(gen or 0)
    if cached is not None:
        try:
            cached_gen, values = json.loads(cached)
            if cached_gen == generation:
                return Quotas(*values)
        except (ValueError, TypeError):
            pass  # written by an older release, or damaged: read the rows again
    values = {name: getattr(settings, f"QUOTA_{name.upper()}") for name in NAMES}
    rows = {row.user_id: row for row in Quota.objects.filter(Q(user_id=user_id) | Q(user__isnull=True))}
    for row in (rows.get(None), rows.get(user_id)):  # platform, then the user's own: the later wins
        for name in NAMES:
            if row is not None and getattr(row, name) is not None:
                values[name] = getattr(row, name)
    quotas = Quotas(**values)
    get_redis().set(_cache_key(user_id), json.dumps([generation, [getattr(quotas, n) for n in NAMES]]),
                    ex=CACHE_SECONDS)
    return quotas


def quotas_for(*, user_id: int) -> Quotas:
    """One Redis round trip when cached (the values and the generation that staff edits bump)."""
    gen, cached = get_redis().mget(quotas_cache_keys(user_id))
    return quotas_from(user_id=user_id, gen=gen, cached=cached)


def quotas_forget() -> None:
    """After staff change a Quota row: every user's quotas are read again on their next request."""
    get_redis().incr(GEN_KEY)


def quota_check(*, user_id: int, name: str, used: int) -> None:
    """Refuse one more of `name` when `used` already reaches the user's limit (409 quota_exceeded)."""
    limit = getattr(quotas_for(user_id=user_id), name)
    if used >= limit:
        raise QuotaExceeded(
            f"Quota reached: at most {limit} {LABELS[name]} per user (you have {used}). Staff can raise it.",
            fields={"quota": [name], "limit": [str(limit)], "value": [str(used)]})
