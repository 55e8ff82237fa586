"""A local stand-in for DingTalk's custom-robot endpoint (POST /robot/send), strict as DingTalk documents it.

- `access_token` must be the robot's token, else errcode 300001 "token is not exist".
- With a signing secret: `timestamp` (ms) within one hour of now and
  `sign` == base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")) after ONE round of URL decoding
  (a '+' left raw decodes to a space and fails; a sign encoded twice fails), else errcode 310000
  "sign not match" / "invalid timestamp".
- With a keyword: the message must contain it, else 310000 "keywords not in content".
- The body must be JSON with a known msgtype and its fields (ActionCard: title, text and either
  singleTitle+singleURL or btns), else errcode 40035.
- More than 20 messages a minute per robot: errcode 130101 "send too fast, exceed 20 times per minute".

Modes for fault tests: "ok", "fail" (HTTP 503), "slow" (answers after `delay` seconds),
"throttle" (always 130101), "redirect" (302 to `redirect_to`), "ip_blocked" (310000: this IP is not on the
robot's allow-list). `wording` "zh" answers 310000 in DingTalk's current Chinese, "en" (default) in English.
"""

import base64
import contextlib
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TOKEN = "standin0token0placeholder0a1b2c3d4e5f"
SECRET = "SECstandin0secret0placeholder0000000000000000000000000000000000"

_SCHEMA_ERROR = {"errcode": 40035, "errmsg": "缺少参数 json"}

# errcode 310000 answers as DingTalk words them: "zh" is today's labelled Chinese, "en" the older English.
_LINK = "link:请参考本接口对应文档获得具体要求，或者在https://open.dingtalk.com/document/  搜索相关文档;"
SECURITY_ANSWERS = {
    "zh": {
        "sign": "description:机器人发送签名不匹配;solution:请确认签名和生成签名的时间戳必须都放在调用的网址中，"
                "请确认机器人的密钥加密和填写正确;" + _LINK,
        "timestamp": "description:机器人发送签名过期;solution:请确认签名和生成签名的时间戳必须都放在调用的网址中，"
                     "并且时间戳与请求调用时间误差不能超过1小时;" + _LINK,
        "keyword": "description:关键词不匹配;solution:请联系群管理员查看此机器人的关键词，并在发送的信息中包含此关键词;"
                   + _LINK,
        "ip": "description:ip地址不在白名单;solution:请联系群管理员查看此机器人的IP白名单;" + _LINK,
    },
    "en": {
        "sign": "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
        "timestamp": "invalid timestamp, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
        "keyword": "keywords not in content, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
        "ip": "ip 203.0.113.7 not in whitelist, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
    },
}


def expected_sign(secret: str, timestamp: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _schema_ok(body) -> bool:
    if not isinstance(body, dict):
        return False
    kind = body.get("msgtype")

    def text(d, *keys):
        return isinstance(d, dict) and all(isinstance(d.get(k), str) and d.get(k) for k in keys)

    if kind == "text":
        return text(body.get("text"), "content")
    if kind == "markdown":
        return text(body.get("markdown"), "title", "text")
    if kind == "link":
        return text(body.get("link"), "title", "text", "messageUrl")
    if kind == "actionCard":
        card = body.get("actionCard")
        if not text(card, "title", "text"):
            return False
        if card.get("btnOrientation", "0") not in ("0", "1"):
            return False
        if "singleURL" in card or "singleTitle" in card:
            return text(card, "singleTitle", "singleURL")
        btns = card.get("btns")
        return isinstance(btns, list) and bool(btns) and all(text(b, "title", "actionURL") for b in btns)
    return False


class DingTalkStandIn:
    def __init__(self, *, token: str = TOKEN, secret: str | None = SECRET, keyword: str | None = None,
                 per_minute: int = 20, clock=time.time, wording: str = "en"):
        self.token, self.secret, self.keyword, self.per_minute, self.clock = token, secret, keyword, per_minute, clock
        self.wording = wording
        self.mode = "ok"
        self.delay = 6.0
        self.redirect_to = ""
        self.received: list[dict] = []  # accepted messages
        self.requests: list[dict] = []  # every request: path, query, answer
        self._accepted_at: list[float] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle ---
    def start(self) -> "DingTalkStandIn":
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                standin._handle(self)

            def do_GET(self):
                standin._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True, name="dingtalk-standin").start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/robot/send?access_token={self.token}"

    # --- protocol ---
    def _answer(self, handler, status: int, body: dict | None = None, headers: dict | None = None) -> None:
        raw = json.dumps(body or {}, ensure_ascii=False).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json;charset=utf-8")
        handler.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            handler.send_header(k, v)
        handler.end_headers()
        handler.wfile.write(raw)

    def _handle(self, handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query, keep_blank_values=True)  # one round of URL decoding, '+' -> ' '
        record = {"path": parts.path, "raw_query": parts.query, "query": query, "answer": None}
        with self._lock:
            self.requests.append(record)
        if self.mode == "slow":
            time.sleep(self.delay)
        status, body, headers = self._decide(handler, parts.path, query, raw)
        record["answer"] = body if body is not None else {"http": status}
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            self._answer(handler, status, body, headers)

    def _security(self, what: str) -> dict:
        return {"errcode": 310000, "errmsg": SECURITY_ANSWERS[self.wording][what]}

    def _decide(self, handler, path, query, raw):
        if self.mode == "fail":
            return 503, {"errcode": -1, "errmsg": "系统繁忙"}, None
        if self.mode == "redirect":
            return 302, None, {"Location": self.redirect_to}
        if handler.command != "POST" or path != "/robot/send":
            return 404, {"errcode": 404, "errmsg": "请求的URI地址不存在"}, None
        if query.get("access_token", [""])[0] != self.token:
            return 200, {"errcode": 300001, "errmsg": "token is not exist"}, None
        if self.mode == "ip_blocked":
            return 200, self._security("ip"), None
        if self.secret:
            ts = query.get("timestamp", [""])[0]
            sign = query.get("sign", [""])[0]
            if not ts and not sign:  # a robot that signs, called without a signature
                return 200, self._security("sign"), None
            if not ts.isdigit() or abs(self.clock() * 1000 - int(ts)) > 3600 * 1000:
                return 200, self._security("timestamp"), None
            if not hmac.compare_digest(sign, expected_sign(self.secret, ts)):
                return 200, self._security("sign"), None
        if not (handler.headers.get("Content-Type") or "").startswith("application/json"):
            return 200, _SCHEMA_ERROR, None
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return 200, _SCHEMA_ERROR, None
        if not _schema_ok(body):
            return 200, _SCHEMA_ERROR, None
        if self.keyword and self.keyword not in json.dumps(body, ensure_ascii=False):
            return 200, self._security("keyword"), None
        with self._lock:
            now = self.clock()
            self._accepted_at = [t for t in self._accepted_at if now - t < 60]
            if self.mode == "throttle" or len(self._accepted_at) >= self.per_minute:
                return 200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}, None
            self._accepted_at.append(now)
            self.received.append(body)
        return 200, {"errcode": 0, "errmsg": "ok"}, None


class WebhookSink:
    """A plain JSON webhook target (for Apprise's json://): records hits; can fail or redirect."""

    def __init__(self):
        self.mode = "ok"
        self.redirect_to = ""
        self.hits: list[dict] = []
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> "WebhookSink":
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                sink.hits.append({"path": self.path, "body": body.decode("utf-8", "replace")})
                if sink.mode == "redirect":
                    self.send_response(302)
                    self.send_header("Location", sink.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 500 if sink.mode == "fail" else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True, name="webhook-sink").start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def port(self) -> int:
        return self._server.server_address[1]
