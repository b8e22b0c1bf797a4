"""Encryption at rest of KSeF secrets, with a key that never lives in the database.

The key comes from the Odoo server configuration (``ksef_token_key`` in the ``[options]``
section) or from the ``KSEF_TOKEN_KEY`` environment variable: 32 random bytes, URL-safe
base64 (44 characters). Older keys listed in ``ksef_token_old_keys`` / ``KSEF_TOKEN_OLD_KEYS``
(comma separated) still decrypt, so a key can be rotated without losing stored tokens.

Ciphertexts are AES-256-GCM, bound with associated data to what they protect (e.g. the
token's reference number), so a ciphertext copied onto another row does not decrypt. Stored
form: ``v1:<key id>:<base64(nonce || ciphertext)>``; the key id (8 hex of SHA-256 of the key)
tells which key is needed without revealing it.

Nothing here logs or raises with a plaintext in it.
"""

import base64
import binascii
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from odoo.tools import config

KEY_OPTION = "ksef_token_key"
OLD_KEYS_OPTION = "ksef_token_old_keys"
KEY_ENV = "KSEF_TOKEN_KEY"
OLD_KEYS_ENV = "KSEF_TOKEN_OLD_KEYS"
VERSION = "v1"


class VaultKeyMissing(Exception):
    """No encryption key is configured."""


class VaultKeyInvalid(Exception):
    """The configured key is not 32 bytes of URL-safe base64."""


class VaultDecryptError(Exception):
    """A ciphertext cannot be decrypted with any configured key (``key_id`` says which it needs)."""

    def __init__(self, message, key_id=None):
        super().__init__(message)
        self.key_id = key_id


def generate_key():
    """Return a fresh key in the configuration format."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _decode_key(text):
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode() + b"=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError) as e:
        raise VaultKeyInvalid("the KSeF token key is not URL-safe base64") from e
    if len(raw) != 32:
        raise VaultKeyInvalid("the KSeF token key must decode to 32 bytes")
    return raw


def _key_id(raw):
    return hashlib.sha256(raw).hexdigest()[:8]


def _configured(option, env):
    return (config.get(option) or os.environ.get(env) or "").strip()


def current_key():
    """``(key_id, raw_key)`` of the key used for new ciphertexts; raises VaultKeyMissing."""
    text = _configured(KEY_OPTION, KEY_ENV)
    if not text or text in ("False", "None"):
        raise VaultKeyMissing("no KSeF token key configured")
    raw = _decode_key(text)
    return _key_id(raw), raw


def _all_keys():
    keys = {}
    if _configured(KEY_OPTION, KEY_ENV) not in ("", "False", "None"):
        key_id, raw = current_key()
        keys[key_id] = raw
    for text in _configured(OLD_KEYS_OPTION, OLD_KEYS_ENV).split(","):
        if text.strip() and text.strip() not in ("False", "None"):
            raw = _decode_key(text)
            keys.setdefault(_key_id(raw), raw)
    return keys


def key_problem():
    """None when a valid current key (and valid old keys) are configured, else
    ``("missing", None)`` or ``("invalid", what is wrong)``."""
    try:
        current_key()
        _all_keys()
    except VaultKeyMissing:
        return ("missing", None)
    except VaultKeyInvalid as e:
        return ("invalid", str(e))
    return None


def is_configured():
    """True when a valid current key is configured."""
    try:
        current_key()
    except (VaultKeyMissing, VaultKeyInvalid):
        return False
    return True


def encrypt(plaintext, aad):
    """Encrypt ``plaintext`` (str) bound to ``aad`` (str); returns the stored text form."""
    key_id, raw = current_key()
    nonce = os.urandom(12)
    sealed = AESGCM(raw).encrypt(nonce, plaintext.encode(), aad.encode())
    return f"{VERSION}:{key_id}:{base64.b64encode(nonce + sealed).decode()}"


def key_id_of(stored):
    """The key id a stored ciphertext needs, or None for an unreadable value."""
    parts = (stored or "").split(":")
    return parts[1] if len(parts) == 3 and parts[0] == VERSION else None


def decrypt(stored, aad):
    """Decrypt a value made by :func:`encrypt` with the same ``aad``."""
    key_id = key_id_of(stored)
    if not key_id:
        raise VaultDecryptError("unreadable ciphertext")
    raw = _all_keys().get(key_id)
    if raw is None:
        raise VaultDecryptError("the key this secret was encrypted with is not configured", key_id)
    try:
        blob = base64.b64decode(stored.split(":", 2)[2])
        return AESGCM(raw).decrypt(blob[:12], blob[12:], aad.encode()).decode()
    except (InvalidTag, ValueError, binascii.Error) as e:
        raise VaultDecryptError(
            "the secret does not decrypt (wrong key or tampered)", key_id
        ) from e
