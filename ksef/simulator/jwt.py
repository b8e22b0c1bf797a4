"""Minimal HS256 JWTs for the simulator's operation, access and refresh tokens.

The tokens are JWT-shaped like KSeF's (clients must treat them as opaque); the simulator
keeps the real session data server-side, keyed by the ``jti`` claim.  Claims:
``typ`` (``OperationToken`` / ``ContextToken`` / ``RefreshToken``), ``arn`` (the
authentication reference number), ``cit``/``civ`` (context type / value), ``jti``,
``iat``, ``exp``, ``iss``/``aud`` = ``ksef-simulator``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text):
    pad = "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(text + pad)


def encode(claims, key):
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = (
        _b64(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + _b64(signature)


def decode(token, key):
    """Return the claims of a token signed with ``key`` or ``None`` (never raises)."""
    try:
        if not isinstance(token, str) or len(token) > 4096:
            return None
        parts = token.split(".")
        if len(parts) != 3:
            return None
        signing_input = (parts[0] + "." + parts[1]).encode("ascii")
        expected = hmac.new(key, signing_input, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(parts[2])):
            return None
        header = json.loads(_unb64(parts[0]))
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            return None
        claims = json.loads(_unb64(parts[1]))
        return claims if isinstance(claims, dict) else None
    except (ValueError, UnicodeError, TypeError):
        return None
