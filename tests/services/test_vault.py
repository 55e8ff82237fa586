"""The vault itself: no database."""

import pytest
from cryptography.fernet import Fernet

from config.vault import CryptoConfigError, InvalidToken, Vault


def test_it_round_trips_and_never_stores_plaintext():
    v = Vault([Fernet.generate_key().decode()])
    token = v.encrypt("my-secret-value")
    assert "my-secret-value" not in token
    assert v.decrypt(token) == "my-secret-value"


def test_old_tokens_open_after_a_new_key_is_put_first_and_rotate_moves_them():
    a, b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    old = Vault([a]).encrypt("s3cret")
    both = Vault([b, a])
    assert both.decrypt(old) == "s3cret"
    rotated = both.rotate(old)
    assert Vault([b]).decrypt(rotated) == "s3cret"
    with pytest.raises(InvalidToken):
        Vault([a]).decrypt(rotated)


def test_the_fingerprint_names_the_newest_key_without_revealing_it():
    a, b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    assert Vault([a, b]).primary_id == Vault([a]).primary_id != Vault([b, a]).primary_id
    assert Vault([a]).primary_id not in a


@pytest.mark.parametrize("keys, message", [([], "is empty"), (["not-a-key"], "#1 is not a valid Fernet key"),
                                           ([Fernet.generate_key().decode(), "x"], "#2 is not a valid")])
def test_bad_configuration_fails_with_a_clear_message(keys, message):
    with pytest.raises(CryptoConfigError, match=message):
        Vault(keys)


def test_the_configured_vault_comes_from_the_settings(settings):
    from django.core.exceptions import ImproperlyConfigured

    from config.vault import vault

    a, b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [a]
    token = vault().encrypt("x")
    settings.FIELD_ENCRYPTION_KEYS = [b, a]  # a new key in front: old tokens still open, new ones use it
    assert vault().decrypt(token) == "x" and vault().primary_id == Vault([b]).primary_id
    settings.DEBUG, settings.FIELD_ENCRYPTION_KEYS = False, []
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS is empty"):
        vault()
    settings.DEBUG = True  # development only: a key derived from SECRET_KEY
    assert vault().decrypt(vault().encrypt("y")) == "y"
