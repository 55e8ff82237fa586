"""Signing exactly as DingTalk documents it, proven against the strict stand-in."""

import base64
import hashlib
import hmac
import json
import time
import urllib.request
from urllib.parse import quote

import pytest

from notifications.transports.base import Message, TransportError
from notifications.transports.dingtalk import DingTalkTransport, sign, signed_query
from tests.notifications.dingtalk_standin import TOKEN, DingTalkStandIn, expected_sign

CARD = {"msgtype": "actionCard", "actionCard": {"title": "t", "text": "x", "singleTitle": "Open",
                                                "singleURL": "https://trade.example.com/"}}


def _post(standin, query: str) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{standin.port}/robot/send?access_token={TOKEN}&{query}",
                                 data=json.dumps(CARD).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def _timestamp_with_plus(secret: str) -> int:
    ts = int(time.time() * 1000)
    for candidate in range(ts, ts + 10_000):
        if "+" in sign(secret, candidate):
            return candidate
    raise AssertionError("no timestamp gives a '+' in 10,000 tries")


def test_sign_is_base64_of_hmac_sha256_over_timestamp_newline_secret():
    secret, ts = "SECexample0secret", 1700000000000
    digest = hmac.new(secret.encode(), b"1700000000000\nSECexample0secret", hashlib.sha256).digest()
    assert sign(secret, ts) == base64.b64encode(digest).decode()
    assert signed_query(secret, ts) == f"timestamp={ts}&sign={quote(base64.b64encode(digest).decode(), safe='')}"


def test_a_sign_holding_plus_is_accepted_because_it_is_encoded_exactly_once(standin):
    ts = _timestamp_with_plus(standin.secret)
    raw = sign(standin.secret, ts)
    assert "+" in raw
    query = signed_query(standin.secret, ts)
    assert "%2B" in query and "+" not in query
    assert _post(standin, query) == {"errcode": 0, "errmsg": "ok"}


def test_the_stand_in_rejects_a_raw_sign_with_plus_and_a_double_encoded_sign(standin):
    ts = _timestamp_with_plus(standin.secret)
    raw = sign(standin.secret, ts)
    assert _post(standin, f"timestamp={ts}&sign={raw}")["errcode"] == 310000  # '+' read as a space
    twice = quote(quote(raw, safe=""), safe="")
    assert _post(standin, f"timestamp={ts}&sign={twice}")["errcode"] == 310000
    assert expected_sign(standin.secret, str(ts)) == raw
    assert standin.received == []


def test_the_transport_delivers_with_a_plus_sign(standin):
    # pin the sender's clock to a timestamp whose signature holds '+'
    ts = _timestamp_with_plus(standin.secret)
    transport = DingTalkTransport(webhook_url=standin.url, secret=standin.secret, allowed_hosts=["127.0.0.1"],
                                  clock=lambda: ts / 1000)
    result = transport.send(Message(title="Plus", text="**x**", url="https://trade.example.com/bots/1/"))
    assert result.errcode == 0 and len(standin.received) == 1
    assert "%2B" in standin.requests[-1]["raw_query"]


def test_a_timestamp_more_than_an_hour_off_is_rejected(standin):
    transport = DingTalkTransport(webhook_url=standin.url, secret=standin.secret, allowed_hosts=["127.0.0.1"],
                                  clock=lambda: time.time() - 3601)
    with pytest.raises(TransportError) as exc:
        transport.send(Message(title="Old", text="x"))
    assert exc.value.errcode == 310000 and "clock" in exc.value.reason and standin.received == []


def test_within_the_hour_is_fine():
    standin = DingTalkStandIn().start()
    try:
        transport = DingTalkTransport(webhook_url=standin.url, secret=standin.secret, allowed_hosts=["127.0.0.1"],
                                      clock=lambda: time.time() - 3500)
        assert transport.send(Message(title="Skewed", text="x")).errcode == 0
    finally:
        standin.stop()
