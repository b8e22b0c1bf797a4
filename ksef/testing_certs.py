"""Self-signed certificates and keys for tests, the simulator, benchmarks and the sandbox.

* person / company-seal certificates as KSeF TEST accepts them for XAdES (REFERENCE 2.2);
* the simulator's own "Ministerstwo Finansów" encryption certificate;
* fresh RSA keys.

Kept out of :mod:`ksef.crypto`, which holds only what talking to KSeF needs.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from .crypto import OID_ORGANIZATION_IDENTIFIER, OID_SERIAL_NUMBER, _utc

__all__ = [
    "generate_encryption_certificate",
    "generate_rsa_key",
    "generate_test_certificate",
]


def generate_rsa_key(bits=2048) -> rsa.RSAPrivateKey:
    """A new RSA private key (public exponent 65537)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _generate_key(key_type):
    if key_type == "rsa":
        return generate_rsa_key(2048)
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError("key_type must be 'rsa' or 'ec'")


def _key_usage(purpose):
    signing = purpose == "signing"
    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=signing,
        key_encipherment=not signing,
        data_encipherment=not signing,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _self_signed(private_key, name, not_before, valid_days, purpose="signing"):
    if not_before is None:
        not_before = datetime.now(timezone.utc) - timedelta(minutes=5)
    not_before = _utc(not_before)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(purpose), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(private_key.public_key()), critical=False
        )
    )
    return builder.sign(private_key, hashes.SHA256())


def _digits(value, count, what):
    text = str(value or "").strip()
    if not (len(text) == count and text.isascii() and text.isdigit()):
        raise ValueError(f"{what} must have exactly {count} digits")
    return text


def _test_subject(kind, nip, pesel, common_name, given_name, surname, organization_name):
    if kind == "person":
        if pesel:
            serial = f"PNOPL-{_digits(pesel, 11, 'PESEL')}"
        else:
            serial = f"TINPL-{_digits(nip, 10, 'NIP')}"
        return x509.Name(
            [
                x509.NameAttribute(NameOID.GIVEN_NAME, given_name),
                x509.NameAttribute(NameOID.SURNAME, surname),
                x509.NameAttribute(OID_SERIAL_NUMBER, serial),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name or f"{given_name} {surname}"),
                x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
            ]
        )
    if kind == "seal":
        nip = _digits(nip, 10, "NIP")
        organization = organization_name or f"Firma testowa {nip}"
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                x509.NameAttribute(OID_ORGANIZATION_IDENTIFIER, f"VATPL-{nip}"),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name or organization),
                x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
            ]
        )
    raise ValueError("kind must be 'person' or 'seal'")


def generate_test_certificate(
    nip=None,
    *,
    kind="person",
    key_type="rsa",
    pesel=None,
    common_name=None,
    valid_days=730,
    not_before=None,
    given_name="Jan",
    surname="Testowy",
    organization_name=None,
):
    """A self-signed certificate as KSeF TEST accepts for XAdES (REFERENCE 2.2).

    ``kind='person'``: givenName, surname, serialNumber ``TINPL-<nip>`` (or ``PNOPL-<pesel>``),
    CN, C=PL. ``kind='seal'``: O, organizationIdentifier ``VATPL-<nip>``, CN, C=PL.
    ``key_type`` is ``'rsa'`` (2048) or ``'ec'`` (P-256). Returns ``(private_key, cert)``.
    """
    name = _test_subject(kind, nip, pesel, common_name, given_name, surname, organization_name)
    key = _generate_key(key_type)
    return key, _self_signed(key, name, not_before, valid_days)


def generate_encryption_certificate(
    private_key=None,
    valid_days=730,
    *,
    not_before=None,
    common_name="Ministerstwo Finansów (simulator)",
):
    """The simulator's self-signed MF certificate for ``KsefTokenEncryption`` /
    ``SymmetricKeyEncryption``. Returns ``(private_key, certificate)``; a 2048-bit RSA key is
    generated when none is given."""
    key = private_key or generate_rsa_key(2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ministerstwo Finansów"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
        ]
    )
    return key, _self_signed(key, name, not_before, valid_days, "encryption")
