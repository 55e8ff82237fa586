"""Risk: kill switches, policies (platform defaults and tightening overrides) and risk events."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from risk.checks import LIMIT_FIELDS, LONGER_IS_TIGHTER

DECIMAL = {"max_digits": 38, "decimal_places": 18}
GLOBAL_KEY = "global"


def user_key(user_id: int) -> str:
    return f"user:{user_id}"


class KillSwitch(models.Model):
    """One row per scope (`global`, or one per user). While `engaged`, no new order is placed in scope.

    Order transactions read these rows FOR SHARE; engaging UPDATEs them, so an engage waits for the
    order transactions in flight and every later one sees it.
    """

    GLOBAL, USER = "global", "user"
    SCOPES = [(GLOBAL, "Global"), (USER, "User")]

    key = models.CharField(max_length=40, unique=True, editable=False)
    scope = models.CharField(max_length=8, choices=SCOPES)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="kill_switches")
    engaged = models.BooleanField(default=False)
    engaged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    engaged_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    released_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    released_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "kill switches"
        ordering = ["scope", "user_id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(scope="global", user__isnull=True) | Q(scope="user", user__isnull=False)),
                name="killswitch_scope_matches_user",
            ),
        ]
        permissions = [
            ("manage_global_kill_switch", "Can engage and release the global kill switch"),
            ("halt_any_bot", "Can halt and resume any user's bot"),
            ("approve_promotion", "Can approve a bot's promotion to live trading"),
        ]

    def __str__(self) -> str:
        who = "global" if self.scope == self.GLOBAL else f"user {self.user_id}"
        return f"kill switch ({who}): {'ENGAGED' if self.engaged else 'released'}"


class RiskPolicy(models.Model):
    """Limits. The platform row holds the defaults and bounds; user/bot rows may only tighten them.

    On an override row a blank field means "inherit". On the platform row a blank field means
    "no limit". For every field a lower number is tighter, except `cooldown_minutes` (longer is tighter).
    """

    PLATFORM, USER, BOT = "platform", "user", "bot"
    SCOPES = [(PLATFORM, "Platform"), (USER, "User"), (BOT, "Bot")]

    scope = models.CharField(max_length=8, choices=SCOPES)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="risk_policies")
    bot = models.OneToOneField("trading.Bot", null=True, blank=True, on_delete=models.CASCADE,
                               related_name="risk_policy")
    max_position_quote = models.DecimalField(null=True, blank=True, help_text="Max position value in quote currency.",
                                             **DECIMAL)
    max_position_pct = models.DecimalField(null=True, blank=True, max_digits=7, decimal_places=3,
                                           help_text="Max position value as % of the bot's equity.")
    max_open_trades = models.PositiveIntegerField(null=True, blank=True)
    max_trades_per_day = models.PositiveIntegerField(null=True, blank=True)
    daily_loss_pct = models.DecimalField(null=True, blank=True, max_digits=7, decimal_places=3,
                                         help_text="Circuit breaker: loss vs the day's starting equity, %.")
    max_drawdown_pct = models.DecimalField(null=True, blank=True, max_digits=7, decimal_places=3,
                                           help_text="Circuit breaker: drawdown from peak equity, %.")
    max_orders_per_minute = models.PositiveIntegerField(null=True, blank=True)
    cooldown_minutes = models.PositiveIntegerField(null=True, blank=True,
                                                   help_text="No new entries this long after a breach.")
    user_daily_loss_pct = models.DecimalField(
        null=True, blank=True, max_digits=7, decimal_places=3,
        help_text="Circuit breaker for a whole account: all of a user's bots together vs the day's starting "
                  "equity, %. Breach halts all of the user's bots. Ignored on bot rows.")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    LIMIT_FIELDS = LIMIT_FIELDS  # one list, in risk.checks
    LONGER_IS_TIGHTER = LONGER_IS_TIGHTER

    class Meta:
        verbose_name_plural = "risk policies"
        ordering = ["scope", "id"]
        constraints = [
            models.UniqueConstraint(fields=["scope"], condition=Q(scope="platform"), name="one_platform_policy"),
            models.UniqueConstraint(fields=["user"], condition=Q(scope="user"), name="one_policy_per_user"),
            models.CheckConstraint(
                condition=(Q(scope="platform", user__isnull=True, bot__isnull=True)
                           | Q(scope="user", user__isnull=False, bot__isnull=True)
                           | Q(scope="bot", bot__isnull=False)),
                name="riskpolicy_scope_matches_target",
            ),
        ]

    def __str__(self) -> str:
        if self.scope == self.PLATFORM:
            return "platform risk policy"
        if self.scope == self.USER:
            return f"risk policy for user {self.user_id}"
        return f"risk policy for bot {self.bot_id}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.scope == self.PLATFORM and (self.user_id or self.bot_id):
            raise ValidationError("The platform policy applies to everyone: leave user and bot empty.")
        if self.scope == self.USER and (not self.user_id or self.bot_id):
            raise ValidationError({"user": "A user policy needs a user (and no bot)."})
        if self.scope == self.BOT and not self.bot_id:
            raise ValidationError({"bot": "A bot policy needs a bot."})


class RiskEvent(models.Model):
    """A refusal, a breach, a halt, a kill switch change. Read-only once written."""

    INFO, WARNING, CRITICAL = "info", "warning", "critical"
    SEVERITIES = [(INFO, "info"), (WARNING, "warning"), (CRITICAL, "critical")]

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="risk_events")
    bot = models.ForeignKey("trading.Bot", null=True, blank=True, on_delete=models.CASCADE, related_name="risk_events")
    code = models.CharField(max_length=64, db_index=True)
    severity = models.CharField(max_length=8, choices=SEVERITIES, default=WARNING)
    message = models.CharField(max_length=500)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"]), models.Index(fields=["bot", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.code}: {self.message}"


class Quota(models.Model):
    """Per-user quotas (risk/quotas.py): the platform row (no user) for everyone, a user's row for one person.
    An empty field inherits: user row -> platform row -> the QUOTA_* setting. Staff edit them in admin."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="quota", help_text="Empty: the platform-wide row")
    bots = models.PositiveIntegerField(null=True, blank=True, help_text="Bots a user may have (archived ones "
                                       "not counted). Empty: inherit")
    running_bots = models.PositiveIntegerField(null=True, blank=True, help_text="Bots running at once. Empty: inherit")
    watchlist_symbols = models.PositiveIntegerField(null=True, blank=True,
                                                    help_text="Symbols on the watchlist. Empty: inherit")
    api_requests_per_minute = models.PositiveIntegerField(null=True, blank=True,
                                                          help_text="API requests per minute. Empty: inherit")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # one platform row: a unique index on a constant over the rows without a user
        constraints = [models.UniqueConstraint(models.Value(1), condition=Q(user__isnull=True),
                                               name="one_platform_quota")]

    def __str__(self) -> str:
        return f"quotas for {self.user}" if self.user_id else "platform quotas"
