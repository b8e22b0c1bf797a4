"""XAdES authentication against the simulator over real HTTP (plain ``requests``).

The signature, the certificate validity and the challenge are verified for real (through
:mod:`ksef.xades`); malformed, hostile or unsigned documents get the documented 400 codes.
"""

import datetime

import pytest
from lxml import etree

from ksef.simulator.state import internal_id_with_check_digit
from ksef.simulator.testing import access_of

xades = pytest.importorskip("ksef.xades")


def _code(response):
    assert response.status_code == 400, response.text
    return response.json()["exception"]["exceptionDetailList"][0]["exceptionCode"]


def _status(raw, response):
    assert response.status_code == 202, response.text
    return raw.status(response.json())


def test_owner_person_certificate(raw, owner_cert, test_nip):
    status = _status(raw, raw.submit_xades(raw.signed_request(*owner_cert, test_nip)))
    assert status["status"]["code"] == 200
    assert status["authenticationMethod"] == "QualifiedSignature"
    assert status["authenticationMethodInfo"]["category"] == "XadesSignature"


def test_owner_seal_certificate(raw, seal_cert, test_nip):
    status = _status(raw, raw.submit_xades(raw.signed_request(*seal_cert, test_nip)))
    assert status["status"]["code"] == 200
    assert status["authenticationMethod"] == "QualifiedSeal"


def test_owner_of_a_branch_with_valid_check_digit(raw, owner_cert, test_nip):
    branch = internal_id_with_check_digit(test_nip, "1234")
    tokens = raw.login_with_certificate(*owner_cert, branch)
    assert raw.get("/tokens", bearer=access_of(tokens)).status_code == 200


def test_subject_without_permissions_gets_415_then_grant(raw, sim, other_person_cert, test_nip):
    status = _status(raw, raw.submit_xades(raw.signed_request(*other_person_cert, test_nip)))
    assert status["status"]["code"] == 415
    assert status["status"]["details"] == ["Brak przypisanych uprawnień"]
    sim.grant(test_nip, "7352765225", ["InvoiceRead"])
    status = _status(raw, raw.submit_xades(raw.signed_request(*other_person_cert, test_nip)))
    assert status["status"]["code"] == 200


def test_fingerprint_subject(raw, sim, other_person_cert, test_nip):
    from ksef import crypto

    signed = raw.signed_request(
        *other_person_cert, test_nip, subject_identifier_type="certificateFingerprint"
    )
    assert _status(raw, raw.submit_xades(signed))["status"]["code"] == 415
    fingerprint = crypto.certificate_fingerprint(other_person_cert[1])
    # the NIP of the certificate does not count with certificateFingerprint
    sim.grant(test_nip, "7352765225", ["InvoiceRead"])
    signed = raw.signed_request(
        *other_person_cert, test_nip, subject_identifier_type="certificateFingerprint"
    )
    assert _status(raw, raw.submit_xades(signed))["status"]["code"] == 415
    sim.grant(test_nip, fingerprint.lower(), ["InvoiceRead"])
    tokens = raw.login_with_certificate(
        *other_person_cert, test_nip, subject_identifier_type="certificateFingerprint"
    )
    created = raw.create_token(access_of(tokens), ["InvoiceRead"])
    info = raw.get(f"/tokens/{created['referenceNumber']}", bearer=access_of(tokens)).json()
    assert info["authorIdentifier"] == {"type": "Fingerprint", "value": fingerprint}


def test_tampered_document_is_bad_signature(raw, owner_cert, test_nip):
    signed = raw.signed_request(*owner_cert, test_nip)
    tampered = signed.replace(test_nip.encode(), b"7352765225", 1)
    assert _code(raw.submit_xades(tampered)) == 9105


def test_unsigned_document(raw, test_nip):
    from ksef.identifiers import ContextIdentifier

    xml = xades.build_auth_token_request(
        raw.challenge()["challenge"], ContextIdentifier.nip(test_nip)
    )
    assert _code(raw.submit_xades(xml)) == 9102


def test_two_signatures(raw, owner_cert, test_nip):
    signed = raw.signed_request(*owner_cert, test_nip)
    root = etree.fromstring(signed)
    signature = root[-1]
    root.append(etree.fromstring(etree.tostring(signature)))
    assert _code(raw.submit_xades(etree.tostring(root))) == 9103


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE AuthTokenRequest [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<AuthTokenRequest xmlns="http://ksef.mf.gov.pl/auth/token/2.0"><Challenge>&xxe;</Challenge></AuthTokenRequest>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<AuthTokenRequest xmlns="http://ksef.mf.gov.pl/auth/token/2.0"><Challenge>&lol3;</Challenge></AuthTokenRequest>"""


@pytest.mark.parametrize("document", [XXE, LAUGHS], ids=["xxe", "entity-expansion"])
def test_hostile_xml_is_refused(raw, document):
    response = raw.submit_xades(document)
    assert _code(response) == 9101
    assert "root:" not in response.text  # nothing of /etc/passwd


@pytest.mark.parametrize(
    "document, code",
    [
        (b"<not-closed", 21001),
        (b"\xff\xfe garbage \x00", 21001),
        (b"", 21001),
        (b'<?xml version="1.0"?><Other xmlns="urn:x"/>', 21401),
        (b"<a>" + b"x" * (300 * 1024) + b"</a>", 21001),
    ],
)
def test_unreadable_documents(raw, document, code):
    assert _code(raw.submit_xades(document)) == code


def test_body_over_the_simulator_cap(raw):
    assert _code(raw.submit_xades(b"<a>" + b"x" * (2 * 1024 * 1024) + b"</a>")) == 21001


def test_challenge_rules(raw, sim, owner_cert, test_nip):
    challenge = raw.challenge()
    assert (
        raw.submit_xades(raw.signed_request(*owner_cert, test_nip, challenge=challenge)).status_code
        == 202
    )
    assert (
        _code(raw.submit_xades(raw.signed_request(*owner_cert, test_nip, challenge=challenge)))
        == 21111
    )
    forged = {"challenge": "20250101-CR-0000000000-0000000000-00", "timestampMs": 0}
    assert (
        _code(raw.submit_xades(raw.signed_request(*owner_cert, test_nip, challenge=forged)))
        == 21111
    )
    stale = raw.signed_request(*owner_cert, test_nip)
    sim.advance(601)
    assert _code(raw.submit_xades(stale)) == 21111


def test_verify_certificate_chain_refuses_self_signed(raw, owner_cert, test_nip):
    response = raw.submit_xades(raw.signed_request(*owner_cert, test_nip), verify_chain=True)
    status = _status(raw, response)
    assert status["status"]["code"] == 460
    assert status["status"]["details"] == ["Niezaufany łańcuch certyfikatów."]
    bad = raw.post("/auth/xades-signature?verifyCertificateChain=maybe", data=b"<x/>")
    assert _code(bad) == 21405


def test_expired_certificate(raw, sim, owner_cert, test_nip):
    signed_later = raw.signed_request(*owner_cert, test_nip)
    validity = owner_cert[1].not_valid_after - datetime.datetime.utcnow()
    sim.advance(validity.total_seconds() + 86400)
    # the challenge expired too; a fresh one shows the certificate problem
    signed = raw.signed_request(*owner_cert, test_nip)
    assert _code(raw.submit_xades(signed)) == 21115
    assert signed_later  # (built before the jump)


def test_invalid_internal_id_check_digit(raw, owner_cert, test_nip):
    good = internal_id_with_check_digit(test_nip, "1234")
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    from ksef.identifiers import ContextIdentifier

    xml = xades.build_auth_token_request(
        raw.challenge()["challenge"], ContextIdentifier("InternalId", bad)
    )
    signed = xades.sign_auth_token_request(xml, *owner_cert)
    assert _code(raw.submit_xades(signed)) == 21405


def test_authorization_policy_in_the_signed_request(raw, owner_cert, test_nip):
    from ksef.models import AuthorizationPolicy

    policy = AuthorizationPolicy(ip4_addresses=("10.9.9.9",))
    tokens = raw.login_with_certificate(*owner_cert, test_nip, authorization_policy=policy)
    response = raw.get("/tokens", bearer=access_of(tokens))
    assert response.status_code == 403 and response.json()["reasonCode"] == "ip-not-allowed"


def test_problem_details_on_request(raw, test_nip):
    raw.problem_details = True
    response = raw.submit_xades(b"<not-closed")
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["errors"][0]["code"] == 21001
    assert body["instance"] == "/v2/auth/xades-signature"
