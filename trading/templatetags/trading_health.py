"""`{{ bot|health }}`: the bot's health (trading.health) for the badges on every bot list."""

from django import template
from django.utils import timezone

from trading.health import Health, bot_health

register = template.Library()


@register.filter
def health(bot) -> Health:
    return bot_health(bot, now=timezone.now())
