from django import template

from risk.selectors import risk_events_for

register = template.Library()


@register.simple_tag(takes_context=True)
def bot_risk_events(context, bot, limit: int = 20):
    """The bot's latest risk events, for its owner (refusals, breaches, halts)."""
    user = context["request"].user
    if not user.is_authenticated or bot.owner_id != user.pk:
        return []
    return list(risk_events_for(user=user).filter(bot=bot)[:limit])
