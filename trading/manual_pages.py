"""The pages' buttons for manual control (the services are in trading/services/manual.py)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from config.api import DomainError
from config.redirects import next_url
from trading.formatting import trimmed
from trading.selectors import bots_for
from trading.services.manual import bot_orders_cancel_all, bot_position_close, bots_resume_all


@login_required
@require_POST
def close_position(request, pk: int):
    bot = get_object_or_404(bots_for(request.user), pk=pk)
    try:
        result = bot_position_close(bot=bot, actor=request.user, request=request)
    except DomainError as exc:
        messages.error(request, f"{bot.name}: {exc.message}")
    else:
        order = result.order
        messages.success(request, f"“{bot.name}”: sold {trimmed(order.filled)} {bot.symbol.split('/')[0]} at market"
                                  f" (average {trimmed(order.average_price)}).")
    return redirect(next_url(request, reverse("bot-detail", args=[bot.pk])))


@login_required
@require_POST
def cancel_orders(request, pk: int):
    bot = get_object_or_404(bots_for(request.user), pk=pk)
    count = bot_orders_cancel_all(bot=bot, actor=request.user, request=request)
    messages.success(request, f"“{bot.name}”: cancelled {count} open order{'s' if count != 1 else ''}.")
    return redirect(next_url(request, reverse("bot-detail", args=[bot.pk])))


@login_required
@require_POST
def resume_all(request):
    try:
        resumed = bots_resume_all(actor=request.user, request=request)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Resumed {len(resumed)} halted bot{'s' if len(resumed) != 1 else ''}."
                         if resumed else "No halted bot to resume.")
    return redirect(next_url(request, reverse("risk")))
