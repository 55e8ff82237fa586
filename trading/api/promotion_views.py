"""The promotion workflow's API: eligibility and request, second confirmation, demotion; staff decisions.

GET/POST /api/bots/{id}/promotion/, POST /api/bots/{id}/promotion/confirm/, POST /api/bots/{id}/demote/,
GET /api/promotions/?status=, POST /api/promotions/{id}/approve/, POST /api/promotions/{id}/reject/.
"""

from decimal import Decimal

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import query_data
from risk.checks import LIMIT_FIELDS
from trading.models import Bot
from trading.promotion.demotion import promotion_demote
from trading.promotion.models import PromotionRequest
from trading.promotion.selectors import (
    promotion_current,
    promotion_eligibility,
    promotion_policy,
    promotions_for_staff,
)
from trading.promotion.services import (
    CONFIRM_PHRASE,
    PromotionForbidden,
    can_approve_promotions,
    promotion_approve,
    promotion_confirm,
    promotion_reject,
    promotion_request,
    promotions_expire_due,
)
from trading.selectors import bots_for

DEC = "decimal as a string"


def _plain(value) -> str | None:
    if value is None:
        return None
    text = format(Decimal(value).normalize(), "f")
    return "0" if text == "-0" else text


@extend_schema_field(OpenApiTypes.STR)
class PlainDecimalField(serializers.Field):
    """A Decimal as a plain string without trailing zeros ("500", not "500.000000000000000000")."""

    def to_representation(self, value):
        return _plain(value)


class CriterionOut(serializers.Serializer):
    id = serializers.CharField()
    label = serializers.CharField()
    required = serializers.CharField()
    actual = serializers.CharField()
    passed = serializers.BooleanField()


class PromotionPolicyOut(serializers.Serializer):
    min_paper_days = serializers.IntegerField()
    min_closed_trades = serializers.IntegerField()
    min_win_rate_pct = PlainDecimalField(help_text=DEC)
    min_profit_pct = PlainDecimalField(help_text=DEC)
    require_staff_approval = serializers.BooleanField()
    request_ttl_hours = serializers.IntegerField()


class StatsOut(serializers.Serializer):
    paper_days = serializers.CharField(help_text=DEC)
    paper_since = serializers.CharField(allow_null=True)
    closed_trades = serializers.IntegerField()
    win_rate_pct = serializers.CharField(allow_null=True, help_text=DEC)
    profit_pct = serializers.CharField(allow_null=True, help_text=DEC)
    equity = serializers.CharField(allow_null=True, help_text=DEC)
    starting_balance = serializers.CharField(allow_null=True, help_text=DEC)
    max_drawdown_pct = serializers.CharField(allow_null=True, help_text=DEC)
    fees_paid = serializers.CharField(allow_null=True, help_text=DEC)
    breaker_halts = serializers.IntegerField()
    exchange_free_balance = serializers.CharField(allow_null=True, required=False, help_text=DEC)
    criteria = CriterionOut(many=True)
    taken_at = serializers.CharField()


# the limits that will apply live, one field per limit of risk.checks.LIMIT_FIELDS (decimal strings, null = none)
LimitsOut = type("LimitsOut", (serializers.Serializer,),
                 {name: serializers.CharField(allow_null=True) for name in LIMIT_FIELDS})


class PromotionKeyOut(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    exchange = serializers.CharField()


class PromotionOut(serializers.Serializer):
    id = serializers.IntegerField()
    bot_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=PromotionRequest.Status.choices)
    allocation = PlainDecimalField(help_text="Live allocation in the quote currency, " + DEC)
    quote_currency = serializers.CharField()
    key = PromotionKeyOut(allow_null=True, help_text="The key live orders will be signed with (label only, never a secret)")
    stats = StatsOut(help_text="The paper record frozen when the request was made")
    limits = LimitsOut(help_text="The risk limits that apply live")
    require_approval = serializers.BooleanField()
    attempts_left = serializers.IntegerField()
    confirm_with = serializers.SerializerMethodField(help_text="phrase or totp")
    phrase = serializers.SerializerMethodField(help_text="The exact phrase to type when confirming by phrase")
    expires_at = serializers.DateTimeField()
    confirmed_at = serializers.DateTimeField(allow_null=True)
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)
    decided_at = serializers.DateTimeField(allow_null=True)
    note = serializers.CharField()
    activated_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    ended_reason = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_confirm_with(self, obj) -> str:
        return "totp" if obj.requested_by.totp_enabled else "phrase"

    def get_phrase(self, obj) -> str:
        return CONFIRM_PHRASE


class PromotionStaffOut(PromotionOut):
    bot_name = serializers.CharField(source="bot.name")
    owner = serializers.CharField(source="bot.owner.username")
    exchange = serializers.CharField(source="bot.exchange")
    symbol = serializers.CharField(source="bot.symbol")
    requested_by = serializers.CharField(source="requested_by.username")


class PromotionStateOut(serializers.Serializer):
    bot_id = serializers.IntegerField()
    mode = serializers.CharField()
    live = serializers.BooleanField()
    live_trading_enabled = serializers.BooleanField()
    eligible = serializers.BooleanField()
    criteria = CriterionOut(many=True)
    policy = PromotionPolicyOut()
    confirm_with = serializers.CharField(help_text="phrase or totp (when the user has TOTP on)")
    phrase = serializers.CharField()
    promotion = PromotionOut(allow_null=True, help_text="The open request, else the latest one")


class PromotionIn(serializers.Serializer):
    allocation = serializers.DecimalField(max_digits=38, decimal_places=18, min_value=Decimal("1e-18"),
                                          help_text="Live allocation in the quote currency, at most the exchange "
                                                    "balance, e.g. \"500\"")


class StrictCharField(serializers.CharField):
    """Text only: a number is not silently turned into a phrase (and a wrong attempt)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ConfirmIn(serializers.Serializer):
    phrase = StrictCharField(required=False, allow_blank=True, max_length=100, trim_whitespace=False,
                                   help_text=f"Exactly “{CONFIRM_PHRASE}”")
    totp = serializers.RegexField(r"^\d{6}$", required=False, max_length=6,
                                  error_messages={"invalid": "A 6-digit code."},
                                  help_text="A 6-digit code (required instead of the phrase when TOTP is on)")

    def validate(self, attrs):
        if attrs.get("phrase") in (None, "") and not attrs.get("totp"):
            raise serializers.ValidationError({"phrase": f"Type “{CONFIRM_PHRASE}”, or give a TOTP code."})
        return attrs


class DecisionIn(serializers.Serializer):
    note = StrictCharField(required=False, allow_blank=True, max_length=500, default="")


class StaffListIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=[("pending", "pending (= pending_approval)"),
                                              *PromotionRequest.Status.choices], required=False,
                                     help_text="pending = waiting for a staff decision (pending_approval)")

    def validate_status(self, value):
        return PromotionRequest.Status.PENDING_APPROVAL if value == "pending" else value


class NotCancelledOut(serializers.Serializer):
    order = serializers.CharField()
    reason = serializers.CharField()


class DemoteOut(serializers.Serializer):
    bot_id = serializers.IntegerField()
    mode = serializers.CharField()
    was_live = serializers.BooleanField()
    promotion = PromotionOut(allow_null=True)
    cancelled = serializers.ListField(child=serializers.CharField(), help_text="Live orders cancelled on the exchange")
    not_cancelled = NotCancelledOut(many=True, help_text="Live orders that could not be cancelled, and why")
    position_base = serializers.CharField(help_text="The position is kept, " + DEC)


def _bot(request, pk: int):
    return get_object_or_404(bots_for(request.user), pk=pk)


def _state(request, bot) -> dict:
    eligibility, _record, _perf = promotion_eligibility(bot=bot)
    return {"bot_id": bot.pk, "mode": bot.mode, "live": bot.mode == "live",
            "live_trading_enabled": bool(settings.ENABLE_LIVE_TRADING), "eligible": eligibility.eligible,
            "criteria": eligibility.criteria, "policy": promotion_policy(),
            "confirm_with": "totp" if request.user.totp_enabled else "phrase", "phrase": CONFIRM_PHRASE,
            "promotion": promotion_current(bot=bot)}


class BotPromotionApi(APIView):
    @extend_schema(responses={200: PromotionStateOut},
                   description="Eligibility (every criterion with required, actual, passed) and the current request.")
    def get(self, request, pk: int):
        return Response(PromotionStateOut(_state(request, _bot(request, pk))).data)

    @extend_schema(request=PromotionIn, responses={201: PromotionOut},
                   description="Request promotion to live. 409 with every failing criterion when not eligible, "
                               "403 live_disabled when live trading is off. Answers with the review.")
    def post(self, request, pk: int):
        bot = _bot(request, pk)
        data = PromotionIn(data=request.data)
        data.is_valid(raise_exception=True)
        promotion = promotion_request(bot=bot, actor=request.user, request=request, **data.validated_data)
        return Response(PromotionOut(promotion).data, status=status.HTTP_201_CREATED)


class BotPromotionConfirmApi(APIView):
    @extend_schema(request=ConfirmIn, responses={200: PromotionOut},
                   description=f"The second confirmation: {{\"phrase\": \"{CONFIRM_PHRASE}\"}}, or {{\"totp\": "
                               f"\"123456\"}} when TOTP is on. Wrong -> 400 with the attempts left; five wrong "
                               f"cancel the request.")
    def post(self, request, pk: int):
        bot = _bot(request, pk)
        data = ConfirmIn(data=request.data)
        data.is_valid(raise_exception=True)
        promotion = promotion_confirm(bot=bot, actor=request.user, request=request, **data.validated_data)
        return Response(PromotionOut(promotion).data)


class BotDemoteApi(APIView):
    @extend_schema(request=None, responses={200: DemoteOut},
                   description="Back to paper at any time (a pending request is cancelled). The position is kept.")
    def post(self, request, pk: int):
        result = promotion_demote(bot=_bot(request, pk), actor=request.user, request=request)
        base = Bot.objects.values_list("base", flat=True).get(pk=result.bot.pk)
        return Response(DemoteOut({"bot_id": result.bot.pk, "mode": result.bot.mode, "was_live": result.was_live,
                                   "promotion": result.promotion, "cancelled": result.orders.cancelled,
                                   "not_cancelled": result.orders.failed, "position_base": _plain(base)}).data)


def _staff_only(request) -> None:
    if not can_approve_promotions(request.user):
        raise PromotionForbidden("Only staff with the approve-promotion permission see and decide promotions.")


STAFF_LIST_MAX = 200


class PromotionsApi(APIView):
    @extend_schema(parameters=[StaffListIn], responses={200: PromotionStaffOut(many=True)},
                   description="Staff with the approve-promotion permission: the newest 200 requests, e.g. "
                               "?status=pending_approval.")
    def get(self, request):
        _staff_only(request)
        data = StaffListIn(data=query_data(request))
        data.is_valid(raise_exception=True)
        promotions_expire_due()
        rows = promotions_for_staff(status=data.validated_data.get("status"))[:STAFF_LIST_MAX]
        return Response(PromotionStaffOut(rows, many=True).data)


def _decide(request, pk: int, service):
    _staff_only(request)
    data = DecisionIn(data=request.data)
    data.is_valid(raise_exception=True)
    promotion = get_object_or_404(promotions_for_staff(), pk=pk)
    promotion = service(promotion=promotion, actor=request.user, request=request, note=data.validated_data["note"])
    return Response(PromotionStaffOut(promotion).data)


class PromotionApproveApi(APIView):
    @extend_schema(request=DecisionIn, responses={200: PromotionStaffOut},
                   description="Approve a confirmed request (never one's own): the bot goes live.")
    def post(self, request, pk: int):
        return _decide(request, pk, promotion_approve)


class PromotionRejectApi(APIView):
    @extend_schema(request=DecisionIn, responses={200: PromotionStaffOut},
                   description="Reject a pending request (never one's own); the owner is told.")
    def post(self, request, pk: int):
        return _decide(request, pk, promotion_reject)
