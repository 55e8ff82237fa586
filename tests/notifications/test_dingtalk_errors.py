"""DingTalk's 310000 answers ("the robot's security settings refused it") are told apart by their wording,
today's labelled Chinese (description:…;solution:…) and the older English alike, and the user sees what
DingTalk said. Each documented message comes from the stand-in, as DingTalk sends it, for a real cause."""

import time

import pytest

from notifications.transports.base import Message, TransportError
from notifications.transports.dingtalk import DingTalkTransport, _reason_310000, dingtalk_text
from tests.notifications.dingtalk_standin import SECURITY_ANSWERS, DingTalkStandIn

MSG = Message(title="BTC bot bought", text="0.001 BTC at 65,000 USDT")


@pytest.fixture(params=["zh", "en"])
def wording(request):
    return request.param


def _standin(wording, **kw):
    return DingTalkStandIn(wording=wording, **kw).start()


def _fails(standin, **over) -> TransportError:
    kw = {"webhook_url": standin.url, "secret": standin.secret or "", "allowed_hosts": ["127.0.0.1"], **over}
    with pytest.raises(TransportError) as exc:
        DingTalkTransport(**kw).send(MSG)
    assert exc.value.errcode == 310000 and standin.received == []
    return exc.value


SAID = {"zh": {"sign": "机器人发送签名不匹配", "timestamp": "机器人发送签名过期", "keyword": "关键词不匹配",
               "ip": "ip地址不在白名单"},
        "en": {"sign": "sign not match", "timestamp": "invalid timestamp", "keyword": "keywords not in content",
               "ip": "ip 203.0.113.7 not in whitelist"}}


def test_a_wrong_signing_secret_is_a_bad_signature(wording):
    standin = _standin(wording)
    try:
        err = _fails(standin, secret="SECwrong0secret0000000000")
    finally:
        standin.stop()
    assert err.reason.startswith("bad signature") and err.permanent
    assert f"DingTalk said: {SAID[wording]['sign']}" in err.reason
    assert "IP" not in err.reason and "clock" not in err.reason


def test_an_expired_timestamp_is_a_clock_problem_and_retried(wording):
    standin = _standin(wording)
    try:
        err = _fails(standin, clock=lambda: time.time() - 3601)
    finally:
        standin.stop()
    assert err.reason.startswith("rejected timestamp") and "clock" in err.reason and not err.permanent
    assert SAID[wording]["timestamp"] in err.reason


def test_a_missing_keyword_is_a_keyword_mismatch(wording):
    standin = _standin(wording, secret=None, keyword="ALERT-KW")
    try:
        err = _fails(standin)
    finally:
        standin.stop()
    assert err.reason.startswith("keyword mismatch") and err.permanent
    assert SAID[wording]["keyword"] in err.reason


def test_an_ip_outside_the_allow_list_is_named_as_such(wording):
    standin = _standin(wording)
    standin.mode = "ip_blocked"
    try:
        err = _fails(standin)
    finally:
        standin.stop()
    assert err.reason.startswith("IP not allowed") and err.permanent
    assert SAID[wording]["ip"] in err.reason


@pytest.mark.parametrize("what", ["sign", "timestamp", "keyword"])
def test_the_letters_ip_inside_description_never_make_it_an_ip_problem(what):
    reason, _ = _reason_310000(SECURITY_ANSWERS["zh"][what])
    assert not reason.startswith("IP not allowed"), reason


def test_what_dingtalk_said_is_shown_without_its_links():
    said = dingtalk_text(SECURITY_ANSWERS["zh"]["keyword"])
    assert said.startswith("关键词不匹配") and "http" not in said and "link" not in said
    assert dingtalk_text(SECURITY_ANSWERS["en"]["sign"]) == "sign not match"
    assert len(dingtalk_text("description:" + "很长" * 200)) <= 100


def test_an_unknown_security_refusal_still_shows_dingtalk_s_words():
    reason, permanent = _reason_310000("description:消息校验未通过;solution:请联系管理员;")
    assert reason.startswith("the robot's security settings rejected the message") and permanent
    assert "消息校验未通过" in reason


@pytest.mark.django_db
def test_the_user_sees_dingtalk_s_own_words_when_testing_and_on_the_disabled_channel(api, alice, allow_local):
    standin = _standin("zh")
    try:
        created = api(alice).post("/api/notifications/channels/", {
            "kind": "dingtalk", "name": "desk", "webhook_url": standin.url,
            "secret": "SECwrong0secret000000000000"}, format="json")
        assert created.status_code == 201, created.content
        r = api(alice).post(f"/api/notifications/channels/{created.json()['id']}/test/")
    finally:
        standin.stop()
    assert r.status_code == 502
    message = r.json()["message"]
    assert message.startswith("Not delivered: bad signature") and "DingTalk said: 机器人发送签名不匹配" in message
    channel = api(alice).get(f"/api/notifications/channels/{created.json()['id']}/").json()
    assert channel["is_active"] is False and "机器人发送签名不匹配" in channel["disabled_reason"]
