from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """Our own user model from the first migration, so it can grow without pain."""

    email = models.EmailField("email address", blank=True)
    totp_enabled = models.BooleanField(default=False)
    token_version = models.PositiveIntegerField(
        default=0, help_text="Stamped into every JWT; bumped by a password change, reset or deactivation, "
                             "which ends every token issued before.")
    must_change_password = models.BooleanField(
        default=False, help_text="Set for the first-run staff account: the first login must choose a new password.")

    class Meta:
        db_table = "accounts_user"


class AuditEvent(models.Model):
    """Who did what to what, from where, when. Never holds a secret."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=64, db_index=True)
    target = models.CharField(max_length=200, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["actor", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.target}"


class TotpDevice(models.Model):
    """A user's TOTP secret, encrypted under the same vault as exchange keys. Never shown after enrolment."""

    ENCRYPTED_FIELDS = ("secret_enc",)  # rotate_encryption_keys covers it

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp_device")
    secret_enc = models.TextField()
    enc_key_id = models.CharField(max_length=12, db_index=True, help_text="Fingerprint of the key that encrypted this row.")
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_used_step = models.BigIntegerField(null=True, blank=True, help_text="Time step of the last accepted code (no replay).")

    def __str__(self) -> str:
        return f"TOTP for user:{self.user_id} ({'confirmed' if self.confirmed_at else 'pending'})"


class TotpRecoveryCode(models.Model):
    """A single-use code that stands in for a TOTP code (lost phone). Only a hash is kept; shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp_recovery_codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "code_hash"], name="accounts_recovery_user_hash")]

    def __str__(self) -> str:
        return f"recovery code for user:{self.user_id} ({'used' if self.used_at else 'unused'})"
