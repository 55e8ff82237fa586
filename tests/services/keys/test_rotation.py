"""`manage.py rotate_encryption_keys`: keys written under A, add B, rotate, drop A."""

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from accounts.models import AuditEvent
from config.vault import Vault
from keys.models import ExchangeKey
from keys.services import key_create, secrets_pending_count

pytestmark = pytest.mark.django_db
A, B, C = (Fernet.generate_key().decode() for _ in range(3))


def _make_keys(owner, n, prefix="k"):
    return [key_create(owner=owner, exchange="binance", label=f"{prefix}{i}", api_key=f"APIKEYplaceholder{i:04d}",
                       secret=f"SECRETplaceholder{i:04d}") for i in range(n)]


def _rotate(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("rotate_encryption_keys", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_after_rotating_to_b_the_old_key_can_be_dropped(alice, settings):
    settings.FIELD_ENCRYPTION_KEYS = [A]
    _make_keys(alice, 7)
    settings.FIELD_ENCRYPTION_KEYS = [B, A]
    assert secrets_pending_count() == 7
    out, err = _rotate("--batch-size", "3")
    assert "Rotated 7 row(s)" in out and "older keys can be dropped" in out
    assert "7/7" in err  # the progress bar reached the end
    assert secrets_pending_count() == 0
    only_b = Vault([B])
    for key in ExchangeKey.objects.order_by("label"):
        i = int(key.label[1:])
        assert only_b.decrypt(key.secret_enc) == f"SECRETplaceholder{i:04d}"
        assert only_b.decrypt(key.api_key_enc) == f"APIKEYplaceholder{i:04d}"
    assert AuditEvent.objects.get(action="keys.rotate").details["rotated"] == 7


def test_a_second_run_resumes_and_touches_nothing_already_rotated(alice, settings):
    settings.FIELD_ENCRYPTION_KEYS = [A]
    _make_keys(alice, 3)
    settings.FIELD_ENCRYPTION_KEYS = [B, A]
    _rotate("--no-progress")
    before = list(ExchangeKey.objects.order_by("pk").values_list("secret_enc", flat=True))
    out, _ = _rotate("--no-progress")
    assert "Rotated 0 row(s)" in out
    assert list(ExchangeKey.objects.order_by("pk").values_list("secret_enc", flat=True)) == before


def test_a_row_that_cannot_be_decrypted_is_reported_not_skipped(alice, settings):
    settings.FIELD_ENCRYPTION_KEYS = [A]
    good = _make_keys(alice, 2)
    settings.FIELD_ENCRYPTION_KEYS = [C]
    lost = _make_keys(alice, 1, prefix="lost")[0]  # written under a key the operator then loses
    settings.FIELD_ENCRYPTION_KEYS = [B, A]
    with pytest.raises(CommandError) as exc:
        _rotate("--no-progress")
    assert f"#{lost.pk}" in str(exc.value) and "could not be decrypted" in str(exc.value)
    assert secrets_pending_count() == 1
    for key in good:
        key.refresh_from_db()
        assert Vault([B]).decrypt(key.secret_enc).startswith("SECRETplaceholder")
