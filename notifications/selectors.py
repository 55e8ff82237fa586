from django.db.models import QuerySet

from notifications.models import SEVERITIES, Channel, Outbox, severity_rank


def channels_for(user) -> QuerySet[Channel]:
    """Every read of channels starts here: a user sees only their own."""
    return Channel.objects.filter(owner=user)


def channels_matching(*, user, event: str, severity: str) -> QuerySet[Channel]:
    """Enabled channels of `user` that want `event` at `severity` or above their minimum."""
    if user is None or not getattr(user, "pk", None):
        return Channel.objects.none()
    wanted = [s for s in SEVERITIES if severity_rank(s) <= severity_rank(severity)]
    return (channels_for(user).filter(is_active=True, events__contains=[event], min_severity__in=wanted)
            .order_by("pk"))


def outbox_for(user) -> QuerySet[Outbox]:
    """The user's delivery log: their messages, newest first, with every attempt."""
    return (Outbox.objects.filter(user=user).select_related("channel", "folded_into")
            .prefetch_related("delivery_attempts").order_by("-created_at", "-pk"))
