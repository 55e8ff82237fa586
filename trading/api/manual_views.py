"""Manual control of bots: close the position at market, cancel all open orders, resume all halted bots."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from trading.api.serializers import BotOut, OrderOut
from trading.selectors import bots_for
from trading.services.manual import bot_orders_cancel_all, bot_position_close, bots_resume_all


def _bot(request, pk: int):
    return get_object_or_404(bots_for(request.user), pk=pk)


class BotClosePositionOut(serializers.Serializer):
    bot = BotOut()
    order = OrderOut()


class BotCancelOrdersOut(serializers.Serializer):
    cancelled = serializers.IntegerField(help_text="How many open orders were cancelled")
    bot = BotOut()


class BotsResumeAllOut(serializers.Serializer):
    resumed = BotOut(many=True)


class BotClosePositionApi(APIView):
    Out = BotClosePositionOut

    @extend_schema(request=None, responses={200: Out},
                   description="Sell the bot's whole position at market now, through the risk gate and the bot's "
                               "venue (open orders are cancelled first). 409 `nothing_to_close`, `risk_refused` "
                               "(the gate's reason in the message) or `order_rejected`.")
    def post(self, request, pk: int):
        result = bot_position_close(bot=_bot(request, pk), actor=request.user, request=request)
        return Response(self.Out({"bot": result.bot, "order": result.order}).data)


class BotCancelOrdersApi(APIView):
    Out = BotCancelOrdersOut

    @extend_schema(request=None, responses={200: Out},
                   description="Cancel every open order of the bot and release what they reserved.")
    def post(self, request, pk: int):
        bot = _bot(request, pk)
        count = bot_orders_cancel_all(bot=bot, actor=request.user, request=request)
        bot.refresh_from_db()
        return Response(self.Out({"cancelled": count, "bot": bot}).data)


class BotsResumeAllApi(APIView):
    Out = BotsResumeAllOut

    @extend_schema(request=None, responses={200: Out},
                   description="Resume every halted bot of yours (after an emergency stop). 409 "
                               "`kill_switch_engaged` while a kill switch covers you: release it first.")
    def post(self, request):
        return Response(self.Out({"resumed": bots_resume_all(actor=request.user, request=request)}).data)
