"""Passwords, bearer secrets, users' SSH public keys and the key that encrypts secrets.

Passwords are hashed with scrypt (salted, memory-hard). Tokens are 32 random bytes, so a
plain SHA-256 is enough to store them: nothing can be guessed from the hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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


SSH_KEY_TYPES = frozenset({
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
})


@dataclass(frozen=True)
class SshPublicKey:
    type: str
    blob: bytes
    comment: str

    @property
    def line(self) -> str:
        """As it goes into authorized_keys: one line, whatever whitespace it came with."""
        encoded = base64.b64encode(self.blob).decode()
        return f"{self.type} {encoded} {self.comment}".rstrip()

    @property
    def fingerprint(self) -> str:
        """As ``ssh-keygen -l`` shows it."""
        digest = base64.b64encode(hashlib.sha256(self.blob).digest()).decode().rstrip("=")
        return f"SHA256:{digest}"


def parse_ssh_public_key(text: str) -> SshPublicKey:
    """An OpenSSH public key line (``TYPE BASE64 [COMMENT]``), checked; ValueError says
    what is wrong. Options (``from=...``) are refused: DLLab writes authorized_keys."""
    parts = text.strip().split(None, 2)
    if len(parts) < 2:
        raise ValueError("an OpenSSH public key is 'TYPE BASE64 [COMMENT]', "
                         "like the line of ~/.ssh/id_ed25519.pub")
    kind, encoded = parts[0], parts[1]
    if kind not in SSH_KEY_TYPES:
        raise ValueError(f"unknown key type {kind[:40]!r}; "
                         f"one of {', '.join(sorted(SSH_KEY_TYPES))}")
    try:
        blob = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise ValueError("the key's second field is not base64") from None
    length = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
    if blob[4:4 + length].decode("latin-1") != kind or len(blob) <= 4 + length:
        raise ValueError(f"the key's data is not a {kind} key")
    comment = parts[2].strip() if len(parts) > 2 else ""
    if any(c in comment for c in "\r\n"):
        raise ValueError("one key per line")
    return SshPublicKey(kind, blob, comment)


def shared_secret(path: Path) -> str:
    """The secret kept in ``path``, made on first use. Two processes that start together
    (control plane and JupyterHub) agree on it."""
    return _made_once(path, lambda: secrets.token_urlsafe(32).encode()).decode()


def fernet_key(path: Path) -> bytes:
    """The Fernet key kept in ``path`` (32 random bytes, urlsafe base64), made on first use:
    what cryptography's Fernet.generate_key() makes, without importing it here."""
    return _made_once(path, lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)))


def _made_once(path: Path, make: Callable[[], bytes]) -> bytes:
    """What ``path`` holds; when it is missing, ``make()`` written to a private (0600)
    temporary file and linked into place, so that no one ever reads half of it, nor a copy
    open to others, and the first process to link wins."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(make() + b"\n")
                out.flush()
                os.fsync(out.fileno())
            os.link(partial, path)  # fails if another process made it first
        except FileExistsError:
            pass
        finally:
            partial.unlink()
    return path.read_bytes().strip()
