from django.shortcuts import get_object_or_404
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import Pagination
from notifications.api.serializers import (
    ChannelCreateIn,
    ChannelOut,
    ChannelTestOut,
    ChannelUpdateIn,
    OutboxOut,
)
from notifications.selectors import channels_for, outbox_for
from notifications.services import channel_create, channel_delete, channel_test, channel_update

_SECRETS = ("webhook_url", "secret", "apprise_url")


@method_decorator(sensitive_post_parameters(*_SECRETS), name="dispatch")
class ChannelListCreateApi(APIView):
    @extend_schema(responses={200: ChannelOut(many=True)})
    def get(self, request):
        return Response(ChannelOut(channels_for(request.user), many=True).data)

    @extend_schema(request=ChannelCreateIn, responses={201: ChannelOut})
    @method_decorator(sensitive_variables("data"))
    def post(self, request):
        data = ChannelCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        channel = channel_create(owner=request.user, request=request, **data.validated_data)
        return Response(ChannelOut(channel).data, status=status.HTTP_201_CREATED)


@method_decorator(sensitive_post_parameters(*_SECRETS), name="dispatch")
class ChannelDetailApi(APIView):
    @extend_schema(responses={200: ChannelOut})
    def get(self, request, pk: int):
        return Response(ChannelOut(get_object_or_404(channels_for(request.user), pk=pk)).data)

    @extend_schema(request=ChannelUpdateIn, responses={200: ChannelOut})
    @method_decorator(sensitive_variables("data"))
    def patch(self, request, pk: int):
        channel = get_object_or_404(channels_for(request.user), pk=pk)
        data = ChannelUpdateIn(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        channel = channel_update(channel=channel, actor=request.user, request=request, **data.validated_data)
        return Response(ChannelOut(channel).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, pk: int):
        channel_delete(channel=get_object_or_404(channels_for(request.user), pk=pk), actor=request.user,
                       request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChannelTestApi(APIView):
    @extend_schema(request=None, responses={200: ChannelTestOut, 429: ChannelTestOut, 502: ChannelTestOut})
    def post(self, request, pk: int):
        channel = get_object_or_404(channels_for(request.user), pk=pk)
        outcome = channel_test(channel=channel, actor=request.user, request=request)
        code = {"ok": 200, "rate_limited": 429}.get(outcome["outcome"], 502)
        return Response(outcome, status=code)


class OutboxListApi(ListAPIView):
    """The signed-in user's notifications and every delivery attempt, newest first, paginated."""

    serializer_class = OutboxOut
    pagination_class = Pagination

    def get_queryset(self):
        return outbox_for(self.request.user)
