"""The SECRET_KEY rotation in docs/operations.md: with the old key in SECRET_KEY_FALLBACKS a signed-in
browser stays signed in; without it the session ends (what you want after a leak)."""

import pytest
from django.test import Client

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _signed_in(settings, alice) -> Client:
    client = Client()
    assert client.login(username=alice.username, password=PASSWORD)
    assert client.get("/api/auth/me/").status_code == 200
    return client


def test_a_rotated_secret_key_keeps_sessions_with_the_old_key_as_fallback(settings, alice):
    client = _signed_in(settings, alice)
    old = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new-" + "k" * 50, [old]
    assert client.get("/api/auth/me/").status_code == 200


def test_a_rotated_secret_key_without_fallback_ends_every_session(settings, alice):
    client = _signed_in(settings, alice)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new-" + "k" * 50, []
    assert client.get("/api/auth/me/").status_code in (401, 403)



@pytest.mark.django_db(transaction=True)  # the processes below read alice from the database
def test_a_rotated_jwt_signing_key_ends_every_api_token(alice, settings):
    """docs/operations.md: after JWT_SIGNING_KEY changes (the processes restart with it), a token signed with
    the old key is refused and one signed with the new key is accepted. The key is read once per process,
    so each side is a process of its own, as after the restart."""
    import os
    import subprocess
    import sys

    from tests.deploy.test_nginx import ROOT

    script = ("import django; django.setup()\n"
              "import sys\n"
              "from rest_framework_simplejwt.tokens import AccessToken\n"
              "from accounts.models import User\n"
              "if sys.argv[1] == 'issue':\n"
              "    from accounts.tokens import refresh_for\n"
              "    print(refresh_for(User.objects.get(username=sys.argv[2])).access_token)\n"
              "else:\n"
              "    try:\n"
              "        AccessToken(sys.argv[2]); print('accepted')\n"
              "    except Exception as exc:\n"
              "        print('refused', type(exc).__name__)\n")
    db = settings.DATABASES["default"]
    base = {**os.environ, "ENV_FILE": "/dev/null", "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"}

    def run(key: str, *args: str) -> str:
        out = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, capture_output=True, text=True,
                             env={**base, "JWT_SIGNING_KEY": key}, timeout=60)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout.strip().splitlines()[-1]

    old_key, new_key = "old-signing-" + "a" * 40, "new-signing-" + "b" * 40
    token = run(old_key, "issue", alice.username)
    assert run(old_key, "check", token) == "accepted"
    assert run(new_key, "check", token).startswith("refused")
    assert run(new_key, "check", run(new_key, "issue", alice.username)) == "accepted"
