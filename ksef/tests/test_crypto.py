"""Token encryption, certificate identifiers, key/PKCS#12 loading and test certificates."""

import base64
import hashlib
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from ksef import crypto, models, testing_certs
from ksef.errors import KsefCryptoError

TOKEN = (
    "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5265877635|"
    "919f704466624ce29cd5ac7b65ded5e7cccc112eee314f2aaa76e02cd16df7b9"
)
STAMP = 1760090000123
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def mf():
    """The simulator's MF encryption key and certificate."""
    return testing_certs.generate_encryption_certificate()


@pytest.fixture(scope="module")
def person():
    return testing_certs.generate_test_certificate("5265877635")


def _der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


# --- token encryption -------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["der", "pem", "object", "b64", "model"])
def test_encrypt_decrypt_round_trip(mf, form):
    key, cert = mf
    given = {
        "der": _der(cert),
        "pem": cert.public_bytes(serialization.Encoding.PEM),
        "object": cert,
        "b64": base64.b64encode(_der(cert)).decode(),
        "model": crypto.public_key_certificate(cert),
    }[form]
    ciphertext = crypto.encrypt_ksef_token(TOKEN, STAMP, given)
    assert len(base64.b64decode(ciphertext)) == 256  # RSA-2048
    assert crypto.decrypt_ksef_token(ciphertext, key) == (TOKEN, STAMP)
    assert crypto.decrypt_ksef_token(ciphertext, crypto.private_key_to_pem(key)) == (TOKEN, STAMP)


def test_encryption_is_oaep_sha256_checked_with_cryptography_directly(mf):
    key, cert = mf
    raw = base64.b64decode(crypto.encrypt_ksef_token(TOKEN, STAMP, cert))
    oaep256 = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    assert key.decrypt(raw, oaep256) == f"{TOKEN}|{STAMP}".encode()
    oaep1 = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    with pytest.raises(ValueError):
        key.decrypt(raw, oaep1)
    # OAEP is randomised: two encryptions differ
    assert crypto.encrypt_ksef_token(TOKEN, STAMP, cert) != crypto.encrypt_ksef_token(
        TOKEN, STAMP, cert
    )


def _no_secret(exc):
    text = f"{exc} {exc!r} {exc.details}"
    assert TOKEN not in text and TOKEN.split("|")[2] not in text


def test_decrypt_refuses_wrong_key_sha1_and_garbage(mf):
    key, cert = mf
    ciphertext = crypto.encrypt_ksef_token(TOKEN, STAMP, cert)
    other = testing_certs.generate_rsa_key()
    sha1 = base64.b64encode(
        cert.public_key().encrypt(
            f"{TOKEN}|{STAMP}".encode(),
            padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),
        )
    )
    no_stamp = base64.b64encode(
        cert.public_key().encrypt(
            TOKEN.encode(),
            padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
        )
    )
    cases = [
        (ciphertext, other, "bad_encryption"),
        (sha1, key, "bad_encryption"),
        ("not base64 !!", key, "bad_base64"),
        (base64.b64encode(b"x" * 256), key, "bad_encryption"),
        (no_stamp, key, "bad_encoding"),
    ]
    for data, private_key, code in cases:
        with pytest.raises(KsefCryptoError) as info:
            crypto.decrypt_ksef_token(data, private_key)
        assert info.value.code == code
        _no_secret(info.value)


def test_encrypt_checks_its_arguments(mf):
    _, cert = mf
    with pytest.raises(ValueError):
        crypto.encrypt_ksef_token(TOKEN, -1, cert)
    with pytest.raises(ValueError):
        crypto.encrypt_ksef_token(TOKEN, True, cert)
    with pytest.raises(ValueError):
        crypto.encrypt_ksef_token("", STAMP, cert)
    assert crypto.encrypt_ksef_token(TOKEN, str(STAMP), cert)
    _, ec_cert = testing_certs.generate_test_certificate("5265877635", key_type="ec")
    with pytest.raises(KsefCryptoError):
        crypto.encrypt_ksef_token(TOKEN, STAMP, ec_cert)
    with pytest.raises(KsefCryptoError):
        crypto.encrypt_ksef_token(TOKEN, STAMP, b"not a certificate")


# --- identifiers --------------------------------------------------------------------------------


def test_certificate_identifiers(mf):
    _, cert = mf
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert crypto.public_key_id(cert) == base64.b64encode(hashlib.sha256(spki).digest()).decode()
    assert len(crypto.public_key_id(cert)) == 44
    assert (
        crypto.certificate_id(_der(cert))
        == base64.b64encode(hashlib.sha256(_der(cert)).digest()).decode()
    )
    fingerprint = crypto.certificate_fingerprint(cert)
    assert fingerprint == cert.fingerprint(hashes.SHA256()).hex().upper()
    assert len(fingerprint) == 64 and fingerprint == fingerprint.upper()
    entry = crypto.public_key_certificate(cert, usage=("KsefTokenEncryption",))
    assert entry.public_key_id == crypto.public_key_id(cert)
    assert entry.certificate_der == _der(cert)


def _entry(valid_from, valid_to, usage, cert_der=b"x"):
    return models.PublicKeyCertificate(
        certificate_der=cert_der, valid_from=valid_from, valid_to=valid_to, usage=usage
    )


def test_select_token_encryption_certificate():
    day = timedelta(days=1)
    expired = _entry(NOW - 400 * day, NOW - day, ("KsefTokenEncryption",), b"expired")
    symmetric = _entry(NOW - day, NOW + 400 * day, ("SymmetricKeyEncryption",), b"sym")
    older = _entry(NOW - 300 * day, NOW + 60 * day, ("KsefTokenEncryption",), b"older")
    newer = _entry(
        NOW - 10 * day, NOW + 700 * day, ("SymmetricKeyEncryption", "KsefTokenEncryption"), b"newer"
    )
    future = _entry(NOW + day, NOW + 800 * day, ("KsefTokenEncryption",), b"future")
    certs = [expired, symmetric, older, newer, future]
    assert crypto.select_token_encryption_certificate(certs, now=NOW) is newer
    assert crypto.select_token_encryption_certificate([expired, older], now=NOW) is older
    # naive datetimes are read as UTC
    naive = _entry(datetime(2025, 1, 1), datetime(2027, 1, 1), ("KsefTokenEncryption",))
    assert crypto.select_token_encryption_certificate([naive], now=NOW) is naive
    for bad in ([], [expired, symmetric, future], None):
        with pytest.raises(KsefCryptoError) as info:
            crypto.select_token_encryption_certificate(bad, now=NOW)
        assert info.value.code == "no_certificate"


def test_select_by_default_uses_the_current_time():
    day = timedelta(days=1)
    now = datetime.now(timezone.utc)
    good = _entry(now - day, now + day, ("KsefTokenEncryption",))
    assert crypto.select_token_encryption_certificate([good]) is good


# --- loading --------------------------------------------------------------------------------


def test_load_certificate_forms(person):
    _, cert = person
    pem = cert.public_bytes(serialization.Encoding.PEM)
    for given in (
        cert,
        pem,
        pem.decode(),
        _der(cert),
        base64.b64encode(_der(cert)),
        base64.b64encode(_der(cert)).decode(),
    ):
        assert crypto.load_certificate(given) == cert
    assert crypto.certificate_to_pem(_der(cert)) == pem
    for garbage in (b"", b"\x30\x03\x02\x01\x01", b"hello", "-----BEGIN CERTIFICATE-----\nxx"):
        with pytest.raises(KsefCryptoError):
            crypto.load_certificate(garbage)
    with pytest.raises(KsefCryptoError):
        crypto.load_certificate(12)


def test_load_private_key_and_passwords(person):
    key, _ = person
    pem = crypto.private_key_to_pem(key, "tajne hasło")
    assert b"ENCRYPTED" in pem
    loaded = crypto.load_private_key(pem, "tajne hasło")
    assert loaded.private_numbers() == key.private_numbers()
    assert crypto.load_private_key(pem.decode(), b"tajne has\xc5\x82o").key_size == 2048
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert crypto.load_private_key(der).private_numbers() == key.private_numbers()
    for data, password, code in [
        (pem, None, "bad_password"),
        (pem, "wrong", "bad_password"),
        (crypto.private_key_to_pem(key), "x", "bad_password"),
        (b"garbage", None, "bad_key"),
        (b"", None, "bad_key"),
    ]:
        with pytest.raises(KsefCryptoError) as info:
            crypto.load_private_key(data, password)
        assert info.value.code == code
        assert "tajne" not in str(info.value) and "wrong" not in str(info.value)


def test_pkcs12_round_trip_and_errors(person):
    key, cert = person
    p12 = crypto.make_pkcs12(key, cert, "s3cret!", name="Jan")
    loaded_key, loaded_cert, extra = crypto.load_pkcs12(p12, "s3cret!")
    assert loaded_cert == cert and extra == []
    assert loaded_key.private_numbers() == key.private_numbers()
    for password in ("bad", None, ""):
        with pytest.raises(KsefCryptoError) as info:
            crypto.load_pkcs12(p12, password)
        assert info.value.code == "bad_password"
        assert "s3cret" not in str(info.value)
    for garbage in (b"garbage", b"", _der(cert)):
        with pytest.raises(KsefCryptoError) as info:
            crypto.load_pkcs12(garbage, "x")
        assert info.value.code == "bad_pkcs12"
    unprotected = crypto.make_pkcs12(key, cert, None)
    assert crypto.load_pkcs12(unprotected, None)[1] == cert


# --- subjects and test certificates -----------------------------------------------------------


def _subject(cert, oid):
    return [a.value for a in cert.subject.get_attributes_for_oid(oid)]


def test_person_certificate_subject(person):
    key, cert = person
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert _subject(cert, crypto.OID_SERIAL_NUMBER) == ["TINPL-5265877635"]
    assert _subject(cert, NameOID.GIVEN_NAME) and _subject(cert, NameOID.SURNAME)
    assert _subject(cert, NameOID.COMMON_NAME) and _subject(cert, NameOID.COUNTRY_NAME) == ["PL"]
    assert cert.issuer == cert.subject
    assert crypto.subject_identifier(cert) == models.Identifier("Nip", "5265877635")
    assert crypto.certificate_is_valid(cert)


def test_pesel_person_certificate_ec():
    key, cert = testing_certs.generate_test_certificate(
        kind="person", key_type="ec", pesel="90010112345", common_name="Anna Nowak"
    )
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert _subject(cert, crypto.OID_SERIAL_NUMBER) == ["PNOPL-90010112345"]
    assert _subject(cert, NameOID.COMMON_NAME) == ["Anna Nowak"]
    assert crypto.subject_identifier(cert) == models.Identifier("Pesel", "90010112345")


def test_seal_certificate_subject():
    _, cert = testing_certs.generate_test_certificate("5265877635", kind="seal", key_type="ec")
    assert _subject(cert, crypto.OID_ORGANIZATION_IDENTIFIER) == ["VATPL-5265877635"]
    assert _subject(cert, NameOID.ORGANIZATION_NAME)
    assert not _subject(cert, NameOID.GIVEN_NAME) and not _subject(cert, NameOID.SURNAME)
    assert crypto.subject_identifier(cert) == models.Identifier("Nip", "5265877635")


def _cert_with(attributes):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])
    now = datetime.now(timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


@pytest.mark.parametrize(
    "attributes, expected",
    [
        ([(crypto.OID_SERIAL_NUMBER, "PESEL:90010112345")], ("Pesel", "90010112345")),
        ([(crypto.OID_SERIAL_NUMBER, "NIP 5265877635")], ("Nip", "5265877635")),
        ([(crypto.OID_SERIAL_NUMBER, "TINPL-5265877635")], ("Nip", "5265877635")),
        ([(crypto.OID_ORGANIZATION_IDENTIFIER, "VATPL-5265877635")], ("Nip", "5265877635")),
        ([(crypto.OID_SERIAL_NUMBER, "IDCPL-ABC123")], None),
        ([(crypto.OID_ORGANIZATION_IDENTIFIER, "VATDE-123456789")], None),
        ([(NameOID.COMMON_NAME, "NIP 5265877635")], None),
    ],
)
def test_subject_identifier_rules(attributes, expected):
    result = crypto.subject_identifier(_cert_with(attributes))
    assert (None if result is None else (result.type, result.value)) == expected


def test_expired_certificate_and_validity():
    _, cert = testing_certs.generate_test_certificate(
        "5265877635", not_before=NOW - timedelta(days=100), valid_days=30
    )
    assert not crypto.certificate_is_valid(cert)
    assert crypto.certificate_is_valid(cert, now=NOW - timedelta(days=90))
    not_before, not_after = crypto.certificate_validity(cert)
    assert not_after - not_before == timedelta(days=30)
    assert not_before.tzinfo is not None


def test_generate_test_certificate_arguments():
    with pytest.raises(ValueError):
        testing_certs.generate_test_certificate("123")
    with pytest.raises(ValueError):
        testing_certs.generate_test_certificate("5265877635", kind="robot")
    with pytest.raises(ValueError):
        testing_certs.generate_test_certificate("5265877635", key_type="dsa")
    with pytest.raises(ValueError):
        testing_certs.generate_test_certificate(kind="seal")


def test_check_signing_key():
    with pytest.raises(KsefCryptoError):
        crypto.check_signing_key(testing_certs.generate_rsa_key(1024))
    with pytest.raises(KsefCryptoError):
        crypto.check_signing_key(ec.generate_private_key(ec.SECP192R1()))
    key = ec.generate_private_key(ec.SECP384R1())
    assert crypto.check_signing_key(key) is key


def test_encryption_certificate(mf):
    key, cert = mf
    assert _subject(cert, NameOID.COMMON_NAME) == ["Ministerstwo Finansów (simulator)"]
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    assert crypto.certificate_is_valid(cert)
    _, same_key_cert = testing_certs.generate_encryption_certificate(key, valid_days=10)
    assert crypto.public_key_id(same_key_cert) == crypto.public_key_id(cert)
    assert crypto.certificate_id(same_key_cert) != crypto.certificate_id(cert)
