"""The simulator's "Ministry of Finance" encryption key and its public-key certificate.

Deliberately implemented here with ``cryptography`` directly (not through
:mod:`ksef.crypto`): the simulator is the oracle the client is tested against, so it follows
the KSeF documentation on its own.  A bug shared by the client's encryption and a reused
decryption (say OAEP with SHA-1 on both sides) would otherwise go unnoticed.

* ``certificateId`` = Base64(SHA-256(certificate DER));
* ``publicKeyId``  = Base64(SHA-256(SubjectPublicKeyInfo DER)) (44 characters);
* two certificates, as KSeF publishes them: one with usage ``KsefTokenEncryption`` and one with
  ``SymmetricKeyEncryption``, each with its own RSA key;
* token encryption = RSA-OAEP, SHA-256, MGF1-SHA-256, empty label; plaintext
  ``"{ksefToken}|{timestampMs}"`` in UTF-8.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

USAGES = ("KsefTokenEncryption", "SymmetricKeyEncryption")

TOKEN_USAGE, SYMMETRIC_USAGE = USAGES

_cache_lock = threading.Lock()
_cached_keys = {}


def shared_private_key(usage=TOKEN_USAGE):
    """One RSA-2048 key per usage and process: generating them per simulator would slow tests
    down. KSeF encrypts tokens and symmetric keys with different keys, so do the two usages."""
    with _cache_lock:
        if usage not in _cached_keys:
            _cached_keys[usage] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return _cached_keys[usage]


@dataclasses.dataclass
class PublishedKey:
    """One entry of ``GET /security/public-key-certificates`` and its private key."""

    private_key: object = dataclasses.field(repr=False)
    certificate: x509.Certificate
    usage: tuple = (TOKEN_USAGE,)
    retired: bool = False

    @property
    def certificate_der(self):
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def certificate_id(self):
        return base64.b64encode(hashlib.sha256(self.certificate_der).digest()).decode("ascii")

    @property
    def public_key_id(self):
        spki = self.certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")

    def to_json(self):
        return {
            "certificate": base64.b64encode(self.certificate_der).decode("ascii"),
            "certificateId": self.certificate_id,
            "publicKeyId": self.public_key_id,
            "validFrom": _iso(self.certificate.not_valid_before),
            "validTo": _iso(self.certificate.not_valid_after),
            "usage": list(self.usage),
        }

    def decrypt_token(self, ciphertext):
        """RSA-OAEP-SHA256 decrypt; return ``(token_text, timestamp_ms_text)``.

        Raises ``ValueError`` for anything that is not a UTF-8 ``token|digits`` plaintext
        encrypted for this key.
        """
        plaintext = self.private_key.decrypt(
            ciphertext,
            padding.OAEP(
                mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
            ),
        )
        text = plaintext.decode("utf-8")
        token, sep, stamp = text.rpartition("|")
        if not sep or not token:
            raise ValueError("plaintext is not token|timestamp")
        return token, stamp


def _iso(naive_utc):
    return naive_utc.replace(tzinfo=datetime.timezone.utc).isoformat(timespec="microseconds")


def make_published_key(private_key=None, *, now=None, usage=(TOKEN_USAGE,)):
    """A self-signed "Ministerstwo Finansów (simulator)" certificate for ``private_key`` (by
    default the process's key of the first ``usage``)."""
    key = private_key or shared_private_key(usage[0])
    now = now or datetime.datetime.utcnow()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ministerstwo Finansów (simulator)"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Ministerstwo Finansów (simulator)"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=4 * 365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return PublishedKey(private_key=key, certificate=cert, usage=tuple(usage))
