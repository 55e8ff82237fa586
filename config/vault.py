"""Secrets at rest: Fernet through MultiFernet, keys newest first (settings.FIELD_ENCRYPTION_KEYS).

The lowest layer, so every app that keeps a secret (accounts' TOTP devices, keys' exchange
credentials, notifications' channel URLs) uses the same vault without importing another app.
`Vault` is plain Python; `vault()` builds it from the settings. `manage.py rotate_encryption_keys`
re-encrypts every model that declares `ENCRYPTED_FIELDS`.
"""

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ["CryptoConfigError", "InvalidToken", "Vault", "vault"]


class CryptoConfigError(Exception):
    """The configured keys are missing or malformed."""


class Vault:
    """Encrypts under the newest key; decrypts with any configured key."""

    def __init__(self, keys: list[str]):
        keys = [k.strip() for k in keys if k and k.strip()]
        if not keys:
            raise CryptoConfigError(
                "FIELD_ENCRYPTION_KEYS is empty: set it to one or more Fernet keys, newest first "
                '(generate one with: python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())").'
            )
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.encode()))
            except (ValueError, TypeError):
                raise CryptoConfigError(
                    f"FIELD_ENCRYPTION_KEYS entry #{position} is not a valid Fernet key "
                    "(32 url-safe base64-encoded bytes)."
                ) from None
        self._multi = MultiFernet(fernets)
        self._primary = Fernet(keys[0].encode())
        # A short, non-secret fingerprint of the newest key: which rows still need rotation.
        self.primary_id = hashlib.sha256(keys[0].encode()).hexdigest()[:12]

    def encrypt(self, plaintext: str) -> str:
        return self._primary.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        """Raises InvalidToken when no configured key opens it."""
        return self._multi.decrypt(token.encode()).decode()

    def rotate(self, token: str) -> str:
        """Re-encrypt under the newest key (raises InvalidToken like decrypt)."""
        return self._multi.rotate(token.encode()).decode()


@lru_cache(maxsize=4)
def _vault_for(keys: tuple[str, ...]) -> Vault:
    return Vault(list(keys))


def vault() -> Vault:
    """The vault of the configured keys; ImproperlyConfigured when they are missing or malformed."""
    keys = tuple(settings.FIELD_ENCRYPTION_KEYS)
    if not keys and settings.DEBUG:
        # Development only: a key derived from SECRET_KEY so `make run` works before any set-up.
        keys = (base64.urlsafe_b64encode(hashlib.sha256(settings.SECRET_KEY.encode()).digest()).decode(),)
    try:
        return _vault_for(keys)
    except CryptoConfigError as exc:
        raise ImproperlyConfigured(str(exc)) from None
