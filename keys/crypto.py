"""Secrets at rest: Fernet through MultiFernet, keys newest first. Pure: no Django here."""

import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ["CryptoConfigError", "InvalidToken", "Vault"]


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
