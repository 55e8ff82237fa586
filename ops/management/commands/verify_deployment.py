"""Checks a running deployment from the outside, the way a user's browser and an attacker see it.

    manage.py verify_deployment --url https://trade.example.com [--ca-file CA.pem] [--http-url URL]

Every check prints one line (ok / FAIL with the reason); the command fails if any check fails.
It only makes HTTP(S) and WebSocket requests to the given URL: run it after each deploy, from the
server itself or from anywhere that reaches it. Set VERIFY_USERNAME / VERIFY_PASSWORD in the
environment to also sign in through the API and subscribe to live prices over the WebSocket.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name, "") or ""

    def cookies(self) -> list[str]:
        return self.headers.get_all("Set-Cookie") or []


class CheckFailed(Exception):
    pass


class Client:
    def __init__(self, base: str, context: ssl.SSLContext | None, timeout: float):
        parts = urlsplit(base)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise CommandError(f"Not a URL to check: {base!r} (expected https://host[:port])")
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.netloc = parts.netloc
        self.context, self.timeout = context, timeout

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None) -> Reply:
        if self.scheme == "https":
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self.context)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        hdrs = {"Host": self.netloc, "User-Agent": "verify_deployment", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return Reply(resp.status, resp.headers, resp.read(200_000))
        except ssl.SSLError as exc:
            raise CheckFailed(f"TLS failed: {exc.reason or exc}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise CheckFailed(f"cannot reach {self.scheme}://{self.netloc}{path}: {exc}") from None
        finally:
            conn.close()


class Command(BaseCommand):
    help = "Check a running deployment for real: HTTPS, health, headers, cookies, static files, WebSockets."

    def add_arguments(self, parser):
        parser.add_argument("--url", required=True, help="public base URL, e.g. https://trade.example.com")
        parser.add_argument("--http-url", help="plain-HTTP base URL expected to redirect to HTTPS "
                                               "(default: the same host on port 80)")
        parser.add_argument("--ca-file", help="CA bundle to trust (e.g. a private CA); default: the system's")
        parser.add_argument("--timeout", type=float, default=10.0)
        parser.add_argument("--dingtalk-test", action="store_true",
                            help="also send a test message to the operator's DingTalk robot (DINGTALK_WEBHOOK_URL)")
        parser.add_argument("--rate-limit-test", action="store_true",
                            help="also send a burst of 60 API requests and expect the proxy's 429")

    def handle(self, *args, **opts):
        base = opts["url"].rstrip("/")
        context = None
        if base.startswith("https://"):
            try:
                context = ssl.create_default_context(cafile=opts["ca_file"])
            except (OSError, ssl.SSLError) as exc:
                raise CommandError(f"Cannot read the CA file: {exc}") from None
        self.client = Client(base, context, opts["timeout"])
        self.opts = opts
        checks = [
            ("HTTPS in use", self.check_https),
            ("plain HTTP redirects to HTTPS", self.check_redirect),
            ("liveness /api/health/ping/", self.check_ping),
            ("readiness /api/health/ (database, redis, workers, beat)", self.check_health),
            ("security headers (HSTS, nosniff, frame, no server version)", self.check_headers),
            ("DEBUG is off (plain 404 page)", self.check_debug_off),
            ("static files served", self.check_static),
            ("cookies are Secure and HttpOnly", self.check_cookies),
            ("API refuses requests without a token (401 JSON)", self.check_api_auth),
            ("admin login page", self.check_admin),
            ("WebSocket upgrade reaches the app (/ws/prices/)", self.check_websocket),
            ("/metrics is not public", self.check_metrics_private),
            ("live trading state", self.check_live_trading),
        ]
        if opts["rate_limit_test"]:
            checks.append(("API rate limit answers 429 through the proxy", self.check_rate_limit))
        if opts["dingtalk_test"]:
            checks.append(("operator DingTalk robot accepts a test message", self.check_dingtalk))
        failed = 0
        for name, check in checks:
            try:
                detail = check()
            except CheckFailed as exc:
                failed += 1
                self.stdout.write(f"FAIL  {name}: {exc}")
            else:
                self.stdout.write(f"ok    {name}{f' ({detail})' if detail else ''}")
        if failed:
            raise CommandError(f"{failed} of {len(checks)} checks failed for {base}")
        self.stdout.write(self.style.SUCCESS(f"All {len(checks)} checks passed for {base}"))

    # --- checks -------------------------------------------------------------------

    def check_https(self):
        if self.client.scheme != "https":
            raise CheckFailed("the URL is not https://: production must serve over TLS")
        return ""

    def check_redirect(self):
        if self.client.scheme != "https":
            raise CheckFailed("skipped: no HTTPS URL")
        http_url = self.opts["http_url"] or f"http://{self.client.host}"
        reply = Client(http_url, None, self.opts["timeout"]).request("GET", "/login/")
        location = reply.header("Location")
        if reply.status not in (301, 302, 307, 308) or not location.startswith("https://"):
            raise CheckFailed(f"{http_url}/login/ answered {reply.status} {location!r}, not a redirect to https://")
        return f"{reply.status} -> {location}"

    def _json(self, reply: Reply) -> dict:
        try:
            return json.loads(reply.body)
        except ValueError:
            raise CheckFailed(f"expected JSON, got {reply.header('Content-Type') or 'no content type'} "
                              f"(status {reply.status})") from None

    def check_ping(self):
        reply = self.client.request("GET", "/api/health/ping/")
        if reply.status != 200 or self._json(reply).get("status") != "ok":
            raise CheckFailed(f"status {reply.status}: {reply.body[:200]!r}")
        return ""

    PLATFORM = ("database", "redis", "celery", "alerts", "beat")  # the deployment's own processes

    def check_health(self):
        """The deployment's own processes must be ok; an exchange feed or live trading's exchanges being
        degraded is reported (the platform serves meanwhile) but is not the deployment's failure."""
        reply = self.client.request("GET", "/api/health/")
        data = self._json(reply)
        checks = data.get("checks", {})
        down = [f"{k}: {v.get('error', v.get('status', 'down'))}" for k, v in checks.items()
                if k in self.PLATFORM and not v.get("ok")]
        missing = [k for k in self.PLATFORM if k not in checks]
        if reply.status != 200 or down or missing:
            raise CheckFailed(f"status {reply.status} ({data.get('status', '?')}); "
                              + "; ".join(down + [f"{k}: not reported" for k in missing]))
        detail = ", ".join(f"{k} {v.get('ms')} ms" for k, v in checks.items() if k in self.PLATFORM)
        others = [f"{k}: {v.get('error', v.get('status'))}" for k, v in checks.items()
                  if k not in self.PLATFORM and not v.get("ok")]
        return detail + (f"; degraded, not the deployment: {'; '.join(others)}" if others else "")

    def check_headers(self):
        reply = self.client.request("GET", "/login/")
        problems = []
        hsts = reply.header("Strict-Transport-Security")
        if "max-age=" not in hsts or int(hsts.split("max-age=")[1].split(";")[0] or 0) < 86400:
            problems.append(f"Strict-Transport-Security missing or short: {hsts!r}")
        if reply.header("X-Content-Type-Options").lower() != "nosniff":
            problems.append("X-Content-Type-Options: nosniff missing")
        if reply.header("X-Frame-Options").upper() not in {"DENY", "SAMEORIGIN"}:
            problems.append("X-Frame-Options missing")
        server = reply.header("Server")
        if any(ch.isdigit() for ch in server):
            problems.append(f"Server header reveals a version: {server!r}")
        if problems:
            raise CheckFailed("; ".join(problems))
        return ""

    def check_debug_off(self):
        path = f"/verify-deployment-{uuid.uuid4().hex}/"
        reply = self.client.request("GET", path)
        text = reply.body.decode(errors="replace")
        if reply.status != 404:
            raise CheckFailed(f"{path} answered {reply.status}, expected 404")
        if "DEBUG = True" in text or "URLconf defined in" in text or "Traceback" in text:
            raise CheckFailed("the 404 page shows Django's debug information: set DEBUG=false")
        return ""

    def check_static(self):
        reply = self.client.request("GET", "/static/css/app.css")
        if reply.status != 200 or "text/css" not in reply.header("Content-Type"):
            raise CheckFailed(f"/static/css/app.css answered {reply.status} {reply.header('Content-Type')!r}: "
                              "run collectstatic and check nginx's /static/ alias")
        return ""

    def check_cookies(self):
        reply = self.client.request("GET", "/login/")
        cookies = reply.cookies()
        csrf = [c for c in cookies if c.lower().startswith("csrftoken=")]
        if not csrf:
            raise CheckFailed("the login page set no CSRF cookie")
        if "secure" not in csrf[0].lower():
            raise CheckFailed("the CSRF cookie is not Secure: set HTTPS=true")
        # a session cookie appears on sign-in; a failed sign-in must not hand one out
        return "csrftoken Secure"

    def check_api_auth(self):
        reply = self.client.request("GET", "/api/auth/me/")
        data = self._json(reply)
        if reply.status != 401 or "error" not in data:
            raise CheckFailed(f"/api/auth/me/ without a token answered {reply.status}: {reply.body[:200]!r}")
        return ""

    def check_admin(self):
        reply = self.client.request("GET", "/admin/login/")
        if reply.status == 401 and reply.header("WWW-Authenticate").lower().startswith("basic"):
            return "behind HTTP basic auth (401 without the password)"
        if reply.status != 200:
            raise CheckFailed(f"/admin/login/ answered {reply.status}")
        return ""

    def check_websocket(self):
        from websockets.exceptions import InvalidHandshake, InvalidStatus
        from websockets.sync.client import connect

        scheme = "wss" if self.client.scheme == "https" else "ws"
        url = f"{scheme}://{self.client.netloc}/ws/prices/"
        kwargs = {"open_timeout": self.opts["timeout"], "close_timeout": 2, "additional_headers": {}}
        if self.client.context is not None:
            kwargs["ssl"] = self.client.context
        token = self._token()
        if token is None:
            # Unauthenticated: the app itself must refuse the handshake (403). A 404 or 400 would
            # mean the proxy did not pass the upgrade through and the request reached Django as HTTP.
            try:
                with connect(url, **kwargs):
                    raise CheckFailed("an unauthenticated WebSocket was accepted")
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status != 403:
                    raise CheckFailed(f"handshake answered {status}: the proxy does not pass WebSocket "
                                      "upgrades to the app") from None
                return "unauthenticated handshake refused by the app (403)"
            except (InvalidHandshake, OSError, TimeoutError) as exc:
                raise CheckFailed(f"WebSocket handshake failed: {exc}") from None
        kwargs["additional_headers"]["Authorization"] = f"Bearer {token}"
        try:
            with connect(url, **kwargs) as ws:
                ws.send(json.dumps({"action": "subscribe", "exchange": "binance", "symbols": ["BTC/USDT"]}))
                frame = json.loads(ws.recv(timeout=self.opts["timeout"]))
        except (InvalidHandshake, OSError, TimeoutError, ValueError) as exc:
            raise CheckFailed(f"signed-in WebSocket failed: {exc}") from None
        if frame.get("type") == "error":
            raise CheckFailed(f"subscribe answered an error: {frame.get('message')}")
        return f"signed in, first frame: {frame.get('type')}"

    def _token(self) -> str | None:
        username, password = os.environ.get("VERIFY_USERNAME"), os.environ.get("VERIFY_PASSWORD")
        if not username or not password:
            return None
        reply = self.client.request("POST", "/api/auth/login/", {"username": username, "password": password})
        data = self._json(reply)
        if reply.status != 200 or "access_token" not in data:
            raise CheckFailed(f"sign-in as {username} answered {reply.status}")
        return data["access_token"]

    def check_metrics_private(self):
        reply = self.client.request("GET", "/metrics")
        if reply.status == 200:
            raise CheckFailed("an anonymous request got the metrics: expected 403 (fine only if this host's address "
                              "is in METRICS_ALLOWED_IPS)")
        return f"{reply.status} without a staff session"

    def check_live_trading(self):
        from django.conf import settings

        trading = "bots run" if settings.ENABLE_TRADING else "bots do not run (ENABLE_TRADING=false)"
        live = ("LIVE TRADING ON (ENABLE_LIVE_TRADING=true): promoted bots place real orders"
                if settings.ENABLE_LIVE_TRADING else "live trading off (paper only)")
        return f"{trading}; {live}; {self._approval()}"

    @staticmethod
    def _approval() -> str:
        """Whether a promotion to live needs a staff member's approval: the platform policy (admin), else
        PROMOTION_REQUIRE_STAFF_APPROVAL. Read only: the check writes nothing."""
        from django.conf import settings
        from django.db import DatabaseError

        from trading.promotion.models import PromotionPolicy
        from trading.promotion.selectors import POLICY_PK

        try:
            required = (PromotionPolicy.objects.filter(pk=POLICY_PK).values_list("require_staff_approval", flat=True)
                        .first())
        except DatabaseError:
            return "staff approval unknown (this host cannot read the database)"
        if required is None:
            required = settings.PROMOTION_REQUIRE_STAFF_APPROVAL
        return ("promotions need a staff approval" if required
                else "PROMOTIONS NEED NO STAFF APPROVAL (the owner's two confirmations are enough)")

    def check_rate_limit(self):
        from concurrent.futures import ThreadPoolExecutor

        # 60 requests from 6 connections at once: well past a burst of 20 plus 10 a second, even on a slow link
        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses = list(pool.map(lambda _: self.client.request("GET", "/api/health/ping/"), range(60)))
        limited = [r for r in statuses if r.status == 429]
        if not limited:
            raise CheckFailed("60 requests at once were all let through: the proxy's API rate limit is missing")
        code = self._json(limited[0]).get("error", {}).get("code")
        if code != "rate_limited":
            raise CheckFailed(f"429 without the JSON error body (code {code!r})")
        return f"{len(limited)} of 60 answered 429"

    def check_dingtalk(self):
        from django.utils import timezone

        from notifications.services import transport_for
        from notifications.transports.base import Message, TransportError

        transport = transport_for(None)
        if transport is None:
            raise CheckFailed("DINGTALK_WEBHOOK_URL is not set: operator alerts go nowhere")
        message = Message(title="Deployment check", severity="info",
                          text=f"verify_deployment for {self.client.netloc} at {timezone.now():%Y-%m-%d %H:%M} UTC: "
                               "operator alerts reach this robot.")
        try:
            result = transport.send(message)
        except TransportError as exc:
            raise CheckFailed(f"DingTalk refused the test message: {exc.reason}") from None
        return f"delivered (HTTP {result.http_status})"
