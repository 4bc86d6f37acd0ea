"""``dllab.security``: scrypt password hashes and hashed bearer tokens."""

from __future__ import annotations

import hashlib

import pytest

from dllab.security import (
    HOST_TOKEN_PREFIX,
    USER_TOKEN_PREFIX,
    hash_password,
    hash_token,
    new_password,
    new_token,
    verify_password,
)


def test_password_verifies_against_its_hash():
    stored = hash_password("correct horse battery staple")
    assert verify_password("correct horse battery staple", stored)


@pytest.mark.parametrize("attempt", ["correct horse battery stapl", "Correct horse battery staple",
                                     "", "correct horse battery staple "])
def test_other_passwords_do_not_verify(attempt):
    assert not verify_password(attempt, hash_password("correct horse battery staple"))


def test_hash_is_salted_and_names_its_scheme():
    first, second = hash_password("same"), hash_password("same")
    assert first != second
    assert first.startswith("scrypt$") and first.count("$") == 2
    assert "same" not in first
    assert verify_password("same", first) and verify_password("same", second)


def test_unicode_password():
    assert verify_password("pässwörd ✓", hash_password("pässwörd ✓"))
    assert not verify_password("password ✓", hash_password("pässwörd ✓"))


@pytest.mark.parametrize("stored", [
    "", "scrypt", "scrypt$abc", "bcrypt$c2FsdA==$ZGlnZXN0", "scrypt$a$b$c",
    "scrypt$a$b",  # not base64 at all
    "scrypt$c2FsdA==$!!!",
])
def test_malformed_stored_hash_never_verifies_and_never_raises(stored):
    assert verify_password("anything", stored) is False


def test_new_tokens_are_prefixed_random_and_long():
    tokens = {new_token(USER_TOKEN_PREFIX) for _ in range(100)}
    assert len(tokens) == 100
    assert all(t.startswith("dlu_") and len(t) >= 4 + 43 for t in tokens)
    assert new_token(HOST_TOKEN_PREFIX).startswith("dlh_")


def test_token_hash_is_sha256_hex_and_deterministic():
    token = new_token(USER_TOKEN_PREFIX)
    assert hash_token(token) == hash_token(token) == hashlib.sha256(token.encode()).hexdigest()
    assert len(hash_token(token)) == 64
    assert hash_token(token) != hash_token(token + "x")
    assert token not in hash_token(token)


def test_generated_passwords_differ_and_pass_the_user_minimum():
    passwords = {new_password() for _ in range(20)}
    assert len(passwords) == 20
    assert all(len(p) >= 8 for p in passwords)
