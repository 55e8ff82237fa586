"""GET /api/health/: readiness, component by component (ops/health.py). No authentication: load balancers
and monitors call it; it shows states and ages, never a secret or a user's data."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import RETRY_AFTER_SECONDS
from ops.health import DOWN, health_report

STATUSES = ["ok", "degraded", "down"]

_Component = inline_serializer("HealthComponent", {
    "status": serializers.ChoiceField(choices=STATUSES),
    "ok": serializers.BooleanField(),
    "error": serializers.CharField(required=False),
    "ms": serializers.FloatField(required=False),
})
_Out = inline_serializer("HealthOut", {
    "status": serializers.ChoiceField(choices=STATUSES),
    "checks": serializers.DictField(child=_Component),
})


class HealthApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        summary="Every component's state: database, Redis, workers, beat, exchange feeds, live trading",
        responses={
            200: OpenApiResponse(_Out, description="ok, or degraded: the API serves (a worker, beat or an "
                                                   "exchange feed is not ok; see each component)"),
            503: OpenApiResponse(_Out, description="down: the database or Redis does not answer"),
        },
    )
    def get(self, request):
        status, checks = health_report()
        if status != DOWN:
            return Response({"status": status, "checks": checks})
        # as every other answer while PostgreSQL or Redis is down (config/errors.py): say when to ask again
        return Response({"status": status, "checks": checks}, status=503,
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
