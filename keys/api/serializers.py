from django.conf import settings
from rest_framework import serializers

from config.api import StrictBooleanField, TextField
from keys.models import ExchangeKey
from keys.selectors import key_age_days, key_rotate_due, key_test_status
from keys.services import required_credentials


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
    exchange = serializers.ChoiceField(choices=())  # the supported exchanges, documented as the schema's enum
    label = TextField(max_length=64)
    api_key = TextField(write_only=True, max_length=512, trim_whitespace=False)
    secret = TextField(write_only=True, max_length=512, trim_whitespace=False)
    passphrase = TextField(write_only=True, max_length=256, required=False, allow_blank=True, default="",
                           trim_whitespace=False)
    uid = TextField(write_only=True, max_length=128, required=False, allow_blank=True, default="",
                    trim_whitespace=False)
    sandbox = StrictBooleanField(required=False, default=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["exchange"].choices = settings.SUPPORTED_EXCHANGES
        self.fields["exchange"].error_messages["invalid_choice"] = (
            f"Unsupported exchange. Choose one of: {', '.join(settings.SUPPORTED_EXCHANGES)}.")

    @staticmethod
    def schema_extra() -> dict:
        """The schema says what key_create checks (keys/services.py): printable ASCII tokens (a PEM key
        for a secret too) and, per exchange, the credentials ccxt says it needs."""
        token = r"[\x21-\x7e]+"
        pem = r"-----BEGIN ([A-Z ]+)-----\s*[A-Za-z0-9+/=\s]+?\s*-----END \1-----\s*"
        per_exchange = []
        for exchange in settings.SUPPORTED_EXCHANGES:
            needs = required_credentials(exchange)
            extra = {name: {"minLength": 1} for name, cred in (("passphrase", "password"), ("uid", "uid"))
                     if needs.get(cred)}
            per_exchange.append({"properties": {"exchange": {"enum": [exchange]}, **extra}, "required": list(extra)}
                                if extra else {"properties": {"exchange": {"enum": [exchange]}}})
        return {"allOf": [{"properties": {"api_key": {"pattern": f"^{token}$"},
                                          "secret": {"pattern": f"^(?:{token}|{pem})$"},
                                          "passphrase": {"pattern": f"^(?:{token})?$"},
                                          "uid": {"pattern": f"^(?:{token})?$"}}}],
                "anyOf": per_exchange}


class KeyUpdateIn(serializers.Serializer):
    label = TextField(max_length=64)
    schema_extra = {"required": ["label"]}  # the only field: a PATCH must send it


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
