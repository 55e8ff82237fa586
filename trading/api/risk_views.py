from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from config.api import NotFound, Pagination, StrictBooleanField, TextField, query_data
from risk import services
from risk.limits import effective_limits, platform_policy
from risk.models import KillSwitch, RiskEvent, RiskPolicy
from risk.selectors import feature_flags, kill_switches_for, policies_for, risk_events_all, risk_events_for
from trading.execution import safety
from trading.price_selectors import feed_health
from trading.selectors import bots_for_risk

PCT = {"max_digits": 7, "decimal_places": 3, "min_value": 0, "max_value": 100, "required": False,
       "allow_null": True}


class KillSwitchOut(serializers.ModelSerializer):
    engaged_by = serializers.CharField(source="engaged_by.username", default=None)

    class Meta:
        model = KillSwitch
        fields = ["scope", "engaged", "engaged_by", "engaged_at", "reason", "released_at"]


def _switch_json(switch: KillSwitch | None, scope: str) -> dict:
    if switch is None:
        return {"scope": scope, "engaged": False, "engaged_by": None, "engaged_at": None, "reason": "",
                "released_at": None}
    return KillSwitchOut(switch).data


def _switches_json(user: User) -> dict:
    rows = kill_switches_for(user=user)
    return {"global": _switch_json(rows["global"], "global"), "user": _switch_json(rows["user"], "user"),
            "engaged": any(s is not None and s.engaged for s in rows.values())}


class SwitchStateOut(serializers.Serializer):
    scope = serializers.CharField()
    engaged = serializers.BooleanField()
    engaged_by = serializers.CharField(allow_null=True)
    engaged_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField()
    released_at = serializers.DateTimeField(allow_null=True)


# "global" is a Python keyword, so this serializer is built with type() rather than a class body
SwitchesOut = type("SwitchesOut", (serializers.Serializer,), {
    "__module__": __name__,
    "engaged": serializers.BooleanField(help_text="Is any switch covering you engaged?"),
    "global": SwitchStateOut(),
    "user": SwitchStateOut(),
})


class SystemStatusApi(APIView):
    @extend_schema(responses={200: inline_serializer("SystemStatusOut", {
        "features": inline_serializer("FeatureFlagsOut", {"trading": serializers.BooleanField(),
                                                          "live_trading": serializers.BooleanField(),
                                                          "schedulers": serializers.BooleanField()}),
        "kill_switch": SwitchesOut(),
        "feeds": serializers.JSONField(help_text="source, healthy, exchanges [{exchange, symbols, stale, "
                                                 "stale_reasons}]"),
        "can_use_global_kill_switch": serializers.BooleanField(),
    })})
    def get(self, request):
        return Response({
            "features": feature_flags(),
            "kill_switch": _switches_json(request.user),
            "feeds": feed_health(),
            "can_use_global_kill_switch": services.can_manage_global(request.user),
        })


class EmergencyStopIn(serializers.Serializer):
    scope = serializers.ChoiceField(choices=["user", "global"], default="user")
    flatten = StrictBooleanField(default=False, help_text="Also sell open positions at market.")
    reduce_only = StrictBooleanField(default=False, help_text="Keep bots running, exits only.")
    # the server refuses both at once: documented so (OpenAPI 3.0 `not`)
    schema_extra = {"not": {"properties": {"flatten": {"enum": [True]}, "reduce_only": {"enum": [True]}},
                            "required": ["flatten", "reduce_only"]}}
    reason = TextField(max_length=200, required=False, allow_blank=True, default="")


class LiveOrderCancelledOut(serializers.Serializer):
    bot = serializers.IntegerField()
    order = serializers.CharField(help_text="our client order id")
    exchange_order_id = serializers.CharField(allow_null=True)


class LiveOrderFailedOut(serializers.Serializer):
    bot = serializers.IntegerField()
    order = serializers.CharField(help_text="our client order id")
    exchange_order_id = serializers.CharField(required=False, help_text="the exchange's id, empty if it never "
                                                                        "answered for this order")
    reason = serializers.CharField()


class EmergencyStopOut(serializers.Serializer):
    scope = serializers.CharField()
    kill_switch = SwitchStateOut()
    bots_halted = serializers.ListField(child=serializers.IntegerField())
    bots_reduce_only = serializers.ListField(child=serializers.IntegerField())
    orders_cancelled = serializers.IntegerField()
    positions_flattened = serializers.IntegerField()
    flatten_failed = serializers.DictField(child=serializers.CharField(),
                                           help_text="bot id -> why its position could not be closed")
    live_orders_pending = serializers.IntegerField(help_text="live orders that could not be cancelled on the exchange")
    live_orders_cancelled = serializers.ListField(child=LiveOrderCancelledOut(),
                                                  help_text="live orders cancelled on the exchange")
    live_orders_failed = serializers.ListField(child=LiveOrderFailedOut(),
                                               help_text="live orders that could not be cancelled, with the reason")
    elapsed_ms = serializers.FloatField()
    engaged_ms = serializers.FloatField(help_text="until the kill switch was committed: no order in scope after it")


class EmergencyStopApi(APIView):
    @extend_schema(request=EmergencyStopIn, responses={200: EmergencyStopOut})
    def post(self, request):
        data = EmergencyStopIn(data=request.data)
        data.is_valid(raise_exception=True)
        result = safety.emergency_stop(actor=request.user, request=request, **data.validated_data)
        return Response({
            "scope": result.scope,
            "kill_switch": _switch_json(result.switch, result.scope),
            "bots_halted": result.bots_halted,
            "bots_reduce_only": result.bots_reduce_only,
            "orders_cancelled": result.orders_cancelled,
            "positions_flattened": result.positions_flattened,
            "flatten_failed": {str(k): v for k, v in result.flatten_failed.items()},
            "live_orders_pending": result.live_orders_pending,
            "live_orders_cancelled": result.live_orders_cancelled,
            "live_orders_failed": result.live_orders_failed,
            "elapsed_ms": round(result.elapsed_ms, 1),
            "engaged_ms": round(result.engaged_ms, 1),
        })


class KillSwitchReleaseIn(serializers.Serializer):
    scope = serializers.ChoiceField(choices=["user", "global"], default="user")
    user_id = serializers.IntegerField(required=False, help_text="Risk officers: release another user's switch.")
    password = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False,
                                     style={"input_type": "password"})
    totp = serializers.CharField(required=False, allow_blank=True, max_length=10)


class KillSwitchApi(APIView):
    @extend_schema(responses={200: SwitchesOut})
    def get(self, request):
        return Response(_switches_json(request.user))

    @extend_schema(request=KillSwitchReleaseIn, responses={200: SwitchStateOut})
    def delete(self, request):
        data = KillSwitchReleaseIn(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        user = request.user
        if d["scope"] == "user" and d.get("user_id") not in (None, request.user.pk):
            if not services.can_halt_any_bot(request.user):
                raise NotFound("Not found.")
            user = get_object_or_404(User, pk=d["user_id"])
        switch = safety.kill_switch_release(scope=d["scope"], user=user if d["scope"] == "user" else None,
                                              actor=request.user, password=d.get("password") or None,
                                              totp=d.get("totp") or None, request=request)
        return Response(_switch_json(switch, d["scope"]))


class PolicyIn(serializers.Serializer):
    """Only tightening values are accepted; null = inherit from the level above."""

    max_position_quote = serializers.DecimalField(max_digits=38, decimal_places=8, min_value=0, required=False,
                                                  allow_null=True)
    max_position_pct = serializers.DecimalField(**PCT)
    max_open_trades = serializers.IntegerField(min_value=0, max_value=100000, required=False, allow_null=True)
    max_trades_per_day = serializers.IntegerField(min_value=0, max_value=100000, required=False, allow_null=True)
    daily_loss_pct = serializers.DecimalField(**PCT)
    max_drawdown_pct = serializers.DecimalField(**PCT)
    max_orders_per_minute = serializers.IntegerField(min_value=0, max_value=100000, required=False,
                                                     allow_null=True)
    cooldown_minutes = serializers.IntegerField(min_value=0, max_value=100000, required=False, allow_null=True)
    user_daily_loss_pct = serializers.DecimalField(**PCT)

    # documented: at least one of the limits (unknown names are ignored, so `minProperties` would not say it)
    schema_extra = {"anyOf": [{"required": [name]} for name in RiskPolicy.LIMIT_FIELDS]}

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(f"Send at least one of: {', '.join(RiskPolicy.LIMIT_FIELDS)}.")
        return attrs


def _values(policy: RiskPolicy | None) -> dict | None:
    if policy is None:
        return None
    return {name: (None if (v := getattr(policy, name)) is None else str(v) if not isinstance(v, int) else v)
            for name in RiskPolicy.LIMIT_FIELDS}


def _plain(values: dict) -> dict:
    return {k: (None if v is None else v if isinstance(v, int) else str(v)) for k, v in values.items()}


def _policy_json(user: User, bot=None) -> dict:
    rows = list(policies_for(user=user, bot=bot))
    by_scope = {r.scope: r for r in rows}
    platform = by_scope.get(RiskPolicy.PLATFORM) or platform_policy()
    effective = effective_limits(policies=[platform, *[r for r in rows if r.scope != RiskPolicy.PLATFORM]])
    out = {"platform": _values(platform), "user": _values(by_scope.get(RiskPolicy.USER)),
           "effective": _plain(effective)}
    if bot is not None:
        out["bot_id"] = bot.pk
        out["bot"] = _values(by_scope.get(RiskPolicy.BOT))
    return out


class RiskLimitsOut(serializers.Serializer):
    """Numbers as strings (decimals), null = no limit (platform) or inherit (overrides)."""

    max_position_quote = serializers.CharField(allow_null=True)
    max_position_pct = serializers.CharField(allow_null=True)
    max_open_trades = serializers.IntegerField(allow_null=True)
    max_trades_per_day = serializers.IntegerField(allow_null=True)
    daily_loss_pct = serializers.CharField(allow_null=True)
    max_drawdown_pct = serializers.CharField(allow_null=True)
    max_orders_per_minute = serializers.IntegerField(allow_null=True)
    cooldown_minutes = serializers.IntegerField(allow_null=True)
    user_daily_loss_pct = serializers.CharField(allow_null=True)


class PolicyOut(serializers.Serializer):
    platform = RiskLimitsOut()
    user = RiskLimitsOut(allow_null=True)
    effective = RiskLimitsOut()


class BotPolicyOut(PolicyOut):
    bot_id = serializers.IntegerField()
    bot = RiskLimitsOut(allow_null=True)


class UserPolicyApi(APIView):
    """Your limits: the platform's, your overrides, and what applies. PATCH tightens your overrides."""

    @extend_schema(responses={200: PolicyOut})
    def get(self, request):
        return Response(_policy_json(request.user))

    @extend_schema(request=PolicyIn, responses={200: PolicyOut})
    def patch(self, request):
        data = PolicyIn(data=request.data)
        data.is_valid(raise_exception=True)
        services.policy_tighten(actor=request.user, user=request.user, values=data.validated_data, request=request)
        return Response(_policy_json(request.user))


class BotPolicyApi(APIView):
    def _bot(self, request, pk):
        return get_object_or_404(bots_for_risk(user=request.user).filter(owner=request.user), pk=pk)

    @extend_schema(responses={200: BotPolicyOut})
    def get(self, request, pk):
        return Response(_policy_json(request.user, self._bot(request, pk)))

    @extend_schema(request=PolicyIn, responses={200: BotPolicyOut})
    def patch(self, request, pk):
        bot = self._bot(request, pk)
        data = PolicyIn(data=request.data)
        data.is_valid(raise_exception=True)
        services.policy_tighten(actor=request.user, user=request.user, bot=bot, values=data.validated_data,
                                request=request)
        return Response(_policy_json(request.user, bot))


class RiskEventOut(serializers.ModelSerializer):
    bot_name = serializers.CharField(source="bot.name", default=None, allow_null=True)  # null: user-wide events

    class Meta:
        model = RiskEvent
        fields = ["id", "created_at", "code", "severity", "message", "bot_id", "bot_name", "details"]


class RiskEventsIn(serializers.Serializer):
    bot = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1, help_text="A bot id")
    code = serializers.RegexField(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", required=False,
                                  error_messages={"invalid": "Must be a reason code like daily_loss."})
    all = serializers.BooleanField(required=False, default=False, help_text="Auditors/risk officers: every user")


class RiskEventsApi(APIView):
    pagination_class = Pagination  # documented as a page ({count, next, previous, results}), as answered

    @extend_schema(parameters=[RiskEventsIn], responses={200: RiskEventOut(many=True)})
    def get(self, request):
        data = RiskEventsIn(data=query_data(request))
        data.is_valid(raise_exception=True)
        query = data.validated_data
        everyone = query["all"] and request.user.has_perm("risk.view_riskevent")
        events = risk_events_all() if everyone else risk_events_for(user=request.user)
        if "bot" in query:
            events = events.filter(bot_id=query["bot"])
        if "code" in query:
            events = events.filter(code=query["code"])
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(RiskEventOut(page, many=True).data)


class RiskBotOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    halt_reason = serializers.CharField()
    reduce_only = serializers.BooleanField()


class BotHaltIn(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class BotHaltApi(APIView):
    @extend_schema(request=BotHaltIn, responses={200: RiskBotOut})
    def post(self, request, pk):
        bot = get_object_or_404(bots_for_risk(user=request.user), pk=pk)
        data = BotHaltIn(data=request.data)
        data.is_valid(raise_exception=True)
        reason = data.validated_data["reason"] or f"halted by {request.user.username}"
        bot = safety.bot_halt(bot=bot, actor=request.user, reason=reason, request=request)
        return Response(RiskBotOut(bot).data)


class BotResumeApi(APIView):
    @extend_schema(request=None, responses={200: RiskBotOut})
    def post(self, request, pk):
        bot = get_object_or_404(bots_for_risk(user=request.user), pk=pk)
        bot = safety.bot_resume(bot=bot, actor=request.user, request=request)
        return Response(RiskBotOut(bot).data)
