from django.db.models import QuerySet

from accounts.models import AuditEvent, User


def audit_events_for(user: User) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(actor=user)


def client_ip(request) -> str | None:
    """The client address: the peer, or what a trusted proxy said it was (config/proxy.py, FORWARDED_ALLOW_IPS).

    Never a header the client could have written itself (X-Real-IP, X-Forwarded-For) read here.
    """
    if request is None:
        return None
    meta = getattr(request, "META", {})
    return meta.get("REMOTE_ADDR") or None
