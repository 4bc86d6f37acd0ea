"""Passwords and bearer secrets.

Passwords are hashed with scrypt (salted, memory-hard). Tokens are 32 random bytes, so a
plain SHA-256 is enough to store them: nothing can be guessed from the hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

USER_TOKEN_PREFIX = "dlu_"  # login, session and personal tokens of users
HOST_TOKEN_PREFIX = "dlh_"  # the credential of one host's agent

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    except ValueError:  # binascii.Error is one
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return hmac.compare_digest(digest, expected)


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_password() -> str:
    return secrets.token_urlsafe(12)
