"""KSeF certificate requests and what is done with a KSeF certificate's key (REFERENCE §6).

* :func:`generate_key`: a key KSeF accepts for a certificate (EC P-256, recommended, or RSA
  2048);
* :func:`build_csr`: the DER PKCS#10 request of ``POST /certificates/enrollments``, whose
  subject is exactly the DN of ``GET /certificates/enrollments/data`` (KSeF refuses any other
  with 25003);
* :func:`certificate_type_of`: ``Authentication`` / ``Offline`` from a certificate's keyUsage;
* :func:`sign_qr_code_ii` / :func:`verify_qr_code_ii`: the signature of the QR code II (KOD II)
  link of an offline invoice, made with an ``Offline`` certificate's key.

Pure ``cryptography``; nothing here talks to KSeF.
"""

from __future__ import annotations

import base64

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.x509.oid import NameOID

from .models import EnrollmentData

__all__ = [
    "CERTIFICATE_TYPES",
    "ENROLLMENT_OIDS",
    "build_csr",
    "certificate_type_of",
    "enrollment_data_of",
    "generate_key",
    "name_of",
    "sign_qr_code_ii",
    "verify_qr_code_ii",
]

CERTIFICATE_TYPES = ("Authentication", "Offline")

#: EnrollmentData field -> the OID of that DN attribute, in the order the CSR subject lists them
ENROLLMENT_OIDS = (
    ("common_name", NameOID.COMMON_NAME),  # 2.5.4.3
    ("country_name", NameOID.COUNTRY_NAME),  # 2.5.4.6
    ("given_name", NameOID.GIVEN_NAME),  # 2.5.4.42
    ("surname", NameOID.SURNAME),  # 2.5.4.4
    ("serial_number", NameOID.SERIAL_NUMBER),  # 2.5.4.5
    ("unique_identifier", x509.ObjectIdentifier("2.5.4.45")),
    ("organization_name", NameOID.ORGANIZATION_NAME),  # 2.5.4.10
    ("organization_identifier", x509.ObjectIdentifier("2.5.4.97")),
)
#: QR code II RSASSA-PSS salt length (bytes)
QR_PSS_SALT = 32


def generate_key(key_type="ec"):
    """A new private key for a KSeF certificate: ``"ec"`` = EC P-256, ``"rsa"`` = RSA 2048."""
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError("key_type must be 'ec' (P-256) or 'rsa' (2048 bits)")


def name_of(enrollment_data: EnrollmentData) -> x509.Name:
    """The X.509 subject made of exactly the fields of ``enrollment_data`` that are present."""
    if not isinstance(enrollment_data, EnrollmentData):
        raise TypeError("enrollment_data must be an EnrollmentData")
    attributes = []
    for field, oid in ENROLLMENT_OIDS:
        value = getattr(enrollment_data, field)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise TypeError(f"enrollment data field {field} must be a string")
        attributes.append(x509.NameAttribute(oid, value))
    return x509.Name(attributes)


def enrollment_data_of(name: x509.Name) -> EnrollmentData:
    """The :class:`EnrollmentData` of an X.509 name (the first value of each attribute)."""
    values = {}
    for field, oid in ENROLLMENT_OIDS:
        found = name.get_attributes_for_oid(oid)
        values[field] = found[0].value if found else None
    return EnrollmentData(**values)


def _check_key(private_key):
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError("KSeF certifies EC keys on the P-256 curve only")
        return
    if isinstance(private_key, rsa.RSAPrivateKey):
        if private_key.key_size != 2048:
            raise ValueError("KSeF certifies RSA keys of exactly 2048 bits")
        return
    raise TypeError("the key must be an EC P-256 or RSA 2048 private key")


def build_csr(private_key, enrollment_data: EnrollmentData) -> bytes:
    """The DER PKCS#10 request for ``POST /certificates/enrollments``.

    The subject holds exactly the attributes of ``enrollment_data`` that are present (CN, C,
    givenName, surname, serialNumber, uniqueIdentifier, O, organizationIdentifier), with the
    values unchanged; no extensions are requested (KSeF sets keyUsage by certificate type).
    Signed with SHA-256: ECDSA for EC keys, RSA PKCS#1 v1.5 for RSA keys.

    :raises ValueError: a key KSeF would refuse (25010)
    :raises TypeError: not a key / not an EnrollmentData
    """
    _check_key(private_key)
    request = x509.CertificateSigningRequestBuilder().subject_name(name_of(enrollment_data))
    return request.sign(private_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def certificate_type_of(certificate) -> str | None:
    """``"Authentication"`` (keyUsage digitalSignature), ``"Offline"`` (nonRepudiation) or
    ``None`` (neither, or no keyUsage) for a ``cryptography`` certificate or its DER/PEM."""
    if isinstance(certificate, bytes | bytearray):
        data = bytes(certificate)
        if data.lstrip().startswith(b"-----BEGIN"):
            certificate = x509.load_pem_x509_certificate(data)
        else:
            certificate = x509.load_der_x509_certificate(data)
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    if usage.content_commitment and not usage.digital_signature:
        return "Offline"
    if usage.digital_signature and not usage.content_commitment:
        return "Authentication"
    return None


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _pss():
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=QR_PSS_SALT)


def sign_qr_code_ii(private_key, text: str) -> str:
    """The Base64URL (unpadded) signature of a QR code II link (REFERENCE §6).

    ``text`` is the link without ``https://`` and without the trailing ``/{signature}``,
    e.g. ``qr-test.ksef.mf.gov.pl/certificate/Nip/5265877635/5265877635/01F2.../<hash>``;
    it is signed as UTF-8. EC P-256 keys: ECDSA SHA-256 in IEEE P1363 form (``R||S``, 64
    bytes); RSA keys (>= 2048 bits): RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32 bytes.
    """
    if not isinstance(text, str):
        raise TypeError("the QR code II text must be a string")
    data = text.encode("utf-8")
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError("QR code II signatures use EC P-256 keys")
        r, s = decode_dss_signature(private_key.sign(data, ec.ECDSA(hashes.SHA256())))
        return _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    if isinstance(private_key, rsa.RSAPrivateKey):
        if private_key.key_size < 2048:
            raise ValueError("QR code II signatures need an RSA key of at least 2048 bits")
        return _b64url(private_key.sign(data, _pss(), hashes.SHA256()))
    raise TypeError("the key must be an EC P-256 or RSA private key")


def verify_qr_code_ii(public_key, text: str, signature: str) -> bool:
    """Whether ``signature`` (Base64URL) is a valid QR code II signature of ``text``.

    ``public_key`` may be a certificate. EC signatures are accepted in P1363 (``R||S``) and
    DER form, as KSeF does.
    """
    if isinstance(public_key, x509.Certificate):
        public_key = public_key.public_key()
    try:
        raw = _b64url_decode(signature)
    except (ValueError, TypeError):
        return False
    data = text.encode("utf-8")
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            if len(raw) == 64:
                raw = encode_dss_signature(
                    int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
                )
            public_key.verify(raw, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(raw, data, _pss(), hashes.SHA256())
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True
