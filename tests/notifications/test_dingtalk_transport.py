"""Our DingTalk sender against the stand-in: ActionCards accepted, every errcode mapped to a clear reason."""

import time

import pytest

from notifications.transports.base import Message, TransportError
from notifications.transports.dingtalk import DingTalkTransport, payload
from tests.notifications.dingtalk_standin import DingTalkStandIn

MSG = Message(title="BTC bot halted", text="**Severity:** CRITICAL\n\n**Bot:** grid-1 (BTC/USDT)\n\nloss 5.2 %",
              severity="critical", url="https://trade.example.com/bots/7/")


def _transport(standin, **over):
    kw = {"webhook_url": standin.url, "secret": standin.secret, "allowed_hosts": ["127.0.0.1"], **over}
    return DingTalkTransport(**kw)


def _fails(standin, **over) -> TransportError:
    with pytest.raises(TransportError) as exc:
        _transport(standin, **over).send(MSG)
    return exc.value


def test_a_correct_actioncard_is_accepted_with_a_button_to_the_dashboard(standin):
    result = _transport(standin).send(MSG)
    assert (result.http_status, result.errcode) == (200, 0)
    card = standin.received[0]
    assert card["msgtype"] == "actionCard"
    assert card["actionCard"]["title"] == "BTC bot halted"
    assert card["actionCard"]["singleURL"] == "https://trade.example.com/bots/7/"
    assert "grid-1" in card["actionCard"]["text"] and "5.2 %" in card["actionCard"]["text"]


def test_without_a_dashboard_link_it_sends_markdown():
    body = payload(Message(title="t", text="x"))
    assert body == {"msgtype": "markdown", "markdown": {"title": "t", "text": "x"}}


def test_a_wrong_secret_is_a_permanent_signature_problem(standin):
    err = _fails(standin, secret="SECwrong0secret0000000000")
    assert err.permanent and err.errcode == 310000 and "bad signature" in err.reason
    assert standin.received == []


def test_a_missing_secret_on_a_signing_robot_is_a_signature_problem(standin):
    err = _fails(standin, secret="")
    assert err.permanent and "signature" in err.reason


def test_a_wrong_token_is_reported_as_an_invalid_token(standin):
    err = _fails(standin, webhook_url=standin.url.replace("access_token=", "access_token=x"))
    assert err.permanent and err.errcode == 300001 and "invalid token" in err.reason


def test_a_keyword_mismatch_is_named_as_such():
    standin = DingTalkStandIn(secret=None, keyword="ALERT-KW").start()
    try:
        err = _fails(standin, secret="")
        assert err.errcode == 310000 and "keyword" in err.reason and err.permanent
        ok = _transport(standin, secret="").send(Message(title="ALERT-KW fill", text="x"))
        assert ok.errcode == 0
    finally:
        standin.stop()


def test_too_many_messages_is_transient_and_says_so(standin):
    standin.mode = "throttle"
    err = _fails(standin)
    assert not err.permanent and err.errcode == 130101 and "too many messages" in err.reason
    assert err.retry_after == 60


def test_a_server_error_is_transient(standin):
    standin.mode = "fail"
    err = _fails(standin)
    assert not err.permanent and err.http_status == 503


def test_a_slow_dingtalk_times_out_after_5_seconds(standin):
    standin.mode, standin.delay = "slow", 7
    started = time.monotonic()
    err = _fails(standin)
    elapsed = time.monotonic() - started
    assert 4.5 < elapsed < 6.5, elapsed
    assert not err.permanent and "within 5 s" in err.reason


def test_redirects_are_never_followed(standin, sink):
    standin.mode, standin.redirect_to = "redirect", f"http://127.0.0.1:{sink.port}/steal"
    err = _fails(standin)
    assert err.permanent and "redirect" in err.reason and sink.hits == []


@pytest.mark.parametrize("url, words", [
    ("https://evil.example.com/robot/send?access_token=abc", "oapi.dingtalk.com"),
    ("http://oapi.dingtalk.com/robot/send?access_token=abc", "https://"),
    ("https://oapi.dingtalk.com/robot/send", "access_token"),
    ("https://oapi.dingtalk.com/other?access_token=abc", "/robot/send"),
])
def test_only_dingtalk_robot_urls_are_used(url, words):
    with pytest.raises(TransportError) as exc:
        DingTalkTransport(webhook_url=url, secret="SECx", allowed_hosts=[]).send(MSG)
    assert exc.value.permanent and words in exc.value.reason


def test_a_server_dripping_its_answer_is_cut_off_at_5_seconds_in_total():
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def drip():
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        while not stop.wait(1.0):  # one byte a second: each read is quick, the whole answer is not
            try:
                conn.sendall(b" ")
            except OSError:
                break
        conn.close()

    threading.Thread(target=drip, daemon=True).start()
    transport = DingTalkTransport(webhook_url=f"http://127.0.0.1:{port}/robot/send?access_token=abc",
                                  allowed_hosts=["127.0.0.1"])
    started = time.monotonic()
    try:
        with pytest.raises(TransportError) as exc:
            transport.send(MSG)
    finally:
        stop.set()
        listener.close()
    assert time.monotonic() - started < 6 and "within 5 s" in exc.value.reason
