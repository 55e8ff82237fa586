"""The daily summary alert (event "daily_summary"): each user's bots over the last 24 hours in one message.

Beat runs `trading.daily_summary` once a day; only users with an enabled channel that wants
"daily_summary" are summarised, and a second run for the same day queues nothing new (the outbox
de-duplicates on the day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils import timezone

from accounts.models import User
from notifications.models import Channel
from notifications.services import notify
from risk.models import RiskEvent
from trading.formatting import currency_places, fixed
from trading.models import Bot, EquitySnapshot, Fill

MAX_BOTS_LISTED = 25


@dataclass(frozen=True)
class BotDay:
    bot: Bot
    equity_start: Decimal
    equity_end: Decimal
    fills: int
    fees: Decimal
    risk_events: int

    @property
    def change(self) -> Decimal:
        return self.equity_end - self.equity_start

    @property
    def change_pct(self) -> Decimal | None:
        if self.equity_start <= 0:
            return None
        return self.change / self.equity_start * 100


def bot_days(*, user, since: datetime, until: datetime) -> list[BotDay]:
    """Every bot of `user` that existed during [since, until), with its equity change, fills, fees and risk events."""
    bots = list(Bot.objects.filter(owner=user, created_at__lt=until)
                .filter(Q(archived_at__isnull=True) | Q(archived_at__gte=since)).order_by("name", "pk"))
    if not bots:
        return []
    ids = [b.pk for b in bots]
    fills = {row["bot_id"]: row for row in Fill.objects.filter(bot_id__in=ids, ts__gte=since, ts__lt=until)
             .values("bot_id").annotate(n=Count("id"), fees=Sum("fee"))}
    risk = dict(RiskEvent.objects.filter(bot_id__in=ids, created_at__gte=since, created_at__lt=until)
                .values("bot_id").annotate(n=Count("id")).values_list("bot_id", "n"))
    def last_equity(**ts_filter) -> dict[int, Decimal]:  # each bot's newest point in range: one query for all
        return dict(EquitySnapshot.objects.filter(bot_id__in=ids, **ts_filter).order_by("bot_id", "-ts")
                    .distinct("bot_id").values_list("bot_id", "equity"))

    starts, ends = last_equity(ts__lte=since), last_equity(ts__lt=until)
    days = []
    for bot in bots:
        start = starts.get(bot.pk, bot.starting_balance)
        end = ends.get(bot.pk, start)
        f = fills.get(bot.pk, {})
        days.append(BotDay(bot=bot, equity_start=start, equity_end=end, fills=f.get("n", 0),
                           fees=f.get("fees") or Decimal(0), risk_events=risk.get(bot.pk, 0)))
    return days


def _money(value: Decimal, currency: str) -> str:
    """Money at the currency's decimals: 2 for USDT, 8 for BTC (trading.formatting), grouped."""
    return fixed(value, currency_places(currency), grouped=True)


def _signed(value: Decimal, currency: str) -> str:
    return f"{'+' if value >= 0 else '−'}{_money(abs(value), currency)}"


def daily_summary_compose(*, user, since: datetime, until: datetime) -> tuple[str, str] | None:
    """(title, markdown text) for the user's day, or None when they have no bots."""
    days = bot_days(user=user, since=since, until=until)
    if not days:
        return None
    changes: dict[str, Decimal] = {}  # per quote currency: money in different currencies is never added up
    for d in days:
        quote = d.bot.symbol.split("/")[-1]
        changes[quote] = changes.get(quote, Decimal(0)) + d.change
    running = sum(1 for d in days if d.bot.status == Bot.Status.RUNNING)
    fills = sum(d.fills for d in days)
    total = ", ".join(f"{_signed(change, quote)} {quote}" for quote, change in sorted(changes.items()))
    title = f"Daily summary: {total} across {len(days)} bot(s)"
    lines = [f"{until:%Y-%m-%d %H:%M} UTC, last 24 hours · {running} running · {fills} fill(s)", ""]
    for d in sorted(days, key=lambda d: d.change)[:MAX_BOTS_LISTED]:
        pct = "" if d.change_pct is None else f" ({'+' if d.change_pct >= 0 else '−'}{abs(d.change_pct):.2f}%)"
        quote = d.bot.symbol.split("/")[-1]
        extra = f", {d.risk_events} risk event(s)" if d.risk_events else ""
        lines.append(f"- **{d.bot.name}** ({d.bot.symbol}, {d.bot.get_status_display().lower()}): "
                     f"{_signed(d.change, quote)} {quote}{pct}, "
                     f"{d.fills} fill(s), fees {_money(d.fees, quote)}{extra}")
    if len(days) > MAX_BOTS_LISTED:
        lines.append(f"- … and {len(days) - MAX_BOTS_LISTED} more on the Bots page")
    return title, "\n".join(lines)


def daily_summaries_send(*, now: datetime | None = None) -> int:
    """Queue today's summary for every user who asked for it; returns how many users got one."""
    now = now or timezone.now()
    since = now - timedelta(hours=24)
    owners = (Channel.objects.filter(is_active=True, events__contains=["daily_summary"])
              .values_list("owner_id", flat=True).distinct())
    sent = 0
    for user in User.objects.filter(pk__in=owners, is_active=True).order_by("pk"):
        composed = daily_summary_compose(user=user, since=since, until=now)
        if composed is None:
            continue
        title, text = composed
        notify(user=user, event="daily_summary", severity="info", title=title, text=text, url_path="/bots/",
               dedupe_key=f"daily_summary:{now:%Y-%m-%d}")
        sent += 1
    return sent
