from rest_framework import serializers

from accounts.models import User


class UserOut(serializers.ModelSerializer):
    """Everything a client may know about a user; nothing sensitive."""

    # an address is optional at sign-up: "" when none was given (so not documented as format "email")
    email = serializers.CharField(read_only=True, help_text="The user's email address; empty when none was given.")

    class Meta:
        model = User
        fields = ["id", "username", "email", "date_joined", "is_staff", "totp_enabled"]
        read_only_fields = fields


class TokenPairOut(serializers.Serializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")


class RefreshIn(serializers.Serializer):
    refresh_token = serializers.CharField()


class RegisterIn(serializers.Serializer):
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    password = serializers.CharField(write_only=True, max_length=128)


class LoginIn(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(write_only=True, max_length=128)


class PasswordChangeIn(serializers.Serializer):
    old_password = serializers.CharField(write_only=True, max_length=128)
    new_password = serializers.CharField(write_only=True, max_length=128)


class TotpChallengeOut(serializers.Serializer):
    totp_required = serializers.BooleanField(help_text="Always true: send the challenge and a code to auth/login/totp/.")
    challenge = serializers.CharField(help_text="Single-use, valid for a few minutes.")


class LoginTotpIn(serializers.Serializer):
    challenge = serializers.CharField(max_length=500)
    code = serializers.CharField(max_length=20, help_text="The 6-digit code from your app, or an unused recovery code.")


class PasswordResetIn(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class PasswordResetConfirmIn(serializers.Serializer):
    uid = serializers.CharField(max_length=64, help_text="From the emailed link: /password/reset/<uid>/<token>/.")
    token = serializers.CharField(max_length=128)
    new_password = serializers.CharField(write_only=True, max_length=128)


class DetailOut(serializers.Serializer):
    detail = serializers.CharField()


class WsTicketOut(serializers.Serializer):
    ticket = serializers.CharField(help_text="Connect with /ws/events/?ticket=<ticket> (or /ws/prices/). One use.")
    expires_in = serializers.IntegerField(help_text="Seconds the ticket stays valid.")


class TotpStartOut(serializers.Serializer):
    otpauth_uri = serializers.CharField(help_text="Add to an authenticator app (as text or a QR code).")
    secret = serializers.CharField(help_text="Base32 secret for manual entry. Shown only now, never again.")


class TotpConfirmIn(serializers.Serializer):
    code = serializers.CharField(max_length=10, help_text="The 6-digit code your app shows now.")


class TotpDisableIn(serializers.Serializer):
    password = serializers.CharField(write_only=True, max_length=128)


class TotpStatusOut(serializers.Serializer):
    totp_enabled = serializers.BooleanField()


class TotpConfirmOut(serializers.Serializer):
    totp_enabled = serializers.BooleanField()
    recovery_codes = serializers.ListField(
        child=serializers.CharField(),
        help_text="Single-use codes for when your phone is lost. Shown only now: store them somewhere safe.")
