from django.conf import settings
from django.db import models

EVENTS = ("fills", "risk", "kill_switch", "promotion", "daily_summary", "security")
SEVERITIES = ("info", "warning", "critical")
FILL_DIGEST_MINUTES = 15  # the default for fills: one digest per bot per quarter hour
FILL_DIGEST_MAX_MINUTES = 24 * 60


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


class Channel(models.Model):
    """Where a user's alerts go. Targets and secrets are stored only as Fernet tokens.

    The platform-wide operator channel is not a row: it comes from DINGTALK_WEBHOOK_URL /
    DINGTALK_SECRET in the environment (outbox rows with `channel=None`).
    """

    class Kind(models.TextChoices):
        DINGTALK = "dingtalk", "DingTalk robot"
        APPRISE = "apprise", "Apprise URL"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="notification_channels")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=64)
    webhook_url_enc = models.TextField(blank=True, default="")
    secret_enc = models.TextField(blank=True, default="")
    apprise_url_enc = models.TextField(blank=True, default="")
    enc_key_id = models.CharField(max_length=12, db_index=True,
                                  help_text="Fingerprint of the key that encrypted this row.")
    target_hint = models.CharField(max_length=80, help_text="Masked target, e.g. 'oapi.dingtalk.com · token …a1b2'.")
    events = models.JSONField(default=list)
    min_severity = models.CharField(max_length=10, default="info")
    rate_limit_per_minute = models.PositiveIntegerField(default=20)
    fill_digest_minutes = models.PositiveIntegerField(
        default=FILL_DIGEST_MINUTES,
        help_text="Fill alerts of one bot: at most one message per this many minutes, summarising the fills "
                  "(0: every fill at once). Risk and kill-switch alerts are always sent at once.")
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True, blank=True)
    last_test_message = models.CharField(max_length=300, blank=True, default="")

    # rotate_encryption_keys re-encrypts these (keys.services.encrypted_models finds them)
    ENCRYPTED_FIELDS = ("webhook_url_enc", "secret_enc", "apprise_url_enc")

    class Meta:
        ordering = ["name", "pk"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="unique_channel_name_per_owner")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()}, {self.target_hint})"


class Outbox(models.Model):
    """One message for one channel. Written before any send; delivery works through this table."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FOLDED = "folded", "Sent in a summary"
        FAILED = "failed", "Failed"

    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="outbox",
                                help_text="Empty: the platform channel from the environment.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="notifications")
    event = models.CharField(max_length=32)
    severity = models.CharField(max_length=10)
    title = models.CharField(max_length=200)
    text = models.TextField(blank=True, default="")
    url_path = models.CharField(max_length=300, blank=True, default="")
    bot_id = models.BigIntegerField(null=True, blank=True)
    bot_label = models.CharField(max_length=120, blank=True, default="")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=8)
    next_attempt_at = models.DateTimeField(db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True, default="")
    folded_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="folded")
    dedupe_key = models.CharField(max_length=200, blank=True, default="")
    items = models.PositiveIntegerField(default=1, help_text="How many alerts this message holds (a fill digest "
                                                             "grows until it is sent).")
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "outbox message"
        verbose_name_plural = "outbox messages"
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["channel", "state", "next_attempt_at"], name="outbox_due_per_channel")]
        constraints = [
            models.UniqueConstraint(fields=["channel", "dedupe_key"], condition=~models.Q(dedupe_key=""),
                                    nulls_distinct=False, name="unique_outbox_dedupe_per_channel"),
        ]

    def __str__(self) -> str:
        return f"[{self.severity}] {self.title} -> {self.channel_id or 'platform'} ({self.state})"


class DeliveryAttempt(models.Model):
    """One try to send (one message or one storm summary). Never holds a URL, token or secret."""

    class Outcome(models.TextChoices):
        SENDING = "sending", "Sending"
        OK = "ok", "Delivered"
        RETRY = "retry", "Failed, will retry"
        FAILED = "failed", "Failed"

    outbox = models.ForeignKey(Outbox, on_delete=models.CASCADE, related_name="delivery_attempts")
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="attempts")
    at = models.DateTimeField(db_index=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.SENDING)
    reason = models.CharField(max_length=300, blank=True, default="")
    http_status = models.PositiveIntegerField(null=True, blank=True)
    errcode = models.IntegerField(null=True, blank=True)
    messages = models.PositiveIntegerField(default=1, help_text="How many outbox messages this send carried.")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.outcome} {self.reason}"
