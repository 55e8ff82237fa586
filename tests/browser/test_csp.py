"""The strict Content-Security-Policy holds in a real browser: pages and the API docs run with no refusal."""

from playwright.sync_api import expect


def test_the_api_docs_render_under_the_policy(page):
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Trading platform API")
    assert page.js_errors == []


def test_an_inline_script_would_be_refused_and_reported(page, login, alice):
    login(page, alice)
    page.goto("/keys/")
    page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1';
                             document.body.append(s); }""")
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.ran") is None
    assert any("Content Security Policy" in e for e in page.js_errors), page.js_errors
