"""A person adds a DingTalk robot, sends a test that really reaches the (stand-in) robot, and reads the
delivery log — in a real browser."""

import pytest
from playwright.sync_api import expect

from notifications.models import Channel
from tests.notifications.dingtalk_standin import SECRET, TOKEN, DingTalkStandIn


@pytest.fixture
def robot(settings):
    settings.NOTIFICATION_ALLOWED_HOSTS = ["127.0.0.1"]  # the stand-in lives on loopback
    settings.DASHBOARD_PUBLIC_URL = "https://trade.example.com"
    server = DingTalkStandIn().start()
    yield server
    server.stop()


def _add_channel(page, robot, *, name, secret):
    page.goto("/notifications/")
    expect(page.get_by_role("heading", name="Notifications")).to_be_visible()
    expect(page.get_by_test_id("no-channels")).to_be_visible()
    page.get_by_label("Kind").select_option("dingtalk")
    page.get_by_label("Name").fill(name)
    page.get_by_label("DingTalk webhook URL").fill(robot.url)
    page.get_by_label("DingTalk signing secret").fill(secret)
    expect(page.get_by_label("Apprise URL")).to_be_hidden()
    page.get_by_role("button", name="Save channel").click()
    expect(page.get_by_text(f"Saved channel “{name}”")).to_be_visible()
    return page.get_by_test_id("channel-row").filter(has_text=name)


def test_add_a_dingtalk_channel_send_a_test_and_see_the_delivery_log(page, login, alice, robot):
    login(page, alice)
    row = _add_channel(page, robot, name="Trading desk", secret=SECRET)
    expect(row.get_by_test_id("channel-mask")).to_have_text(
        f"http://127.0.0.1:{robot.port}/robot/send?access_token=…{TOKEN[-4:]}")
    assert TOKEN not in page.content() and SECRET not in page.content()

    row.get_by_role("button", name="Send test").click()
    expect(page.get_by_text("Trading desk: Delivered: DingTalk accepted the test message.")).to_be_visible()
    assert len(robot.received) == 1  # the click really reached the robot
    card = robot.received[0]["actionCard"]
    assert card["title"] == "Test message" and card["singleURL"] == "https://trade.example.com/notifications/"

    log_row = page.get_by_test_id("delivery-log").get_by_test_id("log-row").first
    expect(log_row).to_contain_text("Test message")
    expect(log_row).to_contain_text("Trading desk")
    expect(log_row.get_by_test_id("log-outcome")).to_contain_text("Delivered")
    expect(page.get_by_test_id("channel-row").get_by_test_id("channel-test-result")).to_contain_text("OK")
    assert page.js_errors == []


def test_a_wrong_secret_shows_a_signature_problem_and_disables_the_channel(page, login, alice, robot):
    login(page, alice)
    row = _add_channel(page, robot, name="Typo", secret="SECwrong0secret0000000000000")
    row.get_by_role("button", name="Send test").click()
    expect(page.get_by_text("Typo: Not delivered: bad signature")).to_be_visible()
    expect(page.get_by_test_id("channel-disabled")).to_be_visible()
    log_row = page.get_by_test_id("log-row").first
    expect(log_row.get_by_test_id("log-outcome")).to_contain_text("Failed")
    expect(log_row.get_by_test_id("log-reason")).to_contain_text("bad signature")
    assert robot.received == [] and len(robot.requests) == 1
    assert Channel.objects.get().is_active is False


@pytest.mark.parametrize("viewport", [{"width": 390, "height": 844}, {"width": 1280, "height": 800}],
                         ids=["phone", "desktop"])
def test_the_webhook_is_plain_while_typing_and_masked_once_saved(page, login, alice, robot, viewport):
    page.set_viewport_size(viewport)
    login(page, alice)
    page.goto("/notifications/")
    webhook = page.get_by_label("DingTalk webhook URL")
    assert webhook.get_attribute("type") == "text"  # a person sees what they pasted
    webhook.fill(robot.url)
    expect(webhook).to_have_value(robot.url)
    assert page.get_by_label("DingTalk signing secret").get_attribute("type") == "password"

    # a refused save: the error beside the field, and the token is not written back into the page
    page.get_by_label("Name").fill("Desk")
    page.get_by_label("DingTalk signing secret").fill("not-a-secret")
    page.get_by_role("button", name="Save channel").click()
    expect(page.get_by_text("The robot's signing secret starts with SEC")).to_be_visible()
    assert TOKEN not in page.content()

    page.get_by_label("Name").fill("Desk")
    page.get_by_label("DingTalk webhook URL").fill(robot.url)
    page.get_by_label("DingTalk signing secret").fill(SECRET)
    page.get_by_role("button", name="Save channel").click()
    masked = f"http://127.0.0.1:{robot.port}/robot/send?access_token=…{TOKEN[-4:]}"
    expect(page.get_by_test_id("channel-row").get_by_test_id("channel-mask")).to_have_text(masked)
    expect(page.get_by_text(f"Saved channel “Desk”: {masked}")).to_be_visible()
    expect(page.get_by_label("DingTalk webhook URL")).to_have_value("")  # the form is empty again
    assert TOKEN not in page.content() and SECRET not in page.content()
    expect(page.get_by_test_id("channel-digest")).to_have_text("fills: a digest every 15 min")
    assert page.js_errors == []
