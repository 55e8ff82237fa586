from rest_framework import serializers

from notifications.models import EVENTS, FILL_DIGEST_MAX_MINUTES, SEVERITIES, Channel, DeliveryAttempt, Outbox


class ChannelOut(serializers.ModelSerializer):
    """What anyone ever sees of a channel: a masked target, never the URL, token or secret."""

    target_masked = serializers.CharField(source="target_hint")
    has_secret = serializers.SerializerMethodField()

    class Meta:
        model = Channel
        fields = ["id", "kind", "name", "target_masked", "has_secret", "events", "min_severity",
                  "rate_limit_per_minute", "fill_digest_minutes", "is_active", "disabled_reason", "created_at", "last_tested_at",
                  "last_test_ok", "last_test_message"]
        read_only_fields = fields

    def get_has_secret(self, channel) -> bool:
        return bool(channel.secret_enc)


class ChannelCreateIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[c for c, _ in Channel.Kind.choices])
    name = serializers.CharField(max_length=64)
    webhook_url = serializers.CharField(write_only=True, max_length=1000, required=False, allow_blank=True, default="")
    secret = serializers.CharField(write_only=True, max_length=200, required=False, allow_blank=True, default="",
                                   trim_whitespace=False)
    apprise_url = serializers.CharField(write_only=True, max_length=2000, required=False, allow_blank=True,
                                        default="")
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENTS), required=False)
    min_severity = serializers.ChoiceField(choices=SEVERITIES, required=False, default="info")
    rate_limit_per_minute = serializers.IntegerField(min_value=1, max_value=600, required=False)
    fill_digest_minutes = serializers.IntegerField(
        min_value=0, max_value=FILL_DIGEST_MAX_MINUTES, required=False,
        help_text="Fill alerts per bot: at most one message per this many minutes (default 15; 0: every fill).")


class ChannelUpdateIn(serializers.Serializer):
    name = serializers.CharField(max_length=64, required=False)
    webhook_url = serializers.CharField(write_only=True, max_length=1000, required=False, allow_blank=True)
    secret = serializers.CharField(write_only=True, max_length=200, required=False, allow_blank=True,
                                   trim_whitespace=False)
    apprise_url = serializers.CharField(write_only=True, max_length=2000, required=False, allow_blank=True)
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENTS), required=False)
    min_severity = serializers.ChoiceField(choices=SEVERITIES, required=False)
    rate_limit_per_minute = serializers.IntegerField(min_value=1, max_value=600, required=False)
    fill_digest_minutes = serializers.IntegerField(min_value=0, max_value=FILL_DIGEST_MAX_MINUTES, required=False)
    is_active = serializers.BooleanField(required=False)


class ChannelTestOut(serializers.Serializer):
    ok = serializers.BooleanField()
    outcome = serializers.CharField()
    message = serializers.CharField()
    tested_at = serializers.CharField()
    outbox_id = serializers.IntegerField()


class AttemptOut(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["at", "outcome", "reason", "http_status", "errcode", "messages", "duration_ms"]
        read_only_fields = fields


class OutboxOut(serializers.ModelSerializer):
    channel = serializers.SerializerMethodField()
    attempts_log = serializers.SerializerMethodField()
    folded_into = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Outbox
        fields = ["id", "channel", "event", "severity", "title", "text", "url_path", "bot_id", "bot_label", "items", "state",
                  "attempts", "next_attempt_at", "sent_at", "last_error", "folded_into", "created_at",
                  "attempts_log"]
        read_only_fields = fields

    def get_channel(self, row) -> dict | None:
        if row.channel is None:
            return None
        return {"id": row.channel_id, "name": row.channel.name, "kind": row.channel.kind}

    def get_attempts_log(self, row) -> list[dict]:
        # folded messages went out inside another message's attempt
        return AttemptOut(row.delivery_attempts.all(), many=True).data
