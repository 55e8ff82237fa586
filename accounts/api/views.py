from django.contrib.auth import authenticate, user_logged_in
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.api.serializers import LoginIn, RefreshIn, RegisterIn, TokenPairOut, UserOut
from accounts.api.throttles import AuthIPThrottle, AuthUsernameThrottle
from accounts.models import User
from accounts.services import audit_record, token_pair, tokens_issue, user_register
from config.api import DomainError


class InvalidCredentials(DomainError):
    code = "invalid_credentials"
    status = status.HTTP_401_UNAUTHORIZED


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
    throttle_classes = [AuthIPThrottle, AuthUsernameThrottle]

    @extend_schema(request=LoginIn, responses={200: TokenPairOut})
    def post(self, request):
        data = LoginIn(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request, **data.validated_data)  # failures are audited by the signal
        if user is None:
            raise InvalidCredentials("Wrong username or password.")
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        return Response(tokens_issue(user=user))


class RefreshApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=RefreshIn, responses={200: TokenPairOut})
    def post(self, request):
        data = RefreshIn(data=request.data)
        data.is_valid(raise_exception=True)
        inner = TokenRefreshSerializer(data={"refresh": data.validated_data["refresh_token"]})
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
        audit_record(action="logout", actor=request.user, target=f"user:{request.user.pk}", request=request,
                     details={"via": "api"})
        return Response({"detail": "Logged out."})


class MeApi(APIView):
    @extend_schema(responses={200: UserOut})
    def get(self, request):
        return Response(UserOut(request.user).data)
