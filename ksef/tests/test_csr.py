"""``ksef.csr``: keys, the PKCS#10 request built from the enrolment data, certificate types
and the QR code II signature (REFERENCE §6)."""

import base64

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ksef import csr
from ksef.models import EnrollmentData

PERSON = EnrollmentData(
    common_name="Jan Testowy",
    country_name="PL",
    given_name="Jan",
    surname="Testowy",
    serial_number="TINPL-5265877635",
)
FULL = EnrollmentData(
    common_name="Firma Kowalski Certyfikat",
    country_name="PL",
    given_name="Jan",
    surname="Kowalski",
    serial_number="ABC123456789",
    unique_identifier="d9d22724-4696-460c-9e5e-b9e3aafb0af3",
    organization_name="Firma Kowalski Sp. z o.o.",
    organization_identifier="7762811692",
)
QR_TEXT = (
    "qr-test.ksef.mf.gov.pl/certificate/Nip/5265877635/5265877635/0321C82DA41B4362/"
    "UtQp9Gpc51y-u3xApZjIjgkpZ01js-J8KflSPW8WzIE"
)


def _b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_generate_key():
    key = csr.generate_key()
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    key = csr.generate_key("rsa")
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    with pytest.raises(ValueError):
        csr.generate_key("dsa")


@pytest.mark.parametrize(
    "key_type, algorithm", [("ec", "1.2.840.10045.4.3.2"), ("rsa", "1.2.840.113549.1.1.11")]
)
def test_build_csr(key_type, algorithm):
    key = csr.generate_key(key_type)
    request = x509.load_der_x509_csr(csr.build_csr(key, FULL))
    assert request.is_signature_valid
    assert request.signature_algorithm_oid.dotted_string == algorithm
    assert [(a.oid.dotted_string, a.value) for a in request.subject] == [
        ("2.5.4.3", "Firma Kowalski Certyfikat"),
        ("2.5.4.6", "PL"),
        ("2.5.4.42", "Jan"),
        ("2.5.4.4", "Kowalski"),
        ("2.5.4.5", "ABC123456789"),
        ("2.5.4.45", "d9d22724-4696-460c-9e5e-b9e3aafb0af3"),
        ("2.5.4.10", "Firma Kowalski Sp. z o.o."),
        ("2.5.4.97", "7762811692"),
    ]
    assert csr.enrollment_data_of(request.subject) == FULL
    assert list(request.extensions) == []


def test_build_csr_holds_only_the_fields_present():
    request = x509.load_der_x509_csr(csr.build_csr(csr.generate_key(), PERSON))
    assert [a.oid.dotted_string for a in request.subject] == [
        "2.5.4.3",
        "2.5.4.6",
        "2.5.4.42",
        "2.5.4.4",
        "2.5.4.5",
    ]
    assert csr.enrollment_data_of(request.subject) == PERSON


@pytest.mark.parametrize(
    "key",
    [
        rsa.generate_private_key(public_exponent=65537, key_size=1024),
        ec.generate_private_key(ec.SECP384R1()),
    ],
    ids=["rsa1024", "p384"],
)
def test_build_csr_refuses_keys_ksef_refuses(key):
    with pytest.raises(ValueError):
        csr.build_csr(key, PERSON)


def test_build_csr_wants_enrollment_data():
    with pytest.raises(TypeError):
        csr.build_csr(csr.generate_key(), {"commonName": "x"})


def _certificate(digital_signature, non_repudiation, extension=True):
    key = csr.generate_key()
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(csr.name_of(PERSON))
        .issuer_name(csr.name_of(PERSON))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
    )
    if extension:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=digital_signature,
                content_commitment=non_repudiation,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    return builder.sign(key, hashes.SHA256())


def test_certificate_type_of():
    from cryptography.hazmat.primitives import serialization

    authentication = _certificate(True, False)
    assert csr.certificate_type_of(authentication) == "Authentication"
    assert csr.certificate_type_of(_certificate(False, True)) == "Offline"
    assert csr.certificate_type_of(_certificate(True, True)) is None
    assert csr.certificate_type_of(_certificate(False, False, extension=False)) is None
    der = authentication.public_bytes(serialization.Encoding.DER)
    pem = authentication.public_bytes(serialization.Encoding.PEM)
    assert csr.certificate_type_of(der) == csr.certificate_type_of(pem) == "Authentication"


def test_qr_code_ii_ec_signature_is_p1363_and_verifies():
    key = csr.generate_key("ec")
    signature = csr.sign_qr_code_ii(key, QR_TEXT)
    assert "=" not in signature and "+" not in signature and "/" not in signature
    raw = _b64url_decode(signature)
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key.public_key().verify(der, QR_TEXT.encode(), ec.ECDSA(hashes.SHA256()))
    assert csr.verify_qr_code_ii(key.public_key(), QR_TEXT, signature)
    assert not csr.verify_qr_code_ii(key.public_key(), QR_TEXT + "x", signature)
    # DER-encoded ECDSA is accepted as well
    der_b64 = base64.urlsafe_b64encode(der).rstrip(b"=").decode()
    assert csr.verify_qr_code_ii(key.public_key(), QR_TEXT, der_b64)


def test_qr_code_ii_rsa_signature_is_pss_and_verifies():
    key = csr.generate_key("rsa")
    signature = csr.sign_qr_code_ii(key, QR_TEXT)
    raw = _b64url_decode(signature)
    assert len(raw) == 256
    key.public_key().verify(
        raw,
        QR_TEXT.encode(),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        hashes.SHA256(),
    )
    assert csr.verify_qr_code_ii(key.public_key(), QR_TEXT, signature)
    assert not csr.verify_qr_code_ii(csr.generate_key("rsa").public_key(), QR_TEXT, signature)
    assert not csr.verify_qr_code_ii(key.public_key(), QR_TEXT, "!!!")


def test_qr_code_ii_verifies_with_a_certificate():
    certificate = _certificate(False, True)
    with pytest.raises(TypeError):
        csr.sign_qr_code_ii("not a key", QR_TEXT)
    with pytest.raises(ValueError):
        csr.sign_qr_code_ii(ec.generate_private_key(ec.SECP384R1()), QR_TEXT)
    assert not csr.verify_qr_code_ii(
        certificate, QR_TEXT, csr.sign_qr_code_ii(csr.generate_key(), QR_TEXT)
    )
