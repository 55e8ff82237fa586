"""`manage.py rotate_encryption_keys` covers channel URLs and secrets too; channels keep working after it."""

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from config.vault import Vault
from notifications.models import Channel
from notifications.services import channel_create, channel_test
from tests.notifications.dingtalk_standin import SECRET

pytestmark = pytest.mark.django_db
A, B = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_channel_secrets_rotate_to_the_new_key_and_still_send(alice, standin, sink, allow_local, settings):
    settings.FIELD_ENCRYPTION_KEYS = [A]
    dingtalk = channel_create(owner=alice, kind="dingtalk", name="desk", webhook_url=standin.url, secret=SECRET)
    apprise_url = f"json://127.0.0.1:{sink.port}/hook"
    channel_create(owner=alice, kind="apprise", name="hook", apprise_url=apprise_url)
    settings.FIELD_ENCRYPTION_KEYS = [B, A]
    call_command("rotate_encryption_keys", "--no-progress", stdout=io.StringIO(), stderr=io.StringIO())
    only_b = Vault([B])
    rows = {c.name: c for c in Channel.objects.all()}
    assert only_b.decrypt(rows["desk"].secret_enc) == SECRET
    assert only_b.decrypt(rows["desk"].webhook_url_enc) == standin.url
    assert only_b.decrypt(rows["hook"].apprise_url_enc) == apprise_url
    assert rows["hook"].secret_enc == "" and rows["hook"].enc_key_id == only_b.primary_id
    settings.FIELD_ENCRYPTION_KEYS = [B]  # the old key is dropped
    assert channel_test(channel=dingtalk, actor=alice)["ok"] is True
    assert len(standin.received) == 1
