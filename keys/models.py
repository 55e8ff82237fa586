from django.conf import settings
from django.db import models


class ExchangeKey(models.Model):
    """Exchange API credentials. Secrets are stored only as Fernet tokens and never shown again."""

    ENCRYPTED_FIELDS = ("api_key_enc", "secret_enc", "passphrase_enc", "uid_enc")  # rotate_encryption_keys covers them

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exchange_keys")
    exchange = models.CharField(max_length=32)
    label = models.CharField(max_length=64)
    sandbox = models.BooleanField(default=False, help_text="Use the exchange's testnet.")
    api_key_enc = models.TextField()
    secret_enc = models.TextField()
    passphrase_enc = models.TextField(blank=True, default="")
    uid_enc = models.TextField(blank=True, default="")
    enc_key_id = models.CharField(max_length=12, db_index=True, help_text="Fingerprint of the key that encrypted this row.")
    api_key_hint = models.CharField(max_length=8, help_text="Last characters of the API key, for recognising it.")
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True, blank=True)
    last_test_code = models.CharField(max_length=40, blank=True, default="")
    last_test_message = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["exchange", "label"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "exchange", "label"], name="unique_key_label_per_exchange"),
        ]

    def __str__(self) -> str:
        return f"{self.exchange} · {self.label} (…{self.api_key_hint})"
