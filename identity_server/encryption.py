"""Encryption at rest of what the server must read back (signing keys, credential-store
secrets, robots' passwords in the database store): Fernet with a key derived from
SECRET_KEY per purpose, so that one purpose's ciphertext never decrypts as another's.
Every key of SECRET_KEY_FALLBACKS still decrypts after a rotation; new values are always
encrypted with SECRET_KEY.
"""

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.utils.crypto import salted_hmac

__all__ = ["InvalidToken", "decrypt", "encrypt", "fernet"]


def fernet(purpose: str) -> MultiFernet:
    """The Fernet of `purpose` (a salt such as "machines.credential-store"), SECRET_KEY first."""
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet(
        [
            Fernet(
                base64.urlsafe_b64encode(
                    salted_hmac(purpose, "v1", secret=s, algorithm="sha256").digest()
                )
            )
            for s in secrets
        ]
    )


def encrypt(purpose: str, plaintext: str) -> str:
    return fernet(purpose).encrypt(plaintext.encode()).decode()


def decrypt(purpose: str, token: str) -> str:
    """Raises InvalidToken when no key of SECRET_KEY and its fallbacks decrypts `token`."""
    return fernet(purpose).decrypt(token.encode()).decode()
