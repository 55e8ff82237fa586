"""The audit log: who did what to what, from where. Every app records here; nothing here holds a secret.

A module of its own (not accounts.services) so that any layer above accounts can record an event
without importing the accounts services, and accounts' services can use the vault below keys.
"""

from accounts.models import AuditEvent, User
from accounts.selectors import client_ip


def audit_record(*, action: str, actor: User | None = None, target: str = "", request=None,
                 details: dict | None = None, ip: str | None = None) -> AuditEvent:
    """`ip`: the client address when there is no request any more (a task finishing a request's work)."""
    if actor is not None and not getattr(actor, "pk", None):
        actor = None
    return AuditEvent.objects.create(
        action=action, actor=actor, target=target[:200], ip=client_ip(request) if request is not None else ip,
        details=details or {}
    )
