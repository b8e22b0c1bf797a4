"""KSeF certificates (``/certificates/*``, ``PUT /testdata/certificates/{serial}``) and the
simulator's own certificate authority.

Outcomes follow the OpenAPI of API 2.8.1 and REFERENCE §6:

* everything acts on the *authenticated subject* of the access token (the NIP, PESEL or
  fingerprint the session was opened with), never on the context; ownership follows the
  NIP–PESEL link, as for tokens;
* ``GET /certificates/enrollments/data`` answers the DN of the certificate that signed the
  XAdES login (25001 for a KSeF-token session);
* ``POST /certificates/enrollments`` checks, in this order: token session 25002; body shape
  (JSON object, ``csr`` a string) 21405; CSR not DER PKCS#10 or its signature wrong 25004; key
  not RSA 2048 / EC P-256 25010; signature algorithm outside RSA PKCS#1 v1.5 / RSA-PSS /
  ECDSA with SHA-1/256/384/512 25011; subject differs from the enrolment data 25003;
  enrolment limit 25006; active-certificate limit 25007; then the name pattern, the type and
  ``validFrom`` (21405);
* an enrolment stays 100 for ``enrollment_delay`` seconds of the simulator clock, then the
  certificate is issued (200) or the enrolment rejected (400: the public key was certified
  for another subject, or the active-certificate limit was reached meanwhile);
* issued certificates: a 16 upper-case hex serial, the CSR subject, validity
  ``certificate_validity_days`` from issue (or ``validFrom``), keyUsage digitalSignature
  (Authentication) or nonRepudiation (Offline), signed by the per-instance simulator CA;
* ``POST /certificates/{serial}/revoke`` refuses KSeF-token sessions with 403
  ``auth-method-not-allowed`` (the spec only says the operation "is not available"), unknown
  or someone else's certificates with 25008 and certificates that are not Active with 25009;
* a XAdES login signed with an issued certificate (see :func:`internal_login`) is method
  ``InternalCertificate`` for the subject the certificate was issued to; status 460 for an
  Offline, Blocked, Revoked or expired one. The CA is trusted, so
  ``verifyCertificateChain=true`` does not refuse it.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
import secrets
from datetime import timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from .. import csr as csr_module
from ..models import EnrollmentData
from . import errors
from .clock import iso, parse_iso, to_datetime
from .state import (
    REFERENCE_RE,
    CertificateRecord,
    EnrollmentRecord,
    _same_subject,
    new_reference,
)
from .web import Response

SERIAL_RE = re.compile(r"^[0-9A-F]{16}$")
NAME_RE = re.compile(r"^[a-zA-Z0-9_\- ąćęłńóśźżĄĆĘŁŃÓŚŹŻ]+$")
CERTIFICATE_TYPES = ("Authentication", "Offline")
STATUSES = ("Active", "Blocked", "Revoked", "Expired")
REVOCATION_REASONS = ("Unspecified", "Superseded", "KeyCompromise")

ACCEPTED = (100, "Wniosek przyjęty do realizacji")
ISSUED = (200, "Wniosek obsłużony (certyfikat wygenerowany)")
REJECTED = "Wniosek odrzucony"
KEY_TAKEN = "Klucz publiczny został już certyfikowany przez inny podmiot."
LIMIT_REACHED = "Osiągnięto dopuszczalny limit posiadanych certyfikatów."

#: CSR signature algorithms KSeF accepts (RSA PKCS#1 v1.5, RSA-PSS, ECDSA; SHA-1/256/384/512)
ALLOWED_SIGNATURE_OIDS = frozenset(
    {
        "1.2.840.113549.1.1.5",  # sha1WithRSAEncryption
        "1.2.840.113549.1.1.11",  # sha256WithRSAEncryption
        "1.2.840.113549.1.1.12",  # sha384WithRSAEncryption
        "1.2.840.113549.1.1.13",  # sha512WithRSAEncryption
        "1.2.840.113549.1.1.10",  # RSASSA-PSS
        "1.2.840.10045.4.1",  # ecdsa-with-SHA1
        "1.2.840.10045.4.3.2",  # ecdsa-with-SHA256
        "1.2.840.10045.4.3.3",  # ecdsa-with-SHA384
        "1.2.840.10045.4.3.4",  # ecdsa-with-SHA512
    }
)

DESCRIPTIONS = {
    25001: "Brak możliwości pobrania danych do CSR dla wykorzystanego sposobu uwierzytelnienia.",
    25002: "Brak możliwości złożenia wniosku certyfikacyjnego dla wykorzystanego sposobu "
    "uwierzytelnienia.",
    25003: "Dane w CSR nie zgadzają się z danymi w użytym wektorze uwierzytelniającym.",
    25004: "Niepoprawny format CSR lub niepoprawny podpis CSR.",
    25005: "Wniosek certyfikacyjny o podanym numerze referencyjnym nie istnieje.",
    25006: "Osiągnięto limit możliwych do złożenia wniosków certyfikacyjnych.",
    25007: "Osiągnięto limit dopuszczalnej liczby posiadanych certyfikatów.",
    25008: "Certyfikat o podanym numerze seryjnym nie istnieje.",
    25009: "Nie można odwołać wskazanego certyfikatu, ponieważ jest już odwołany, "
    "zablokowany lub nieważny.",
    25010: "Nieprawidłowy typ lub długość klucza.",
    25011: "Nieprawidłowy algorytm podpisu CSR.",
}
errors.DESCRIPTIONS.update(DESCRIPTIONS)


def _spki(public_key):
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --- the simulator CA -----------------------------------------------------------------------


class SimulatorCA:
    """The certificate authority of one simulator instance (EC P-256, self-signed)."""

    def __init__(self, now):
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, "KSeF CA (symulator)"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ministerstwo Finansów"),
                x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
            ]
        )
        start = to_datetime(now) - timedelta(days=1)
        public_key = self.private_key.public_key()
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .sign(self.private_key, hashes.SHA256())
        )

    def issue(self, subject, public_key, serial, not_before, not_after, certificate_type):
        """A KSeF certificate (``cryptography`` object) for ``public_key``."""
        offline = certificate_type == "Offline"
        usage = x509.KeyUsage(
            digital_signature=not offline,
            content_commitment=offline,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        )
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.name)
            .public_key(public_key)
            .serial_number(int(serial, 16))
            .not_valid_before(to_datetime(not_before))
            .not_valid_after(to_datetime(not_after))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.private_key.public_key()),
                critical=False,
            )
            .sign(self.private_key, hashes.SHA256())
        )

    def issued(self, certificate):
        """Whether this CA signed ``certificate``."""
        if certificate is None or certificate.issuer != self.name:
            return False
        try:
            self.private_key.public_key().verify(
                certificate.signature,
                certificate.tbs_certificate_bytes,
                ec.ECDSA(certificate.signature_hash_algorithm),
            )
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True


# --- helpers ----------------------------------------------------------------------------------


def enrollment_data_of(certificate):
    """The :class:`EnrollmentData` of a login certificate; ``None`` without CN or C."""
    if certificate is None:
        return None
    data = csr_module.enrollment_data_of(certificate.subject)
    if not data.common_name or not data.country_name:
        return None
    return data


def _enrollment_json(data: EnrollmentData):
    body = {"commonName": data.common_name, "countryName": data.country_name}
    for field, key in (
        ("given_name", "givenName"),
        ("surname", "surname"),
        ("serial_number", "serialNumber"),
        ("unique_identifier", "uniqueIdentifier"),
        ("organization_name", "organizationName"),
        ("organization_identifier", "organizationIdentifier"),
    ):
        value = getattr(data, field)
        if value is not None:
            body[key] = value
    return body


def _subject(req):
    subject = req.principal.operation.subject
    if subject is None:  # pragma: no cover - a redeemed session always has a subject
        raise errors.Forbidden("insufficient-resource-access")
    return subject


def _limits_of(sim, subject):
    limits = sim.config.certificate_limits or {}
    return limits.get(subject.type) or limits.get("Fingerprint") or (12, 6)


def _enrollments_of(sim, subject):
    return [e for e in sim.state.enrollments.values() if _same_subject(e.subject, subject)]


def _active_of(sim, subject, now):
    return [
        c
        for c in sim.state.certificates.values()
        if _same_subject(c.subject, subject) and c.effective_status(now) == "Active"
    ]


def _mine(sim, record, subject):
    return sim.state.same_author(record.subject, subject)


def _new_serial(sim):
    while True:
        serial = secrets.token_hex(8).upper()
        if serial[0] != "0" and serial not in sim.state.certificates:
            return serial


def process(sim):
    """Finish every enrolment whose delay has passed (issue or reject), oldest first."""
    now = sim.clock.now()
    due = sorted(
        (e for e in sim.state.enrollments.values() if e.status_code == 100 and now >= e.ready_at),
        key=lambda e: e.created,
    )
    for enrollment in due:
        _finish(sim, enrollment, now)


def _finish(sim, enrollment, now):
    for record in sim.state.certificates.values():
        if record.spki == enrollment.spki and not _same_subject(record.subject, enrollment.subject):
            _reject(enrollment, KEY_TAKEN)
            return
    limit = _limits_of(sim, enrollment.subject)[1]
    if len(_active_of(sim, enrollment.subject, now)) >= limit:
        _reject(enrollment, LIMIT_REACHED)
        return
    request = x509.load_der_x509_csr(enrollment.csr_der)
    valid_from = enrollment.valid_from if enrollment.valid_from is not None else now
    valid_to = valid_from + sim.config.certificate_validity_days * 86400
    serial = _new_serial(sim)
    certificate = sim.ca.issue(
        request.subject,
        request.public_key(),
        serial,
        valid_from,
        valid_to,
        enrollment.certificate_type,
    )
    common_name = request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    sim.state.certificates[serial] = CertificateRecord(
        serial=serial,
        name=enrollment.name,
        certificate_type=enrollment.certificate_type,
        subject=enrollment.subject,
        common_name=common_name[0].value if common_name else "",
        der=certificate.public_bytes(serialization.Encoding.DER),
        spki=enrollment.spki,
        valid_from=valid_from,
        valid_to=valid_to,
        request_date=enrollment.created,
        seq=len(sim.state.certificates),
    )
    enrollment.status_code, enrollment.status_description = ISSUED
    enrollment.serial = serial


def _reject(enrollment, detail):
    enrollment.status_code = 400
    enrollment.status_description = REJECTED
    enrollment.status_details = (detail,)


def _parse_csr(text):
    """The CSR of the request, or 25004 when it is not base64 DER PKCS#10 signed right."""
    try:
        der = base64.b64decode(text.strip().encode("ascii"), validate=True)
        request = x509.load_der_x509_csr(der)
        valid = request.is_signature_valid
    except (binascii.Error, ValueError, UnicodeEncodeError, TypeError):
        raise errors.bad_request(25004, "Wniosek nie jest poprawnym CSR PKCS#10 (DER).") from None
    except Exception:  # an unsupported key or algorithm inside a parsable CSR
        raise errors.bad_request(25004, "Nie można zweryfikować podpisu CSR.") from None
    if not valid:
        raise errors.bad_request(25004, "Podpis CSR jest nieprawidłowy.")
    return der, request


def _check_key(request):
    try:
        key = request.public_key()
    except Exception:
        raise errors.bad_request(25010, "Nieobsługiwany typ klucza.") from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size != 2048:
            raise errors.bad_request(25010, f"Klucz RSA ma {key.key_size} bitów (wymagane 2048).")
        return key
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise errors.bad_request(25010, "Dozwolona jest tylko krzywa P-256 (secp256r1).")
        return key
    raise errors.bad_request(25010, "Dozwolone są klucze RSA 2048 i EC P-256.")


def _check_subject(request, expected):
    allowed = {oid.dotted_string for _field, oid in csr_module.ENROLLMENT_OIDS}
    seen = set()
    for attribute in request.subject:
        oid = attribute.oid.dotted_string
        if oid not in allowed or oid in seen:
            raise errors.bad_request(
                25003, "CSR zawiera atrybut spoza danych do wniosku certyfikacyjnego."
            )
        seen.add(oid)
    if csr_module.enrollment_data_of(request.subject) != expected:
        raise errors.bad_request(
            25003, "Dane podmiotu w CSR różnią się od danych do wniosku certyfikacyjnego."
        )


def _date_arg(body, name, required=False):
    value = body.get(name)
    if value is None:
        if required:
            raise errors.validation(f"Pole {name} jest wymagane.")
        return None
    try:
        return parse_iso(value)
    except (ValueError, TypeError):
        raise errors.validation(f"Pole {name} musi być datą i czasem (ISO 8601).") from None


def _serial_param(req):
    serial = req.params["ref"]
    if not SERIAL_RE.match(serial):
        raise errors.validation("Numer seryjny certyfikatu musi mieć 16 znaków [0-9A-F].")
    return serial


# --- endpoints --------------------------------------------------------------------------------


def limits(sim, req):
    process(sim)
    subject = _subject(req)
    max_enrollments, max_certificates = _limits_of(sim, subject)
    enrollment_remaining = max(0, max_enrollments - len(_enrollments_of(sim, subject)))
    certificate_remaining = max(
        0, max_certificates - len(_active_of(sim, subject, sim.clock.now()))
    )
    return Response(
        200,
        {
            "canRequest": bool(enrollment_remaining and certificate_remaining)
            and not req.principal.is_token_session,
            "enrollment": {"remaining": enrollment_remaining, "limit": max_enrollments},
            "certificate": {"remaining": certificate_remaining, "limit": max_certificates},
        },
    )


def enrollment_data(sim, req):
    operation = req.principal.operation
    if req.principal.is_token_session or operation.enrollment_data is None:
        raise errors.bad_request(25001, "Sesja uwierzytelniona tokenem KSeF.")
    return Response(200, _enrollment_json(operation.enrollment_data))


def enroll(sim, req):
    operation = req.principal.operation
    if req.principal.is_token_session or operation.enrollment_data is None:
        raise errors.bad_request(25002, "Sesja uwierzytelniona tokenem KSeF.")
    body = req.json()
    text = body.get("csr")
    if not isinstance(text, str) or not text.strip():
        raise errors.validation("Pole csr jest wymagane.")
    der, request = _parse_csr(text)
    key = _check_key(request)
    if request.signature_algorithm_oid.dotted_string not in ALLOWED_SIGNATURE_OIDS:
        raise errors.bad_request(25011, "Niedozwolony algorytm podpisu CSR.")
    _check_subject(request, operation.enrollment_data)
    subject = _subject(req)
    process(sim)
    now = sim.clock.now()
    max_enrollments, max_certificates = _limits_of(sim, subject)
    if len(_enrollments_of(sim, subject)) >= max_enrollments:
        raise errors.bad_request(25006)
    if len(_active_of(sim, subject, now)) >= max_certificates:
        raise errors.bad_request(25007)
    name = body.get("certificateName")
    if not isinstance(name, str) or not 5 <= len(name) <= 100 or not NAME_RE.match(name):
        raise errors.validation(
            "Pole certificateName musi mieć 5–100 znaków [a-zA-Z0-9_- ąćęłńóśźżĄĆĘŁŃÓŚŹŻ]."
        )
    certificate_type = body.get("certificateType")
    if certificate_type not in CERTIFICATE_TYPES:
        raise errors.validation(
            "Pole certificateType musi mieć wartość Authentication lub Offline."
        )
    valid_from = _date_arg(body, "validFrom")
    reference = new_reference("EH", now)
    sim.state.enrollments[reference] = EnrollmentRecord(
        reference_number=reference,
        subject=subject,
        name=name,
        certificate_type=certificate_type,
        csr_der=der,
        spki=_spki(key),
        created=now,
        ready_at=now + sim.config.enrollment_delay,
        valid_from=valid_from,
    )
    return Response(202, {"referenceNumber": reference, "timestamp": iso(now)})


def enrollment_status(sim, req):
    reference = req.params["ref"]
    if not REFERENCE_RE.match(reference):
        raise errors.validation("Nieprawidłowy numer referencyjny.")
    process(sim)
    enrollment = sim.state.enrollments.get(reference)
    if enrollment is None or not _mine(sim, enrollment, _subject(req)):
        raise errors.bad_request(25005)
    if sim.clock.now() - enrollment.created > sim.config.enrollment_retention:
        raise errors.Gone()
    status = {"code": enrollment.status_code, "description": enrollment.status_description}
    if enrollment.status_details:
        status["details"] = list(enrollment.status_details)
    body = {"requestDate": iso(enrollment.created), "status": status}
    if enrollment.serial:
        body["certificateSerialNumber"] = enrollment.serial
    return Response(200, body)


def retrieve(sim, req):
    process(sim)
    body = req.json()
    serials = body.get("certificateSerialNumbers")
    if not isinstance(serials, list) or not 1 <= len(serials) <= 10:
        raise errors.validation("Pole certificateSerialNumbers musi być listą 1–10 elementów.")
    if not all(isinstance(s, str) and SERIAL_RE.match(s) for s in serials):
        raise errors.validation("Numer seryjny certyfikatu musi mieć 16 znaków [0-9A-F].")
    subject = _subject(req)
    found = []
    for serial in dict.fromkeys(serials):
        record = sim.state.certificates.get(serial)
        if record is not None and _mine(sim, record, subject):
            found.append(
                {
                    "certificate": base64.b64encode(record.der).decode("ascii"),
                    "certificateName": record.name,
                    "certificateSerialNumber": record.serial,
                    "certificateType": record.certificate_type,
                }
            )
    return Response(200, {"certificates": found})


def query(sim, req):
    process(sim)
    page_size = req.int_arg("pageSize", 10, 10, 50)
    page_offset = req.int_arg("pageOffset", 0, 0, 2**31 - 1)
    body = req.json(required=False)
    serial = body.get("certificateSerialNumber")
    if serial is not None and not (isinstance(serial, str) and SERIAL_RE.match(serial)):
        raise errors.validation("Numer seryjny certyfikatu musi mieć 16 znaków [0-9A-F].")
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise errors.validation("Pole name musi być tekstem.")
    certificate_type = body.get("type")
    if certificate_type is not None and certificate_type not in CERTIFICATE_TYPES:
        raise errors.validation("Pole type musi mieć wartość Authentication lub Offline.")
    status = body.get("status")
    if status is not None and status not in STATUSES:
        raise errors.validation(
            "Pole status musi mieć wartość Active, Blocked, Revoked lub Expired."
        )
    expires_after = _date_arg(body, "expiresAfter")
    now = sim.clock.now()
    subject = _subject(req)
    records = [
        r
        for r in sim.state.certificates.values()
        if _mine(sim, r, subject)
        and (serial is None or r.serial == serial)
        and (not name or name.lower() in r.name.lower())
        and (certificate_type is None or r.certificate_type == certificate_type)
        and (status is None or r.effective_status(now) == status)
        and (expires_after is None or r.valid_to > expires_after)
    ]
    records.sort(key=lambda r: (r.request_date, r.seq), reverse=True)
    start = page_offset * page_size
    page = records[start : start + page_size]
    return Response(
        200,
        {
            "certificates": [r.to_json(now) for r in page],
            "hasMore": len(records) > start + page_size,
        },
    )


def revoke(sim, req):
    if req.principal.is_token_session:
        raise errors.Forbidden("auth-method-not-allowed")
    serial = _serial_param(req)
    body = req.json(required=False)
    reason = body.get("revocationReason")
    if reason is not None and reason not in REVOCATION_REASONS:
        raise errors.validation(
            "Pole revocationReason musi mieć wartość Unspecified, Superseded lub KeyCompromise."
        )
    process(sim)
    record = sim.state.certificates.get(serial)
    if record is None or not _mine(sim, record, _subject(req)):
        raise errors.bad_request(25008)
    if record.effective_status(sim.clock.now()) != "Active":
        raise errors.bad_request(25009)
    record.status = "Revoked"
    record.revocation_reason = reason or "Unspecified"
    return Response(204)


def testdata_update(sim, req):
    """``PUT /testdata/certificates/{serial}``: shorten ``validTo`` (never lengthen it)."""
    serial = _serial_param(req)
    body = req.json()
    valid_to = _date_arg(body, "validTo", required=True)
    process(sim)
    record = sim.state.certificates.get(serial)
    if record is None or not _mine(sim, record, _subject(req)):
        raise errors.bad_request(25008)
    if valid_to > record.valid_to:
        raise errors.validation("Nowa data ważności nie może być późniejsza niż obecna.")
    record.valid_to = valid_to
    return Response(200)


# --- XAdES login with a KSeF certificate ---------------------------------------------------------

BAD_CERT = "Uwierzytelnianie zakończone niepowodzeniem z powodu błędu certyfikatu"


@dataclasses.dataclass(frozen=True)
class InternalLogin:
    """A login signed with a certificate of the simulator CA: who, and the refusal if any."""

    record: CertificateRecord | None
    outcome: tuple | None  # (460, description, details) or None when usable


def internal_login(sim, certificate):
    """``None`` when ``certificate`` is not one the simulator CA issued, else
    :class:`InternalLogin` (status 460 for an unknown, Offline, Blocked, Revoked or expired
    certificate). Marks the certificate used when it is usable."""
    if not sim.ca.issued(certificate):
        return None
    process(sim)
    serial = f"{certificate.serial_number:016X}"
    record = sim.state.certificates.get(serial)
    now = sim.clock.now()
    if record is None:
        return InternalLogin(None, (460, BAD_CERT, ("Nieznany certyfikat KSeF.",)))
    if record.certificate_type != "Authentication":
        detail = "Certyfikat KSeF typu Offline nie służy do uwierzytelnienia."
        return InternalLogin(record, (460, BAD_CERT, (detail,)))
    status = record.effective_status(now)
    if status != "Active" or now < record.valid_from:
        detail = {
            "Revoked": "Certyfikat KSeF unieważniony.",
            "Blocked": "Certyfikat KSeF zablokowany.",
            "Expired": "Certyfikat KSeF wygasł.",
        }.get(status, "Certyfikat KSeF nie jest jeszcze ważny.")
        return InternalLogin(record, (460, BAD_CERT, (detail,)))
    record.last_use = now
    return InternalLogin(record, None)
