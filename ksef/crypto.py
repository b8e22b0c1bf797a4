"""Cryptography of KSeF token authentication (REFERENCE 2.2, 2.3).

* the KSeF token is sent as Base64(RSA-OAEP(SHA-256, MGF1-SHA-256, empty label) of
  UTF-8 ``"<token>|<challenge timestampMs>"``) with the MF ``KsefTokenEncryption`` key;
* identifiers of MF certificates (``publicKeyId``, ``certificateId``) and certificate
  fingerprints;
* loading keys, certificates and PKCS#12 files with clear errors;
* the minimum strength of XAdES signing keys.

Self-signed test certificates live in :mod:`ksef.testing_certs`.

Works with cryptography 3.4.8 (Odoo 18's pin) and newer. No message ever contains key
material, a password or the token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import datetime, timezone

from cryptography import x509
from cryptography.exceptions import InvalidKey, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from . import models
from .errors import KsefCryptoError

__all__ = [
    "OID_ORGANIZATION_IDENTIFIER",
    "OID_SERIAL_NUMBER",
    "certificate_fingerprint",
    "certificate_id",
    "certificate_is_valid",
    "certificate_to_pem",
    "certificate_validity",
    "check_signing_key",
    "decrypt_ksef_token",
    "encrypt_ksef_token",
    "load_certificate",
    "load_pkcs12",
    "load_private_key",
    "make_pkcs12",
    "private_key_to_pem",
    "public_key_certificate",
    "public_key_id",
    "select_token_encryption_certificate",
    "subject_identifier",
]

#: ``organizationIdentifier`` (absent from ``NameOID`` in cryptography 3.4.8)
OID_ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")
OID_SERIAL_NUMBER = NameOID.SERIAL_NUMBER

TOKEN_ENCRYPTION = "KsefTokenEncryption"

_PESEL_RE = re.compile(r"(PNOPL|PESEL).*?(\d{11})")
_NIP_RE = re.compile(r"(TINPL|NIP).*?(\d{10})")
_VAT_RE = re.compile(r"(VATPL).*?(\d{10})")


def _oaep():
    return padding.OAEP(
        mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
    )


def _as_bytes(data):
    if isinstance(data, str):
        return data.encode("ascii", "replace")
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise KsefCryptoError("Key or certificate data must be bytes or text.", code="bad_input")


def _password_bytes(password):
    if password is None or password in ("", b""):
        return None
    return password.encode("utf-8") if isinstance(password, str) else bytes(password)


def _utc(moment):
    if moment is None:
        return datetime.now(timezone.utc)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# --- loading and serialising ------------------------------------------------------------------


def load_certificate(data) -> x509.Certificate:
    """Load an X.509 certificate from PEM, DER, Base64 DER (as KSeF's JSON carries it) or
    return an ``x509.Certificate`` / the DER of a :class:`~.models.PublicKeyCertificate`."""
    if isinstance(data, x509.Certificate):
        return data
    if isinstance(data, models.PublicKeyCertificate):
        data = data.certificate_der
    raw = _as_bytes(data)
    if not raw.startswith(b"\x30"):
        # only text (PEM, Base64) may carry surrounding whitespace: DER bytes are kept as
        # they are, since a DER certificate may legitimately end with a whitespace byte
        raw = raw.strip()
    try:
        if raw.startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(raw)
        if not raw.startswith(b"\x30"):
            raw = base64.b64decode(raw, validate=True)
        return x509.load_der_x509_certificate(raw)
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm):
        raise KsefCryptoError(
            "The data is not a readable X.509 certificate.", code="bad_certificate"
        ) from None


def load_private_key(data, password=None):
    """Load a private key from PEM or DER bytes (optionally password-protected), or return a
    key object unchanged. Raises :class:`KsefCryptoError` (``bad_password`` / ``bad_key``)."""
    if isinstance(data, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return data
    raw = _as_bytes(data)
    if not raw.startswith(b"\x30"):
        raw = raw.strip()  # PEM text only; DER bytes may end with a whitespace byte
    pwd = _password_bytes(password)
    loader = (
        serialization.load_pem_private_key
        if raw.startswith(b"-----BEGIN")
        else serialization.load_der_private_key
    )
    try:
        return loader(raw, password=pwd)
    except TypeError:
        if pwd is None:
            raise KsefCryptoError(
                "The private key is encrypted: a password is needed.", code="bad_password"
            ) from None
        raise KsefCryptoError(
            "The private key is not encrypted: give no password.", code="bad_password"
        ) from None
    except (ValueError, UnsupportedAlgorithm, InvalidKey) as exc:
        encrypted = b"ENCRYPTED" in raw[:100] or "decrypt" in str(exc).lower()
        if pwd is not None and encrypted:
            raise KsefCryptoError(
                "Wrong password for the private key.", code="bad_password"
            ) from None
        raise KsefCryptoError("The data is not a readable private key.", code="bad_key") from None


def _looks_like_pfx(raw):
    """Whether ``raw`` starts like a PKCS#12 PFX (SEQUENCE { INTEGER 3, ... })."""
    if len(raw) < 8 or raw[0] != 0x30:
        return False
    length_octets = raw[1] - 0x80 if raw[1] & 0x80 else 0
    pos = 2 + length_octets
    return raw[pos : pos + 3] == b"\x02\x01\x03"


def load_pkcs12(data, password):
    """Return ``(private_key, certificate, additional_certificates)`` of a PKCS#12 file.

    Raises :class:`KsefCryptoError`: ``bad_password`` (wrong password or damaged file),
    ``bad_pkcs12`` (not a PKCS#12 file), ``bad_key`` (no key or certificate inside).
    """
    raw = _as_bytes(data)
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(raw, _password_bytes(password))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        if _looks_like_pfx(raw):
            raise KsefCryptoError(
                "Wrong password for the PKCS#12 file (or the file is damaged).", code="bad_password"
            ) from None
        raise KsefCryptoError(
            "The data is not a PKCS#12 (.p12/.pfx) file.", code="bad_pkcs12"
        ) from None
    if key is None or cert is None:
        raise KsefCryptoError(
            "The PKCS#12 file must hold a private key and its certificate.", code="bad_key"
        )
    return key, cert, list(extra or [])


def private_key_to_pem(private_key, password=None) -> bytes:
    """PKCS#8 PEM of ``private_key``, encrypted when ``password`` is given."""
    pwd = _password_bytes(password)
    encryption = serialization.BestAvailableEncryption(pwd) if pwd else serialization.NoEncryption()
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def certificate_to_pem(certificate) -> bytes:
    """PEM of a certificate (any form :func:`load_certificate` accepts)."""
    return load_certificate(certificate).public_bytes(serialization.Encoding.PEM)


def make_pkcs12(private_key, certificate, password, *, name=None, additional=()) -> bytes:
    """A PKCS#12 file holding ``private_key`` and ``certificate`` (encrypted with
    ``password`` unless it is empty)."""
    pwd = _password_bytes(password)
    encryption = serialization.BestAvailableEncryption(pwd) if pwd else serialization.NoEncryption()
    label = name.encode("utf-8") if isinstance(name, str) else name
    return pkcs12.serialize_key_and_certificates(
        label,
        load_private_key(private_key),
        load_certificate(certificate),
        [load_certificate(c) for c in additional] or None,
        encryption,
    )


# --- identifiers --------------------------------------------------------------------------------


def _b64_sha256(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def public_key_id(cert) -> str:
    """KSeF ``publicKeyId``: Base64 of SHA-256 of the SubjectPublicKeyInfo DER (44 chars)."""
    spki = (
        load_certificate(cert)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return _b64_sha256(spki)


def certificate_id(cert) -> str:
    """KSeF ``certificateId``: Base64 of SHA-256 of the certificate DER."""
    return _b64_sha256(load_certificate(cert).public_bytes(serialization.Encoding.DER))


def certificate_fingerprint(cert) -> str:
    """SHA-256 of the certificate DER as upper-case hex (KSeF's certificate fingerprint)."""
    der = load_certificate(cert).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest().upper()


def certificate_validity(cert):
    """``(not_before, not_after)`` of a certificate as timezone-aware UTC datetimes."""
    cert = load_certificate(cert)
    if hasattr(cert, "not_valid_before_utc"):  # cryptography >= 42
        return cert.not_valid_before_utc, cert.not_valid_after_utc
    return _utc(cert.not_valid_before), _utc(cert.not_valid_after)


def certificate_is_valid(cert, now=None) -> bool:
    """Whether ``now`` (default: the current time) lies in the certificate's validity."""
    not_before, not_after = certificate_validity(cert)
    return not_before <= _utc(now) <= not_after


def _name_values(cert, oid):
    return [a.value for a in load_certificate(cert).subject.get_attributes_for_oid(oid)]


def subject_identifier(cert) -> models.Identifier | None:
    """The identity KSeF reads from a certificate subject (``certificateSubject``).

    ``serialNumber`` matching ``(PNOPL|PESEL).*?(\\d{11})`` gives a ``Pesel``, matching
    ``(TINPL|NIP).*?(\\d{10})`` a ``Nip``; ``organizationIdentifier`` matching
    ``(VATPL).*?(\\d{10})`` a ``Nip``. ``None`` when nothing matches.
    """
    for value in _name_values(cert, OID_SERIAL_NUMBER):
        match = _PESEL_RE.search(value)
        if match:
            return models.Identifier("Pesel", match.group(2))
        match = _NIP_RE.search(value)
        if match:
            return models.Identifier("Nip", match.group(2))
    for value in _name_values(cert, OID_ORGANIZATION_IDENTIFIER):
        match = _VAT_RE.search(value)
        if match:
            return models.Identifier("Nip", match.group(2))
    return None


def public_key_certificate(cert, usage=(TOKEN_ENCRYPTION,)) -> models.PublicKeyCertificate:
    """A :class:`~.models.PublicKeyCertificate` entry describing ``cert`` (for the simulator)."""
    cert = load_certificate(cert)
    not_before, not_after = certificate_validity(cert)
    return models.PublicKeyCertificate(
        certificate_der=cert.public_bytes(serialization.Encoding.DER),
        valid_from=not_before,
        valid_to=not_after,
        usage=tuple(usage),
        certificate_id=certificate_id(cert),
        public_key_id=public_key_id(cert),
    )


def select_token_encryption_certificate(certs, now=None) -> models.PublicKeyCertificate:
    """Of the MF public-key certificates, the one to encrypt KSeF tokens with: usage includes
    ``KsefTokenEncryption``, valid ``now``, latest ``valid_from``. Raises
    :class:`KsefCryptoError` (``no_certificate``) when there is none."""
    now = _utc(now)
    usable = [
        c
        for c in certs or ()
        if TOKEN_ENCRYPTION in (c.usage or ()) and _utc(c.valid_from) <= now <= _utc(c.valid_to)
    ]
    if not usable:
        raise KsefCryptoError(
            "KSeF published no valid certificate for KSeF token encryption.", code="no_certificate"
        )
    return max(usable, key=lambda c: _utc(c.valid_from))


# --- token encryption ---------------------------------------------------------------------------


def _public_key(certificate):
    if isinstance(certificate, rsa.RSAPublicKey):
        return certificate
    key = load_certificate(certificate).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise KsefCryptoError(
            "The KSeF token encryption certificate has no RSA key.", code="unsupported_key"
        )
    return key


def _timestamp(timestamp_ms):
    if isinstance(timestamp_ms, str) and timestamp_ms.isdigit():
        timestamp_ms = int(timestamp_ms)
    if isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, int) or timestamp_ms < 0:
        raise ValueError("timestamp_ms must be a non-negative integer (Unix milliseconds)")
    return timestamp_ms


def encrypt_ksef_token(token: str, timestamp_ms: int, certificate) -> str:
    """Base64 of RSA-OAEP (SHA-256, MGF1-SHA-256, no label) over UTF-8 ``token|timestamp_ms``.

    ``certificate`` is the MF ``KsefTokenEncryption`` certificate (DER, PEM, Base64 DER, an
    ``x509.Certificate``, a :class:`~.models.PublicKeyCertificate`) or an RSA public key;
    ``timestamp_ms`` is the challenge's ``timestampMs``.
    """
    if not isinstance(token, str) or not token:
        raise ValueError("token must be a non-empty string")
    plaintext = f"{token}|{_timestamp(timestamp_ms)}".encode()
    try:
        ciphertext = _public_key(certificate).encrypt(plaintext, _oaep())
    except ValueError:
        raise KsefCryptoError(
            "The token is too long for the encryption key.", code="encryption_failed"
        ) from None
    return base64.b64encode(ciphertext).decode("ascii")


def decrypt_ksef_token(ciphertext_b64, private_key):
    """Inverse of :func:`encrypt_ksef_token`: ``(token, timestamp_ms)``.

    For tests that check what the client sent. The simulator does not use it: it decrypts
    with its own code (:meth:`ksef.simulator.keys.PublishedKey.decrypt_token`) so that a bug
    shared with :func:`encrypt_ksef_token` cannot hide.

    Raises :class:`KsefCryptoError` with code ``bad_base64``, ``bad_encryption`` (wrong key,
    wrong padding such as OAEP-SHA-1, garbage) or ``bad_encoding`` (not ``token|digits``).
    """
    key = load_private_key(private_key)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KsefCryptoError("Token decryption needs an RSA private key.", code="unsupported_key")
    try:
        raw = base64.b64decode(_as_bytes(ciphertext_b64).strip(), validate=True)
    except (binascii.Error, ValueError, KsefCryptoError):
        raise KsefCryptoError(
            "The encrypted token is not valid Base64.", code="bad_base64"
        ) from None
    try:
        plaintext = key.decrypt(raw, _oaep())
    except ValueError:
        raise KsefCryptoError(
            "The encrypted token cannot be decrypted with this key " "(RSA-OAEP SHA-256).",
            code="bad_encryption",
        ) from None
    try:
        token, stamp = plaintext.decode("utf-8").rsplit("|", 1)
    except (UnicodeDecodeError, ValueError):
        raise KsefCryptoError(
            "The decrypted token is not 'token|timestampMs'.", code="bad_encoding"
        ) from None
    if not (token and stamp.isascii() and stamp.isdigit()):
        raise KsefCryptoError(
            "The decrypted token is not 'token|timestampMs'.", code="bad_encoding"
        )
    return token, int(stamp)


# --- signing keys ----------------------------------------------------------------------------


def check_signing_key(private_key):
    """Refuse keys KSeF does not accept for XAdES: RSA < 2048 bits, EC < 256 bits, others."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        if private_key.key_size < 2048:
            raise KsefCryptoError("KSeF requires RSA keys of at least 2048 bits.", code="weak_key")
        return private_key
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        if private_key.curve.key_size < 256:
            raise KsefCryptoError("KSeF requires EC keys of at least 256 bits.", code="weak_key")
        return private_key
    raise KsefCryptoError("Only RSA and EC keys can sign a KSeF request.", code="unsupported_key")
