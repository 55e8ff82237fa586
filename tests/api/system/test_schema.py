import pytest

pytestmark = pytest.mark.django_db

AUTH_PATHS = ["/api/auth/register/", "/api/auth/login/", "/api/auth/refresh/", "/api/auth/logout/",
              "/api/auth/me/", "/api/health/", "/api/health/ping/"]


def test_the_openapi_schema_covers_every_endpoint_with_shapes(anon):
    r = anon.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert r.status_code == 200
    schema = r.json()
    assert schema["openapi"].startswith("3.")
    for path in AUTH_PATHS:
        assert path in schema["paths"], path
    login = schema["paths"]["/api/auth/login/"]["post"]
    assert "requestBody" in login and "200" in login["responses"]
    pair = schema["components"]["schemas"]["TokenPairOut"]["properties"]
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in"}


def test_the_docs_page_is_served_without_a_cdn(anon):
    r = anon.get("/api/docs/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "swagger-ui" in html and "cdn.jsdelivr" not in html


def test_the_docs_list_the_bearer_scheme_first_and_say_how_to_get_a_token(anon):
    schema = anon.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    schemes = schema["components"]["securitySchemes"]
    assert list(schemes)[0] == "bearerAuth"  # the docs page's Authorize dialog shows them in this order
    assert schemes["bearerAuth"]["type"] == "http" and schemes["bearerAuth"]["scheme"] == "bearer"
    assert "/api/auth/login/" in schemes["bearerAuth"]["description"]
    assert "bearer" in schemes["sessionCookie"]["description"]
    me = schema["paths"]["/api/auth/me/"]["get"]["security"]
    assert list(me[0]) == ["bearerAuth"]
    described = schema["info"]["description"]
    for words in ("POST /api/auth/login/", "access_token", "Authorization: Bearer", "/api/auth/refresh/",
                  "/api/auth/login/totp/", "Authorize"):
        assert words in described, words
