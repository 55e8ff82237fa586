from django.db.models import QuerySet

from accounts.models import AuditEvent, User


def audit_events_for(user: User) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(actor=user)


def client_ip(request) -> str | None:
    """The client address as the first trusted proxy saw it (nginx sets X-Real-IP)."""
    if request is None:
        return None
    meta = getattr(request, "META", {})
    return meta.get("HTTP_X_REAL_IP") or meta.get("REMOTE_ADDR") or None
