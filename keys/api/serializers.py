from rest_framework import serializers

from keys.models import ExchangeKey
from keys.selectors import key_age_days, key_rotate_due, key_test_status


class KeyOut(serializers.ModelSerializer):
    """What anyone ever sees of a key: a masked hint, never the key or secret."""

    api_key_masked = serializers.SerializerMethodField()
    has_passphrase = serializers.SerializerMethodField()
    age_days = serializers.SerializerMethodField()
    rotate_due = serializers.SerializerMethodField()
    test_status = serializers.SerializerMethodField(
        help_text="passed / failed / untested (the exchange could not be reached on save; see last_test_message)")

    class Meta:
        model = ExchangeKey
        fields = ["id", "exchange", "label", "sandbox", "api_key_masked", "has_passphrase", "is_active",
                  "disabled_reason", "created_at", "age_days", "rotate_due", "last_tested_at", "last_test_ok",
                  "test_status", "last_test_code", "last_test_message"]
        read_only_fields = fields

    def get_api_key_masked(self, key) -> str:
        return f"••••{key.api_key_hint}"

    def get_has_passphrase(self, key) -> bool:
        return bool(key.passphrase_enc)

    def get_age_days(self, key) -> int:
        return key_age_days(key)

    def get_rotate_due(self, key) -> bool:
        return key_rotate_due(key)

    def get_test_status(self, key) -> str:
        return key_test_status(key)


class KeyCreateIn(serializers.Serializer):
    exchange = serializers.CharField(max_length=32)
    label = serializers.CharField(max_length=64)
    api_key = serializers.CharField(write_only=True, max_length=512, trim_whitespace=False)
    secret = serializers.CharField(write_only=True, max_length=512, trim_whitespace=False)
    passphrase = serializers.CharField(write_only=True, max_length=256, required=False, allow_blank=True,
                                       default="", trim_whitespace=False)
    uid = serializers.CharField(write_only=True, max_length=128, required=False, allow_blank=True, default="",
                                trim_whitespace=False)
    sandbox = serializers.BooleanField(required=False, default=False)


class KeyUpdateIn(serializers.Serializer):
    label = serializers.CharField(max_length=64)


class BalanceOut(serializers.Serializer):
    asset = serializers.CharField()
    free = serializers.CharField(allow_null=True, help_text="Exact decimal string")
    used = serializers.CharField(allow_null=True)
    total = serializers.CharField()


class KeyTestOut(serializers.Serializer):
    ok = serializers.BooleanField()
    balances = BalanceOut(many=True, required=False,
                          help_text="After a successful test: the assets held on the exchange (never stored)")
    message = serializers.CharField(required=False)
    tested_at = serializers.CharField()
    error = serializers.DictField(required=False)
