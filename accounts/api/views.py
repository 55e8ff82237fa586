from django.contrib.auth import user_logged_in
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.api.serializers import (
    DetailOut,
    LoginIn,
    LoginTotpIn,
    PasswordChangeIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    RefreshIn,
    RegisterIn,
    TokenPairOut,
    TotpChallengeOut,
    TotpConfirmIn,
    TotpConfirmOut,
    TotpDisableIn,
    TotpStartOut,
    TotpStatusOut,
    UserOut,
)
from accounts.api.throttles import AuthIPThrottle, AuthUsernameThrottle
from accounts.audit import audit_record
from accounts.login import login_attempt
from accounts.models import User
from accounts.password_reset import password_reset_confirm, password_reset_request
from accounts.passwords import user_password_change
from accounts.services import (
    token_pair,
    tokens_issue,
    totp_disable,
    totp_enroll_confirm,
    totp_enroll_start,
    user_register,
)
from accounts.tokens import PlatformRefreshSerializer, access_token_deny
from accounts.totp_login import login_challenge_complete, login_challenge_issue, recovery_codes_issue
from config.api import DomainError


class InvalidToken(DomainError):
    code = "token_not_valid"
    status = status.HTTP_401_UNAUTHORIZED


class RegisterApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [AuthIPThrottle, AuthUsernameThrottle]

    @extend_schema(request=RegisterIn, responses={201: UserOut})
    def post(self, request):
        data = RegisterIn(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_register(request=request, **data.validated_data)
        return Response(UserOut(user).data, status=status.HTTP_201_CREATED)


class LoginApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    # no per-username throttle here: it would let anyone lock a victim out (accounts/login.py brakes instead)
    throttle_classes = [AuthIPThrottle]

    @extend_schema(request=LoginIn, responses={200: PolymorphicProxySerializer(
        component_name="LoginOut", serializers=[TokenPairOut, TotpChallengeOut], resource_type_field_name=None)},
        description="The token pair; with two-factor codes on, a challenge for auth/login/totp/ instead.")
    def post(self, request):
        data = LoginIn(data=request.data)
        data.is_valid(raise_exception=True)
        user = login_attempt(request=request, **data.validated_data)
        if user.totp_enabled:
            challenge = login_challenge_issue(user=user, request=request)
            return Response(TotpChallengeOut({"totp_required": True, "challenge": challenge}).data)
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        return Response(tokens_issue(user=user))


class LoginTotpApi(APIView):
    """The second step of sign-in with two-factor codes on: the challenge and a code give the token pair."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [AuthIPThrottle]

    @extend_schema(request=LoginTotpIn, responses={200: TokenPairOut})
    def post(self, request):
        data = LoginTotpIn(data=request.data)
        data.is_valid(raise_exception=True)
        user = login_challenge_complete(request=request, **data.validated_data)
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        return Response(tokens_issue(user=user))


class RefreshApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=RefreshIn, responses={200: TokenPairOut})
    def post(self, request):
        data = RefreshIn(data=request.data)
        data.is_valid(raise_exception=True)
        inner = PlatformRefreshSerializer(data={"refresh": data.validated_data["refresh_token"]})
        try:
            inner.is_valid(raise_exception=True)
        except (TokenError, AuthenticationFailed, serializers.ValidationError, User.DoesNotExist):
            raise InvalidToken("The refresh token is invalid, expired or already used.") from None
        return Response(token_pair(RefreshToken(inner.validated_data["refresh"])))


class LogoutApi(APIView):
    @extend_schema(request=RefreshIn, responses={200: inline_serializer("LogoutOut", {"detail": serializers.CharField()})})
    def post(self, request):
        data = RefreshIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            token = RefreshToken(data.validated_data["refresh_token"])
        except TokenError:
            raise InvalidToken("The refresh token is invalid, expired or already used.") from None
        if str(token.get("user_id")) != str(request.user.pk):
            raise InvalidToken("That refresh token does not belong to you.")
        token.blacklist()
        if request.auth is not None and hasattr(request.auth, "payload"):
            access_token_deny(token=request.auth)  # the access token that logged out ends now too
        audit_record(action="logout", actor=request.user, target=f"user:{request.user.pk}", request=request,
                     details={"via": "api"})
        return Response({"detail": "Logged out."})


class PasswordChangeApi(APIView):
    """Change your password (proving the old one). Every other token and session ends; you get a fresh pair."""

    @extend_schema(request=PasswordChangeIn, responses={200: TokenPairOut})
    def post(self, request):
        data = PasswordChangeIn(data=request.data)
        data.is_valid(raise_exception=True)
        pair = user_password_change(user=request.user, request=request, **data.validated_data)
        return Response(TokenPairOut(pair).data)


class PasswordResetApi(APIView):
    """Forgot password: emails a one-time link if an account has this address; answers the same either way."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [AuthIPThrottle]

    @extend_schema(request=PasswordResetIn, responses={202: DetailOut})
    def post(self, request):
        data = PasswordResetIn(data=request.data)
        data.is_valid(raise_exception=True)
        password_reset_request(email=data.validated_data["email"], request=request)
        return Response(DetailOut({"detail": RESET_SENT}).data, status=status.HTTP_202_ACCEPTED)


RESET_SENT = "If that address belongs to an account, a link to choose a new password is on its way."


class PasswordResetConfirmApi(APIView):
    """Set a new password with the uid and token from the emailed link; every token and session of the user ends."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [AuthIPThrottle]

    @extend_schema(request=PasswordResetConfirmIn, responses={200: DetailOut})
    def post(self, request):
        data = PasswordResetConfirmIn(data=request.data)
        data.is_valid(raise_exception=True)
        password_reset_confirm(request=request, **data.validated_data)
        return Response(DetailOut({"detail": "Password set. Sign in with the new one."}).data)


class MeApi(APIView):
    @extend_schema(responses={200: UserOut})
    def get(self, request):
        return Response(UserOut(request.user).data)


class TotpApi(APIView):
    """POST: start enrolment (a fresh secret, shown once). DELETE: turn two-factor codes off (needs the password)."""

    @extend_schema(request=None, responses={201: TotpStartOut})
    def post(self, request):
        uri, secret = totp_enroll_start(user=request.user, request=request)
        return Response(TotpStartOut({"otpauth_uri": uri, "secret": secret}).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=TotpDisableIn, responses={200: TotpStatusOut})
    def delete(self, request):
        data = TotpDisableIn(data=request.data)
        data.is_valid(raise_exception=True)
        user = totp_disable(user=request.user, password=data.validated_data["password"], request=request)
        return Response(TotpStatusOut({"totp_enabled": user.totp_enabled}).data)


class TotpConfirmApi(APIView):
    @extend_schema(request=TotpConfirmIn, responses={200: TotpConfirmOut})
    def post(self, request):
        data = TotpConfirmIn(data=request.data)
        data.is_valid(raise_exception=True)
        user = totp_enroll_confirm(user=request.user, code=data.validated_data["code"], request=request)
        codes = recovery_codes_issue(user=user, request=request)
        return Response(TotpConfirmOut({"totp_enabled": user.totp_enabled, "recovery_codes": codes}).data)
