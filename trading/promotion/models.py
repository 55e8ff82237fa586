from django.conf import settings
from django.db import models
from django.db.models import Q

DECIMAL = {"max_digits": 38, "decimal_places": 18}
PCT = {"max_digits": 7, "decimal_places": 3}


class PromotionPolicy(models.Model):
    """The one platform row of promotion rules. Created from the PROMOTION_* settings; staff edit it in admin."""

    min_paper_days = models.PositiveIntegerField(help_text="Days since the bot's first paper fill.")
    min_closed_trades = models.PositiveIntegerField(help_text="Round trips (buy then sell) on paper.")
    min_win_rate_pct = models.DecimalField(help_text="Share of closed trades with a profit, %.", **PCT)
    min_profit_pct = models.DecimalField(help_text="Paper equity over the starting balance, %.", **PCT)
    require_staff_approval = models.BooleanField(help_text="A staff member with the approve-promotion "
                                                           "permission approves every request.")
    request_ttl_hours = models.PositiveIntegerField(help_text="A request not confirmed (or not decided) within "
                                                              "this many hours expires.")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False)

    class Meta:
        verbose_name = "promotion policy"
        verbose_name_plural = "promotion policy"

    def __str__(self) -> str:
        return "Platform promotion policy"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        errors = {}
        for name in ("min_win_rate_pct", "min_profit_pct"):
            value = getattr(self, name)
            if value is not None and not (-100 <= value <= 1000):
                errors[name] = "Between -100 and 1000."
        if self.request_ttl_hours is not None and not (1 <= self.request_ttl_hours <= 24 * 30):
            errors["request_ttl_hours"] = "Between 1 and 720 hours."
        if errors:
            raise ValidationError(errors)


class PromotionRequest(models.Model):
    """One attempt to take a bot from paper to live. Written only by trading.promotion.services."""

    class Status(models.TextChoices):
        PENDING_CONFIRMATION = "pending_confirmation"
        PENDING_APPROVAL = "pending_approval"
        APPROVED = "approved"  # the bot is live on this request's allocation
        REJECTED = "rejected"
        CANCELLED = "cancelled"
        EXPIRED = "expired"
        DEMOTED = "demoted"

    OPEN_STATUSES = ("pending_confirmation", "pending_approval", "approved")
    PENDING_STATUSES = ("pending_confirmation", "pending_approval")
    MAX_ATTEMPTS = 5

    bot = models.ForeignKey("trading.Bot", on_delete=models.CASCADE, related_name="promotions")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                     related_name="promotion_requests")
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.PENDING_CONFIRMATION)
    allocation = models.DecimalField(help_text="Live allocation in the quote currency.", **DECIMAL)
    quote_currency = models.CharField(max_length=32)
    key = models.ForeignKey("keys.ExchangeKey", null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="+", help_text="The key live orders will be signed with.")
    stats = models.JSONField(default=dict, help_text="Frozen at request time: the paper record and criteria.")
    limits = models.JSONField(default=dict, help_text="The risk limits that apply live, at request time.")
    require_approval = models.BooleanField(default=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Wrong confirmations so far.")
    expires_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_with = models.CharField(max_length=8, blank=True, help_text="phrase or totp")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="promotion_decisions")
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=500, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["bot"], condition=Q(status__in=("pending_confirmation",
                                                                            "pending_approval", "approved")),
                                    name="one_open_promotion_per_bot"),
        ]
        indexes = [models.Index(fields=["status", "-created_at"], name="promotion_status_created")]

    def __str__(self) -> str:
        return f"promotion #{self.pk} of bot {self.bot_id} ({self.status})"

    @property
    def attempts_left(self) -> int:
        return max(0, self.MAX_ATTEMPTS - self.attempts)
