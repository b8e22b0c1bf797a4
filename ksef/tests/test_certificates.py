"""KSeF certificates (``/certificates/*``) end to end: the client over real HTTP against the
simulator (every answer validated against the official spec by ``recorder`` / ``raw``), the
simulator's refusals with their KSeF codes, and logging in with an issued certificate."""

import base64
from datetime import datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ksef import csr, errors, testing_certs
from ksef.identifiers import ContextIdentifier
from ksef.models import EnrollmentData, Identifier
from ksef.simulator.testing import access_of

pytest.importorskip("ksef.xades")
pytest.register_assert_rewrite("client_fixtures")
pytest_plugins = ["client_fixtures"]

OTHER_NIP = "7352765225"
PESEL = "90010112345"
EH_UNKNOWN = "20251010-EH-1B6C9EB000-4B15D3AEB9-89"


# --- helpers ---------------------------------------------------------------------------------


def _code(response, status=400):
    assert response.status_code == status, response.text
    return response.json()["exception"]["exceptionDetailList"][0]["exceptionCode"]


def _data_of(raw, access):
    response = raw.get("/certificates/enrollments/data", bearer=access)
    assert response.status_code == 200, response.text
    body = response.json()
    return EnrollmentData(
        common_name=body["commonName"],
        country_name=body["countryName"],
        given_name=body.get("givenName"),
        surname=body.get("surname"),
        serial_number=body.get("serialNumber"),
        unique_identifier=body.get("uniqueIdentifier"),
        organization_name=body.get("organizationName"),
        organization_identifier=body.get("organizationIdentifier"),
    )


def _enroll(raw, access, csr_der, *, name="Certyfikat testowy", certificate_type="Authentication"):
    return raw.post(
        "/certificates/enrollments",
        bearer=access,
        json={
            "certificateName": name,
            "certificateType": certificate_type,
            "csr": base64.b64encode(csr_der).decode("ascii"),
        },
    )


def _issue(raw, access, key=None, certificate_type="Authentication", name="Certyfikat testowy"):
    """Enrol over HTTP and return ``(serial, certificate, key)``."""
    key = key or csr.generate_key("ec")
    response = _enroll(
        raw,
        access,
        csr.build_csr(key, _data_of(raw, access)),
        name=name,
        certificate_type=certificate_type,
    )
    assert response.status_code == 202, response.text
    status = raw.get(
        f"/certificates/enrollments/{response.json()['referenceNumber']}", bearer=access
    ).json()
    assert status["status"]["code"] == 200, status
    serial = status["certificateSerialNumber"]
    body = raw.post(
        "/certificates/retrieve", bearer=access, json={"certificateSerialNumbers": [serial]}
    ).json()
    der = base64.b64decode(body["certificates"][0]["certificate"])
    return serial, x509.load_der_x509_certificate(der), key


def _login_status(raw, key, certificate, context, **kw):
    """The auth status JSON of a XAdES login (not redeemed)."""
    verify_chain = kw.pop("verify_chain", None)
    signed = raw.signed_request(key, certificate, context, **kw)
    response = raw.submit_xades(signed, verify_chain=verify_chain)
    assert response.status_code == 202, response.text
    return raw.status(response.json())


@pytest.fixture
def owner(raw, owner_cert, test_nip):
    """Access token of the owner's XAdES session (RSA person certificate, NIP)."""
    return access_of(raw.login_with_certificate(*owner_cert, test_nip))


@pytest.fixture
def token_session(raw, sim, test_nip):
    token = sim.create_token(test_nip, test_nip, ["InvoiceRead", "CredentialsManage"])
    return access_of(raw.login_with_token(token))


# --- the whole flow through the client ---------------------------------------------------------


@pytest.mark.parametrize("certificate_type", ["Authentication", "Offline"])
@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_enrolment_end_to_end(
    http_client, owner_cert, test_nip, no_sleep, sim, certificate_type, key_type
):
    key, certificate = owner_cert
    context = ContextIdentifier.nip(test_nip)
    session = http_client.authenticate_with_certificate(
        context, key, certificate, poll_interval=0.01, sleep=no_sleep
    )
    access = session.access_token
    limits = http_client.get_certificate_limits(access)
    assert limits.can_request
    assert (limits.enrollment_remaining, limits.enrollment_limit) == (300, 300)
    assert (limits.certificate_remaining, limits.certificate_limit) == (100, 100)
    data = http_client.get_enrollment_data(access)
    assert data == EnrollmentData(
        common_name="Jan Testowy",
        country_name="PL",
        given_name="Jan",
        surname="Testowy",
        serial_number=f"TINPL-{test_nip}",
    )
    new_key = csr.generate_key(key_type)
    reference = http_client.enroll_certificate(
        access, "Odoo certyfikat", certificate_type, csr.build_csr(new_key, data)
    )
    assert reference[9:11] == "EH"
    status = http_client.wait_for_enrollment(access, reference, poll_interval=0.01, sleep=no_sleep)
    assert status.issued and not status.pending and not status.failed
    assert status.request_date.tzinfo is not None
    serial = status.serial_number
    assert len(serial) == 16 and serial == serial.upper()
    [retrieved] = http_client.retrieve_certificates(access, [serial])
    assert (retrieved.serial_number, retrieved.certificate_type) == (serial, certificate_type)
    issued = x509.load_der_x509_certificate(retrieved.certificate_der)
    assert csr.certificate_type_of(issued) == certificate_type
    usage = issued.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature == (certificate_type == "Authentication")
    assert usage.content_commitment == (certificate_type == "Offline")
    assert issued.subject == csr.name_of(data)
    assert issued.issuer == sim.ca.certificate.subject
    assert f"{issued.serial_number:016X}" == serial
    assert issued.not_valid_after - issued.not_valid_before == timedelta(days=730)
    assert issued.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == new_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    [info] = http_client.query_certificates(access)[0]
    assert info.serial_number == serial and info.status == "Active"
    assert info.subject_identifier == Identifier("Nip", test_nip)
    assert info.common_name == "Jan Testowy"
    assert info.valid_to - info.valid_from == timedelta(days=730)
    after = http_client.get_certificate_limits(access)
    assert (after.enrollment_remaining, after.certificate_remaining) == (299, 99)


def test_login_with_issued_authentication_certificate(
    http_client, owner_cert, test_nip, no_sleep, sim
):
    context = ContextIdentifier.nip(test_nip)
    owner = http_client.authenticate_with_certificate(
        context, *owner_cert, poll_interval=0.01, sleep=no_sleep
    )
    data = http_client.get_enrollment_data(owner.access_token)
    for key_type in ("ec", "rsa"):
        key = csr.generate_key(key_type)
        reference = http_client.enroll_certificate(
            owner.access_token, f"Logowanie {key_type}", "Authentication", csr.build_csr(key, data)
        )
        serial = http_client.wait_for_enrollment(owner.access_token, reference).serial_number
        [retrieved] = http_client.retrieve_certificates(owner.access_token, serial)
        certificate = x509.load_der_x509_certificate(retrieved.certificate_der)
        # the CA is trusted: the chain check does not refuse it
        tokens = http_client.authenticate_with_certificate(
            context,
            key,
            certificate,
            verify_certificate_chain=True,
            poll_interval=0.01,
            sleep=no_sleep,
        )
        [session] = [
            s
            for s in http_client.list_auth_sessions(tokens.access_token)[0]
            if s.reference_number == tokens.reference_number
        ]
        assert session.authentication_method == "InternalCertificate"
        assert session.authentication_method_category == "XadesSignature"
        # the subject is the owner's NIP: the session holds the owner's permissions
        http_client.generate_token(tokens.access_token, ["InvoiceRead"], "Z certyfikatu KSeF")
        [info] = http_client.query_certificates(tokens.access_token, serial_number=serial)[0]
        assert info.last_use_date is not None
        # a session opened with a KSeF certificate may itself enrol (its DN is the same)
        assert http_client.get_enrollment_data(tokens.access_token) == data


def test_ec_person_certificate_logs_in_and_enrols(raw, test_nip):
    key, certificate = testing_certs.generate_test_certificate(test_nip, key_type="ec")
    access = access_of(raw.login_with_certificate(key, certificate, test_nip))
    serial, issued, _key = _issue(raw, access)
    assert csr.certificate_type_of(issued) == "Authentication"


# --- logging in with an issued certificate ----------------------------------------------------


def test_internal_certificate_status_and_permissions(raw, sim, owner, other_person_cert, test_nip):
    serial, certificate, key = _issue(raw, owner)
    status = _login_status(raw, key, certificate, test_nip, verify_chain=True)
    assert status["status"]["code"] == 200
    assert status["authenticationMethod"] == "InternalCertificate"
    assert status["authenticationMethodInfo"]["category"] == "XadesSignature"
    # a certificate of another person carries that person's identity: no rights here yet
    other = access_of(raw.login_with_certificate(*other_person_cert, OTHER_NIP))
    _serial, other_certificate, other_key = _issue(raw, other)
    status = _login_status(raw, other_key, other_certificate, test_nip)
    assert status["status"]["code"] == 415
    sim.grant(test_nip, OTHER_NIP, ["InvoiceRead"])
    status = _login_status(raw, other_key, other_certificate, test_nip)
    assert status["status"]["code"] == 200


@pytest.mark.parametrize("how", ["offline", "revoked", "blocked", "expired", "testdata"])
def test_unusable_certificates_end_with_460(raw, sim, owner, test_nip, how):
    certificate_type = "Offline" if how == "offline" else "Authentication"
    serial, certificate, key = _issue(raw, owner, certificate_type=certificate_type)
    if how == "revoked":
        assert raw.post(f"/certificates/{serial}/revoke", bearer=owner, json={}).status_code == 204
    elif how == "blocked":
        sim.set_certificate_status(serial, "Blocked")
    elif how == "expired":
        sim.set_certificate_valid_to(serial, sim.clock.now() - 1)
    elif how == "testdata":
        valid_to = (sim.clock.datetime() - timedelta(minutes=1)).isoformat()
        response = raw.put(
            f"/testdata/certificates/{serial}", bearer=owner, json={"validTo": valid_to}
        )
        assert response.status_code == 200, response.text
    status = _login_status(raw, key, certificate, test_nip)
    assert status["status"]["code"] == 460, status
    assert status["authenticationMethod"] == "InternalCertificate"
    assert status["status"]["details"]


def test_client_login_with_offline_certificate_fails(http_client, raw, owner, test_nip, no_sleep):
    _serial, certificate, key = _issue(raw, owner, certificate_type="Offline")
    with pytest.raises(errors.KsefAuthFailed) as caught:
        http_client.authenticate_with_certificate(
            ContextIdentifier.nip(test_nip), key, certificate, poll_interval=0.01, sleep=no_sleep
        )
    assert caught.value.status_code == 460


def test_certificate_of_a_forgotten_record_is_refused(raw, sim, owner, owner_cert, test_nip):
    _serial, certificate, key = _issue(raw, owner)
    sim.reset()  # the CA survives, the issued certificates do not
    status = _login_status(raw, key, certificate, test_nip)
    assert status["status"]["code"] == 460


# --- enrolment refusals -------------------------------------------------------------------------


def _rsa_csr(bits, data):
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(csr.name_of(data))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )


def _ec_csr(data, curve=None, algorithm=None, name=None):
    key = ec.generate_private_key(curve or ec.SECP256R1())
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(name or csr.name_of(data))
        .sign(key, algorithm or hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )


def test_every_csr_error_code(raw, owner):
    data = _data_of(raw, owner)
    good = csr.build_csr(csr.generate_key("ec"), data)
    tampered = good[:-1] + bytes([good[-1] ^ 0x01])
    cases = [
        (b"definitely not a CSR", 25004),
        (tampered, 25004),
        (_rsa_csr(1024, data), 25010),
        (_rsa_csr(3072, data), 25010),
        (_ec_csr(data, curve=ec.SECP384R1()), 25010),
        (_ec_csr(data, algorithm=hashes.SHA224()), 25011),
        (csr.build_csr(csr.generate_key("ec"), EnrollmentData("Ktoś Inny", "PL")), 25003),
        (
            _ec_csr(
                data,
                name=x509.Name(
                    list(csr.name_of(data))
                    + [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "IT")]
                ),
            ),
            25003,
        ),
    ]
    for der, code in cases:
        assert _code(_enroll(raw, owner, der)) == code, code
    # not base64 at all
    response = raw.post(
        "/certificates/enrollments",
        bearer=owner,
        json={"certificateName": "Certyfikat", "certificateType": "Offline", "csr": "%%%"},
    )
    assert _code(response) == 25004
    # the spec's validation error for the name and type, after the CSR checks
    for name, certificate_type in (("abc", "Offline"), ("Zły znak!", "Offline"), ("Dobra", "X")):
        response = _enroll(raw, owner, good, name=name, certificate_type=certificate_type)
        assert _code(response) == 21405
    assert _code(_enroll(raw, owner, b"junk", name="abc")) == 25004  # CSR checked first
    assert _enroll(raw, owner, good, name="Łódź_ąę-1 Ż").status_code == 202


def test_problem_details_codes(raw, owner):
    raw.problem_details = True
    response = _enroll(raw, owner, b"junk")
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["code"] == 25004


def test_enrolment_and_certificate_limits(raw, sim, owner):
    sim.config.certificate_limits = {"Nip": (3, 1)}
    _issue(raw, owner)
    limits = raw.get("/certificates/limits", bearer=owner).json()
    assert limits == {
        "canRequest": False,
        "enrollment": {"remaining": 2, "limit": 3},
        "certificate": {"remaining": 0, "limit": 1},
    }
    data = _data_of(raw, owner)
    assert _code(_enroll(raw, owner, csr.build_csr(csr.generate_key(), data))) == 25007
    sim.config.certificate_limits = {"Nip": (1, 5)}
    assert _code(_enroll(raw, owner, csr.build_csr(csr.generate_key(), data))) == 25006


def test_active_limit_reached_while_pending_rejects_in_the_status(raw, sim, owner):
    sim.config.certificate_limits = {"Nip": (10, 1)}
    sim.config.enrollment_delay = 5
    data = _data_of(raw, owner)
    first = _enroll(raw, owner, csr.build_csr(csr.generate_key(), data)).json()
    second = _enroll(raw, owner, csr.build_csr(csr.generate_key(), data)).json()
    sim.advance(5)
    codes = [
        raw.get(f"/certificates/enrollments/{e['referenceNumber']}", bearer=owner).json()
        for e in (first, second)
    ]
    assert codes[0]["status"]["code"] == 200
    assert codes[1]["status"]["code"] == 400
    assert codes[1]["status"]["details"] == [
        "Osiągnięto dopuszczalny limit posiadanych certyfikatów."
    ]
    assert "certificateSerialNumber" not in codes[1]


@pytest.mark.parametrize(
    "kind, limits", [("pesel", (12, 6)), ("fingerprint", (12, 6)), ("nip", (300, 100))]
)
def test_limits_by_subject_type(raw, sim, test_nip, kind, limits):
    if kind == "pesel":
        key, certificate = testing_certs.generate_test_certificate(pesel=PESEL)
        sim.link_person(test_nip, PESEL)
        access = access_of(raw.login_with_certificate(key, certificate, test_nip))
    elif kind == "fingerprint":
        key, certificate = testing_certs.generate_test_certificate(OTHER_NIP)
        from ksef import crypto

        sim.grant(test_nip, crypto.certificate_fingerprint(certificate), ["InvoiceRead"])
        access = access_of(
            raw.login_with_certificate(
                key, certificate, test_nip, subject_identifier_type="certificateFingerprint"
            )
        )
    else:
        key, certificate = testing_certs.generate_test_certificate(test_nip, kind="seal")
        access = access_of(raw.login_with_certificate(key, certificate, test_nip))
    body = raw.get("/certificates/limits", bearer=access).json()
    assert (body["enrollment"]["limit"], body["certificate"]["limit"]) == limits
    serial, issued, _key = _issue(raw, access)
    [info] = raw.post("/certificates/query", bearer=access, json={}).json()["certificates"]
    assert (
        info["subjectIdentifier"]["type"]
        == {
            "pesel": "Pesel",
            "fingerprint": "Fingerprint",
            "nip": "Nip",
        }[kind]
    )
    if kind == "nip":  # a company seal: O and organizationIdentifier in the DN
        assert issued.subject.get_attributes_for_oid(x509.ObjectIdentifier("2.5.4.97"))


def test_key_certified_for_another_subject_is_rejected(raw, owner, other_person_cert):
    key = csr.generate_key("ec")
    _issue(raw, owner, key=key)
    other = access_of(raw.login_with_certificate(*other_person_cert, OTHER_NIP))
    response = _enroll(raw, other, csr.build_csr(key, _data_of(raw, other)))
    assert response.status_code == 202
    status = raw.get(
        f"/certificates/enrollments/{response.json()['referenceNumber']}", bearer=other
    ).json()
    assert status["status"]["code"] == 400
    assert status["status"]["details"] == [
        "Klucz publiczny został już certyfikowany przez inny podmiot."
    ]
    # the same subject may certify its key twice (e.g. one Authentication, one Offline)
    _issue(raw, owner, key=key, certificate_type="Offline")


def test_token_session_is_refused(raw, token_session):
    assert _code(raw.get("/certificates/enrollments/data", bearer=token_session)) == 25001
    data = EnrollmentData("Jan Testowy", "PL")
    response = _enroll(raw, token_session, csr.build_csr(csr.generate_key(), data))
    assert _code(response) == 25002
    assert _code(_enroll(raw, token_session, b"junk", name="x")) == 25002  # checked first
    response = raw.post("/certificates/0321C82DA41B4362/revoke", bearer=token_session, json={})
    assert response.status_code == 403
    assert response.json()["reasonCode"] == "auth-method-not-allowed"
    limits = raw.get("/certificates/limits", bearer=token_session).json()
    assert limits["canRequest"] is False


def test_client_maps_the_refusals(http_client, raw, owner, token_session):
    with pytest.raises(errors.KsefBadRequest) as caught:
        http_client.get_enrollment_data(token_session)
    assert caught.value.codes == [25001]
    with pytest.raises(errors.KsefBadRequest) as caught:
        http_client.enroll_certificate(owner, "Certyfikat", "Offline", b"junk")
    assert caught.value.codes == [25004]
    with pytest.raises(errors.KsefBadRequest) as caught:
        http_client.get_enrollment_status(owner, EH_UNKNOWN)
    assert caught.value.codes == [25005]
    with pytest.raises(errors.KsefForbidden):
        http_client.revoke_certificate(token_session, "0321C82DA41B4362")


# --- enrolment status ---------------------------------------------------------------------------


def test_enrolment_delay_and_wait_timeout(http_client, raw, sim, owner, no_sleep):
    sim.config.enrollment_delay = 30
    data = http_client.get_enrollment_data(owner)
    reference = http_client.enroll_certificate(
        owner, "Z opóźnieniem", "Authentication", csr.build_csr(csr.generate_key(), data)
    )
    status = http_client.get_enrollment_status(owner, reference)
    assert status.pending and status.serial_number is None
    with pytest.raises(errors.KsefTimeout) as caught:
        http_client.wait_for_enrollment(
            owner, reference, poll_interval=1, timeout=3, sleep=no_sleep
        )
    assert isinstance(caught.value, errors.KsefAuthTimeout)
    assert caught.value.code == "enrollment_timeout"
    assert no_sleep.calls == [1, 1, 1]
    sim.advance(30)
    assert http_client.wait_for_enrollment(owner, reference, sleep=no_sleep).issued
    assert (
        sim.enrollments[-1]["serial"]
        == http_client.get_enrollment_status(owner, reference).serial_number
    )


def test_enrolment_status_visibility_and_retention(raw, sim, owner, other_person_cert):
    data = _data_of(raw, owner)
    reference = _enroll(raw, owner, csr.build_csr(csr.generate_key(), data)).json()[
        "referenceNumber"
    ]
    other = access_of(raw.login_with_certificate(*other_person_cert, OTHER_NIP))
    assert _code(raw.get(f"/certificates/enrollments/{reference}", bearer=other)) == 25005
    sim.advance(30 * 86400 + 1)
    fresh = access_of(raw.login_with_certificate(*raw_owner_cert(raw, sim)))
    response = raw.get(f"/certificates/enrollments/{reference}", bearer=fresh)
    assert response.status_code == 410


def raw_owner_cert(raw, sim):
    """A fresh owner certificate valid at the simulator's (advanced) time."""
    key, certificate = testing_certs.generate_test_certificate(
        "5265877635", not_before=sim.clock.datetime() - timedelta(minutes=5)
    )
    return key, certificate, "5265877635"


def test_valid_from_is_honoured(http_client, owner, sim):
    data = http_client.get_enrollment_data(owner)
    start = sim.clock.datetime().replace(microsecond=0) + timedelta(days=3)
    reference = http_client.enroll_certificate(
        owner, "Od jutra", "Offline", csr.build_csr(csr.generate_key(), data), valid_from=start
    )
    serial = http_client.wait_for_enrollment(owner, reference).serial_number
    [info] = http_client.query_certificates(owner, serial_number=serial)[0]
    assert info.valid_from == start
    assert info.valid_to == start + timedelta(days=730)


# --- query, retrieve, revoke --------------------------------------------------------------------


def _many(sim, test_nip, count, prefix="Seria", **kw):
    data = EnrollmentData("Jan Testowy", "PL", "Jan", "Testowy", serial_number=f"TINPL-{test_nip}")
    serials = []
    for i in range(count):
        serial, _certificate = sim.issue_certificate(
            test_nip, csr.generate_key(), data, name=f"{prefix} {i:02d}", **kw
        )
        serials.append(serial)
        sim.advance(1)
    return serials


def test_query_paging_and_sorting(http_client, sim, owner, test_nip):
    serials = _many(sim, test_nip, 12)
    page, more = http_client.query_certificates(owner, page_size=10)
    assert more and [c.serial_number for c in page] == serials[::-1][:10]
    page, more = http_client.query_certificates(owner, page_size=10, page_offset=1)
    assert not more and [c.serial_number for c in page] == serials[::-1][10:]
    assert [c.serial_number for c in http_client.iter_certificates(owner, page_size=10)] == serials[
        ::-1
    ]
    for bad in (9, 51):
        with pytest.raises(ValueError):
            http_client.query_certificates(owner, page_size=bad)


def test_query_paging_rules_on_the_wire(raw, owner):
    for size in ("9", "51"):
        response = raw.post("/certificates/query", bearer=owner, params={"pageSize": size}, json={})
        assert _code(response) == 21405
    response = raw.post("/certificates/query", bearer=owner)  # no body: no filter
    assert response.json() == {"certificates": [], "hasMore": False}


def test_query_filters(http_client, raw, sim, owner, test_nip):
    auth = _many(sim, test_nip, 3)
    offline = _many(sim, test_nip, 2, prefix="Offline", certificate_type="Offline")
    sim.set_certificate_status(auth[0], "Revoked")
    sim.set_certificate_valid_to(auth[1], sim.clock.now() - 1)
    sim.set_certificate_status(offline[0], "Blocked")

    def serials(**filters):
        return {c.serial_number for c in http_client.iter_certificates(owner, **filters)}

    assert serials() == set(auth + offline)
    assert serials(certificate_type="Offline") == set(offline)
    assert serials(status="Revoked") == {auth[0]}
    assert serials(status="Expired") == {auth[1]}
    assert serials(status="Blocked") == {offline[0]}
    assert serials(status="Active") == {auth[2], offline[1]}
    assert serials(serial_number=auth[2]) == {auth[2]}
    assert serials(name="seria 0") == set(auth)
    assert serials(name="line 01") == {offline[1]}
    assert serials(expires_after=sim.clock.datetime()) == set(auth + offline) - {auth[1]}
    assert serials(expires_after=sim.clock.datetime() + timedelta(days=800)) == set()
    for bad in ({"type": "Signing"}, {"status": "Gone"}, {"certificateSerialNumber": "abc"}):
        assert _code(raw.post("/certificates/query", bearer=owner, json=bad)) == 21405


def test_query_shows_only_the_callers_certificates(raw, sim, owner, other_person_cert, test_nip):
    mine = _many(sim, test_nip, 1)
    other = access_of(raw.login_with_certificate(*other_person_cert, OTHER_NIP))
    theirs, _certificate, _key = _issue(raw, other)
    listed = raw.post("/certificates/query", bearer=owner, json={}).json()["certificates"]
    assert [c["certificateSerialNumber"] for c in listed] == mine
    body = raw.post(
        "/certificates/retrieve", bearer=owner, json={"certificateSerialNumbers": [mine[0], theirs]}
    ).json()
    assert [c["certificateSerialNumber"] for c in body["certificates"]] == mine
    for bad in ([], ["abc"], ["0321C82DA41B4362"] * 11):
        response = raw.post(
            "/certificates/retrieve", bearer=owner, json={"certificateSerialNumbers": bad}
        )
        assert _code(response) == 21405


def test_revoke_rules(http_client, raw, sim, owner, other_person_cert, test_nip):
    first, second, third = _many(sim, test_nip, 3)
    http_client.revoke_certificate(owner, first, "KeyCompromise")
    assert sim.certificates[-1]["status"] == "Revoked"
    assert sim.certificates[-1]["revocationReason"] == "KeyCompromise"
    with pytest.raises(errors.KsefBadRequest) as caught:
        http_client.revoke_certificate(owner, first)
    assert caught.value.codes == [25009]
    sim.set_certificate_status(second, "Blocked")
    sim.set_certificate_valid_to(third, sim.clock.now() - 1)
    for serial in (second, third):
        assert _code(raw.post(f"/certificates/{serial}/revoke", bearer=owner, json={})) == 25009
    assert _code(raw.post("/certificates/0321C82DA41B4362/revoke", bearer=owner)) == 25008
    other = access_of(raw.login_with_certificate(*other_person_cert, OTHER_NIP))
    theirs, _certificate, _key = _issue(raw, other)
    assert _code(raw.post(f"/certificates/{theirs}/revoke", bearer=owner, json={})) == 25008
    response = raw.post(
        f"/certificates/{theirs}/revoke", bearer=other, json={"revocationReason": "Bored"}
    )
    assert _code(response) == 21405
    assert _code(raw.post("/certificates/abc/revoke", bearer=owner, json={})) == 21405
    assert raw.post(f"/certificates/{theirs}/revoke", bearer=other).status_code == 204


def test_pesel_linked_to_the_nip_may_revoke_the_nips_certificate(raw, sim, owner, test_nip):
    serial, _certificate, _key = _issue(raw, owner)
    sim.link_person(test_nip, PESEL)
    key, certificate = testing_certs.generate_test_certificate(pesel=PESEL)
    person = access_of(raw.login_with_certificate(key, certificate, test_nip))
    listed = raw.post("/certificates/query", bearer=person, json={}).json()["certificates"]
    assert [c["certificateSerialNumber"] for c in listed] == [serial]
    assert raw.post(f"/certificates/{serial}/revoke", bearer=person, json={}).status_code == 204


def test_testdata_valid_to(raw, sim, owner, test_nip):
    [serial] = _many(sim, test_nip, 1)
    [info] = raw.post("/certificates/query", bearer=owner, json={}).json()["certificates"]
    later = datetime.fromisoformat(info["validTo"]) + timedelta(days=1)
    path = f"/testdata/certificates/{serial}"
    assert _code(raw.put(path, bearer=owner, json={"validTo": later.isoformat()})) == 21405
    assert _code(raw.put(path, bearer=owner, json={})) == 21405
    unknown = "/testdata/certificates/0321C82DA41B4362"
    soon = sim.clock.datetime() + timedelta(hours=1)
    assert _code(raw.put(unknown, bearer=owner, json={"validTo": soon.isoformat()})) == 25008
    assert raw.put(path, bearer=owner, json={"validTo": soon.isoformat()}).status_code == 200
    sim.advance(3601)
    fresh = access_of(raw.login_with_certificate(*raw_owner_cert(raw, sim)))
    [info] = raw.post("/certificates/query", bearer=fresh, json={}).json()["certificates"]
    assert info["status"] == "Expired"


# --- client-side validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, fragment",
    [("abcd", "5 to 100"), ("x" * 101, "5 to 100"), ("Zły znak!", "'!'"), (None, "string")],
)
def test_client_checks_the_name(http_client, name, fragment):
    with pytest.raises(ValueError, match=fragment):
        http_client.enroll_certificate("jwt", name, "Offline", b"0")


def test_client_checks_the_other_values(http_client):
    with pytest.raises(ValueError, match="Authentication"):
        http_client.enroll_certificate("jwt", "Dobra nazwa", "Signing", b"0")
    with pytest.raises(ValueError, match="DER"):
        http_client.enroll_certificate("jwt", "Dobra nazwa", "Offline", "MIIB")
    with pytest.raises(ValueError, match="reason"):
        http_client.revoke_certificate("jwt", "0321C82DA41B4362", "Bored")
    for serial in ("0321c82da41b4362", "0321C82DA41B436", None):
        with pytest.raises(ValueError, match="serial"):
            http_client.revoke_certificate("jwt", serial)
    with pytest.raises(ValueError):
        http_client.retrieve_certificates("jwt", [])
    with pytest.raises(ValueError):
        http_client.retrieve_certificates("jwt", ["0321C82DA41B4362"] * 11)
    with pytest.raises(ValueError, match="status"):
        http_client.query_certificates("jwt", status="Gone")
    with pytest.raises(ValueError, match="page_offset"):
        http_client.query_certificates("jwt", page_offset=-1)


def test_rsa_pss_csr_is_accepted(raw, owner, tmp_path, test_nip):
    """KSeF allows RSA-PSS CSRs; ``cryptography`` cannot make one, the openssl CLI can."""
    import shutil
    import subprocess

    if not shutil.which("openssl"):
        pytest.skip("no openssl command")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    subject = f"/CN=Jan Testowy/C=PL/GN=Jan/SN=Testowy/serialNumber=TINPL-{test_nip}"
    command = ["openssl", "req", "-new", "-key", str(tmp_path / "key.pem"), "-subj", subject]
    command += ["-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]
    command += ["-outform", "DER", "-out", str(tmp_path / "csr.der")]
    subprocess.run(command, check=True, capture_output=True)
    der = (tmp_path / "csr.der").read_bytes()
    assert x509.load_der_x509_csr(der).signature_algorithm_oid.dotted_string == (
        "1.2.840.113549.1.1.10"
    )
    assert _enroll(raw, owner, der).status_code == 202
