from django.shortcuts import get_object_or_404
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from keys.api.serializers import KeyCreateIn, KeyOut, KeyTestOut, KeyUpdateIn
from keys.selectors import keys_for
from keys.services import key_create, key_delete, key_relabel, key_test, keys_revoke_all


@method_decorator(sensitive_post_parameters("api_key", "secret", "passphrase", "uid"), name="dispatch")
class KeyListCreateApi(APIView):
    @extend_schema(responses={200: KeyOut(many=True)})
    def get(self, request):
        return Response(KeyOut(keys_for(request.user), many=True).data)

    @extend_schema(request=KeyCreateIn, responses={201: KeyOut}, description=(
        "Stores the key after a connection test with it (the balance is read): a key the exchange rejects "
        "is not stored (400 invalid_credentials); when the exchange cannot be reached the key is stored "
        "with test_status \"untested\" and the reason in last_test_message."))
    @method_decorator(sensitive_variables("data"))
    def post(self, request):
        data = KeyCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        key = key_create(owner=request.user, request=request, verify=True, **data.validated_data)
        return Response(KeyOut(key).data, status=status.HTTP_201_CREATED)


class KeyDetailApi(APIView):
    @extend_schema(responses={200: KeyOut})
    def get(self, request, pk: int):
        return Response(KeyOut(get_object_or_404(keys_for(request.user), pk=pk)).data)

    @extend_schema(request=KeyUpdateIn, responses={200: KeyOut})
    def patch(self, request, pk: int):
        key = get_object_or_404(keys_for(request.user), pk=pk)
        data = KeyUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(KeyOut(key_relabel(key=key, actor=request.user, request=request, **data.validated_data)).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, pk: int):
        key_delete(key=get_object_or_404(keys_for(request.user), pk=pk), actor=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class KeyTestApi(APIView):
    @extend_schema(request=None, responses={200: KeyTestOut, 400: KeyTestOut, 429: KeyTestOut, 502: KeyTestOut,
                                            504: KeyTestOut})
    def post(self, request, pk: int):
        key = get_object_or_404(keys_for(request.user), pk=pk)
        outcome = key_test(key=key, actor=request.user, request=request)
        code = outcome.pop("status", 200)
        return Response(outcome, status=code)


class KeysRevokeAllApi(APIView):
    @extend_schema(request=None, responses={200: inline_serializer("RevokeAllOut", {"deleted": serializers.IntegerField()})})
    def post(self, request):
        return Response({"deleted": keys_revoke_all(owner=request.user, request=request)})
