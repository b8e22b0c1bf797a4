"""The KSeF client against ``openapi-latest.json`` (API 2.8.1; answers also against 2.6.0
where compatible), in both directions.

* every request the client can send names a documented operation, sends only documented query
  parameters and ``x-`` headers with values their schemas accept, a body that validates against
  the operation's request schema, and a bearer token exactly where the operation declares one;
* the client parses the response examples of the spec;
* the response validator used by the simulator-backed tests really rejects non-conforming
  answers (so that a clean run of those tests means something);
* a sweep of every client operation against the simulator, over HTTP, with every answer
  validated.
"""

import base64
import json
import sys
import types
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import pytest

import ksef
from ksef.client import KsefClient
from ksef.models import AuthorizationPolicy, Challenge, Identifier

# the helpers module asserts, so have pytest rewrite it before it is first imported
pytest.register_assert_rewrite("client_fixtures")
from client_fixtures import FakeTransport, OpenApiRecorder  # noqa: E402

# the shared client fixtures: spec, recorder, make_client, http_client, no_sleep, owner
pytest_plugins = ["client_fixtures"]

BASE = "http://ksef.invalid/v2"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJ0eXAiOiJBY2Nlc3MifQ.c2lnbmF0dXJlLW9mLXRoZS1qd3Q"
TOKEN_REF = "20251010-EC-1DCE3E3000-12ECB5B36E-45"
AUTH_REF = "20250514-AU-2DFC46C000-3AC6D5877F-D4"
SECRET = "919f704466624ce29cd5ac7b65ded5e7cccc112eee314f2aaa76e02cd16df7b9"
KSEF_TOKEN = f"{TOKEN_REF}|nip-5265877635|{SECRET}"
CONTEXT = Identifier("Nip", "5265877635")
CERTIFICATES = [
    {
        "certificate": base64.b64encode(b"0\x82\x01\n").decode(),
        "certificateId": "35k6IVMTxUPZKQdg4Fbx36T5/v3aoJK5hIY7sS7mt3U=",
        "publicKeyId": "QIoAK/Yc3s27Z4t3SZY4Mhp8JNLH7Vl4N3lNlJAEig8=",
        "validFrom": "2024-07-11T12:23:56.0154302+00:00",
        "validTo": "2028-07-11T12:23:56.0154302+00:00",
        "usage": ["KsefTokenEncryption"],
    }
]
STANDARD_HEADERS = {
    "accept",
    "accept-encoding",
    "authorization",
    "connection",
    "content-length",
    "content-type",
    "user-agent",
    "x-error-format",  # documented in every operation's description
}


@pytest.fixture
def stub_crypto(monkeypatch):
    """Token encryption is the crypto module's business; here only the request shape counts."""
    stub = types.SimpleNamespace(
        select_token_encryption_certificate=lambda certificates, now=None: certificates[0],
        encrypt_ksef_token=lambda token, ms, cert: base64.b64encode(b"\x01" * 256).decode(),
    )
    monkeypatch.setattr(ksef, "crypto", stub, raising=False)
    monkeypatch.setitem(sys.modules, "ksef.crypto", stub)


def example(spec, method, template, status=None):
    """The (first) example of the operation's success response."""
    operation = spec.document["paths"][template][method.lower()]
    status = status or next(s for s in operation["responses"] if s.startswith("2"))
    content = (operation["responses"][status].get("content") or {}).get("application/json", {})
    if "example" in content:
        return status, content["example"]
    examples = content.get("examples") or {}
    if examples:
        return status, next(iter(examples.values()))["value"]
    return status, None


CHALLENGE = Challenge("20250514-CR-226FB7B000-3ACF9BE4C0-10", None, 1759324852991)
POLICY = AuthorizationPolicy(ip4_addresses=("203.0.113.7",), ip4_masks=("10.0.0.0/8",))

# (name, HTTP method, spec path template, concrete path, client call)
OPERATIONS = [
    ("challenge", "POST", "/auth/challenge", "/auth/challenge", lambda c: c.get_challenge()),
    (
        "certificates",
        "GET",
        "/security/public-key-certificates",
        "/security/public-key-certificates",
        lambda c: c.get_public_key_certificates(refresh=True),
    ),
    (
        "xades",
        "POST",
        "/auth/xades-signature",
        "/auth/xades-signature",
        lambda c: c.submit_xades_signature(b"<AuthTokenRequest/>", verify_certificate_chain=True),
    ),
    (
        "ksef-token",
        "POST",
        "/auth/ksef-token",
        "/auth/ksef-token",
        lambda c: c.submit_ksef_token(CHALLENGE, CONTEXT, KSEF_TOKEN, authorization_policy=POLICY),
    ),
    (
        "auth-status",
        "GET",
        "/auth/{referenceNumber}",
        f"/auth/{AUTH_REF}",
        lambda c: c.get_auth_status(AUTH_REF, JWT),
    ),
    ("redeem", "POST", "/auth/token/redeem", "/auth/token/redeem", lambda c: c.redeem_token(JWT)),
    (
        "refresh",
        "POST",
        "/auth/token/refresh",
        "/auth/token/refresh",
        lambda c: c.refresh_access_token(JWT),
    ),
    (
        "sessions",
        "GET",
        "/auth/sessions",
        "/auth/sessions",
        lambda c: c.list_auth_sessions(JWT, page_size=10, continuation_token="W3t9XQ=="),
    ),
    (
        "revoke-current",
        "DELETE",
        "/auth/sessions/current",
        "/auth/sessions/current",
        lambda c: c.revoke_current_session(JWT),
    ),
    (
        "revoke-session",
        "DELETE",
        "/auth/sessions/{referenceNumber}",
        f"/auth/sessions/{AUTH_REF}",
        lambda c: c.revoke_auth_session(JWT, AUTH_REF),
    ),
    (
        "generate-token",
        "POST",
        "/tokens",
        "/tokens",
        lambda c: c.generate_token(JWT, ["InvoiceRead", "InvoiceWrite"], "Odoo: faktury"),
    ),
    (
        "list-tokens",
        "GET",
        "/tokens",
        "/tokens",
        lambda c: c.list_tokens(
            JWT,
            statuses=["Active", "Revoked"],
            description="Odoo",
            author_identifier="5265",
            author_identifier_type="Nip",
            page_size=100,
            continuation_token="W3t9XQ==",
        ),
    ),
    (
        "get-token",
        "GET",
        "/tokens/{referenceNumber}",
        f"/tokens/{TOKEN_REF}",
        lambda c: c.get_token(JWT, TOKEN_REF),
    ),
    (
        "revoke-token",
        "DELETE",
        "/tokens/{referenceNumber}",
        f"/tokens/{TOKEN_REF}",
        lambda c: c.revoke_token(JWT, TOKEN_REF),
    ),
    (
        "personal-grants",
        "POST",
        "/permissions/query/personal/grants",
        "/permissions/query/personal/grants",
        lambda c: c.query_personal_grants(JWT, context=CONTEXT),
    ),
    ("rate-limits", "GET", "/rate-limits", "/rate-limits", lambda c: c.get_rate_limits(JWT)),
    (
        "context-limits",
        "GET",
        "/limits/context",
        "/limits/context",
        lambda c: c.get_context_limits(JWT),
    ),
    (
        "subject-limits",
        "GET",
        "/limits/subject",
        "/limits/subject",
        lambda c: c.get_subject_limits(JWT),
    ),
    (
        "subunit-grant",
        "POST",
        "/permissions/subunits/grants",
        "/permissions/subunits/grants",
        lambda c: c.grant_subunit_administrator(
            JWT,
            Identifier("InternalId", "5265877635-00017"),
            Identifier("Pesel", "90010112345"),
            "Administrator oddziału",
            subunit_name="Oddział Kraków",
        ),
    ),
    (
        "invoice-metadata",
        "POST",
        "/invoices/query/metadata",
        "/invoices/query/metadata",
        lambda c: c.query_invoice_metadata(
            JWT,
            subject_type="Subject1",
            date_from="2025-08-28T09:22:13.388+00:00",
            date_to="2025-09-28T09:24:13.388+00:00",
            page_size=250,
            sort_order="Desc",
        ),
    ),
]

EH_REF = "20251010-EH-1B6C9EB000-4B15D3AEB9-89"
CERT_SERIAL = "0321C82DA41B4362"
#: answers for operations whose spec has no example
NO_EXAMPLE_BODIES = {
    "/certificates/limits": {
        "canRequest": True,
        "enrollment": {"remaining": 299, "limit": 300},
        "certificate": {"remaining": 99, "limit": 100},
    },
}
OPERATIONS += [
    (
        "certificate-limits",
        "GET",
        "/certificates/limits",
        "/certificates/limits",
        lambda c: c.get_certificate_limits(JWT),
    ),
    (
        "enrollment-data",
        "GET",
        "/certificates/enrollments/data",
        "/certificates/enrollments/data",
        lambda c: c.get_enrollment_data(JWT),
    ),
    (
        "enroll",
        "POST",
        "/certificates/enrollments",
        "/certificates/enrollments",
        lambda c: c.enroll_certificate(
            JWT,
            "Certyfikat-Auth 004 ąę",
            "Offline",
            b"0\x82\x03&0\x82\x01\xde\x02\x01\x00",
            valid_from=datetime(2025, 8, 28, 9, 22, 13, tzinfo=timezone.utc),
        ),
    ),
    (
        "enrollment-status",
        "GET",
        "/certificates/enrollments/{referenceNumber}",
        f"/certificates/enrollments/{EH_REF}",
        lambda c: c.get_enrollment_status(JWT, EH_REF),
    ),
    (
        "retrieve-certificates",
        "POST",
        "/certificates/retrieve",
        "/certificates/retrieve",
        lambda c: c.retrieve_certificates(JWT, [CERT_SERIAL, "0321F21DA462A362"]),
    ),
    (
        "query-certificates",
        "POST",
        "/certificates/query",
        "/certificates/query",
        lambda c: c.query_certificates(
            JWT,
            serial_number=CERT_SERIAL,
            name="Cert",
            certificate_type="Authentication",
            status="Active",
            expires_after=datetime(2026, 1, 1, tzinfo=timezone.utc),
            page_size=10,
            page_offset=2,
        ),
    ),
    (
        "revoke-certificate",
        "POST",
        "/certificates/{certificateSerialNumber}/revoke",
        f"/certificates/{CERT_SERIAL}/revoke",
        lambda c: c.revoke_certificate(JWT, CERT_SERIAL, "KeyCompromise"),
    ),
    (
        "update-test-certificate",
        "PUT",
        "/testdata/certificates/{serialNumber}",
        f"/testdata/certificates/{CERT_SERIAL}",
        lambda c: c.update_test_certificate(
            JWT, CERT_SERIAL, datetime(2026, 1, 1, tzinfo=timezone.utc)
        ),
    ),
]
IDS = [case[0] for case in OPERATIONS]


def scripted_client(spec, method, template, path):
    """A client whose transport answers ``method path`` with the spec's example."""
    fake = FakeTransport()
    status, body = example(spec, method, template)
    if template == "/security/public-key-certificates":
        body = CERTIFICATES  # the spec's example certificate is truncated ("MIIB...")
    body = NO_EXAMPLE_BODIES.get(template, body)
    fake.add(method, path, int(status), body)
    fake.add("GET", "/security/public-key-certificates", 200, CERTIFICATES)
    return KsefClient(BASE, session=fake.session()), fake


def _coerce(value, schema):
    kind = schema.get("type")
    if kind == "integer":
        return int(value)
    if kind == "boolean":
        return {"true": True, "false": False}.get(value, value)
    return value


def request_problems(spec, request):
    """Everything in one prepared request that the spec does not document."""
    url = urlsplit(request.url)
    found = spec.operation(request.method, url.path)
    if found is None:
        return [f"{request.method} {url.path}: no such operation"]
    template, operation = found
    where = f"{request.method} {template}"
    params = {p["name"]: p for p in operation.get("parameters", [])}
    problems = []
    query = {}
    for name, value in parse_qsl(url.query, keep_blank_values=True):
        query.setdefault(name, []).append(value)
    for name, values in query.items():
        param = params.get(name)
        if param is None or param["in"] != "query":
            problems.append(f"{where}: undocumented query parameter {name}")
            continue
        schema = param["schema"]
        if schema.get("type") == "array":
            items = [_coerce(v, schema["items"]) for v in values]
            problems += spec.validate(schema, items, f"{where} ?{name}")
        else:
            problems += [f"{where}: {name} repeated"] if len(values) > 1 else []
            value = _coerce(values[0], _resolve(spec, schema))
            problems += spec.validate(schema, value, f"{where} ?{name}")
    declared_headers = {n.lower() for n, p in params.items() if p["in"] == "header"}
    for header in request.headers:
        if header.lower() not in STANDARD_HEADERS and header.lower() not in declared_headers:
            problems.append(f"{where}: undocumented header {header}")
    segments = dict(zip(template.split("/"), url.path[len("/v2") :].split("/"), strict=False))
    for name, param in params.items():
        if param["in"] == "path":
            value = segments.get("{" + name + "}")
            problems += spec.validate(param["schema"], value, f"{where} path {name}")
    problems += _body_problems(spec, operation, request, where)
    wants_bearer = any("Bearer" in item for item in operation.get("security") or [])
    has_bearer = request.headers.get("Authorization", "").startswith("Bearer ")
    if wants_bearer != has_bearer:
        problems.append(f"{where}: bearer sent={has_bearer}, declared={wants_bearer}")
    return problems


def _resolve(spec, schema):
    """The schema itself, or the component an ``allOf [$ref]`` wrapper points to."""
    for ref in [schema.get("$ref")] + [s.get("$ref") for s in schema.get("allOf", [])]:
        if ref:
            return spec.document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


def _body_problems(spec, operation, request, where):
    body = request.body or b""
    declared = operation.get("requestBody")
    if not declared:
        return [f"{where}: body sent where the spec has none"] if body else []
    media = request.headers.get("Content-Type", "").split(";")[0]
    if media not in declared["content"]:
        return [f"{where}: content type {media!r} not in {sorted(declared['content'])}"]
    if declared.get("required") and not body:
        return [f"{where}: required body missing"]
    if not media.endswith("json"):
        return []
    return spec.validate(declared["content"][media]["schema"], json.loads(body), where)


# --- requests -----------------------------------------------------------------------------


@pytest.mark.parametrize("name, method, template, path, call", OPERATIONS, ids=IDS)
def test_requests_conform_to_the_spec(spec, stub_crypto, name, method, template, path, call):
    client, fake = scripted_client(spec, method, template, path)
    call(client)
    sent = [r for r, _kw in fake.requests if urlsplit(r.url).path == "/v2" + path]
    assert sent, "the operation was not called"
    for request in sent:
        assert request.method == method
        assert spec.operation(method, urlsplit(request.url).path)[0] == template
        assert request_problems(spec, request) == []


def test_every_client_endpoint_is_covered():
    """Each public method of the client that talks to KSeF appears in ``OPERATIONS``."""
    covered = {
        "get_challenge",
        "get_public_key_certificates",
        "submit_xades_signature",
        "submit_ksef_token",
        "get_auth_status",
        "redeem_token",
        "refresh_access_token",
        "list_auth_sessions",
        "revoke_current_session",
        "revoke_auth_session",
        "generate_token",
        "list_tokens",
        "get_token",
        "revoke_token",
        "query_personal_grants",
        "query_invoice_metadata",
        "get_rate_limits",
        "get_context_limits",
        "get_subject_limits",
        "grant_subunit_administrator",
        "get_certificate_limits",
        "get_enrollment_data",
        "enroll_certificate",
        "get_enrollment_status",
        "retrieve_certificates",
        "query_certificates",
        "revoke_certificate",
        "update_test_certificate",
    }
    composite = {
        "wait_for_enrollment",
        "iter_certificates",
        "iter_tokens",
        "wait_for_token_status",
        "wait_for_authentication",
        "authenticate_with_ksef_token",
        "prepare_auth_request",
        "authenticate_with_xades",
        "authenticate_with_certificate",
        "close",
    }
    public = {n for n in dir(KsefClient) if not n.startswith("_")}
    assert public == covered | composite


def test_request_checker_catches_mistakes(spec):
    """The checker is not vacuous: a wrong parameter, header, body or bearer is reported."""
    import requests

    bad = requests.Request(
        "GET",
        BASE + "/tokens?pageSize=5&sort=asc&status=Lost",
        headers={"x-continuation": "c"},
    ).prepare()
    problems = "\n".join(request_problems(spec, bad))
    for fragment in ("sort", "x-continuation", "pageSize", "Lost", "bearer sent=False"):
        assert fragment in problems
    body = requests.Request(
        "POST",
        BASE + "/tokens",
        json={"permissions": ["PefInvoiceWrite"], "description": "abc"},
        headers={"Authorization": "Bearer x"},
    ).prepare()
    problems = "\n".join(request_problems(spec, body))
    assert "PefInvoiceWrite" in problems and "too short" in problems


# --- responses ----------------------------------------------------------------------------


@pytest.mark.parametrize("name, method, template, path, call", OPERATIONS, ids=IDS)
def test_client_parses_the_spec_examples(spec, stub_crypto, name, method, template, path, call):
    client, _fake = scripted_client(spec, method, template, path)
    call(client)


@pytest.mark.parametrize(
    "label",
    [
        "Kod 100 | Uwierzytelnianie w toku",
        "Kod 200 | Uwierzytelnianie zakończone sukcesem",
        "Kod 500 | Nieznany błąd",
    ],
)
def test_auth_status_examples(spec, label):
    content = spec.document["paths"]["/auth/{referenceNumber}"]["get"]["responses"]["200"]
    body = content["content"]["application/json"]["examples"][label]["value"]
    fake = FakeTransport().add("GET", f"/auth/{AUTH_REF}", 200, body)
    status = KsefClient(BASE, session=fake.session()).get_auth_status(AUTH_REF, JWT)
    assert status.code == body["status"]["code"]


def test_response_validator_is_strict(spec):
    """Missing required fields, wrong types, bad formats and enums are all reported, while
    OpenAPI ``nullable`` fields accept ``null``."""
    _status, good = example(spec, "GET", "/tokens")
    good["tokens"][0]["lastUseDate"] = None
    assert (
        spec.response_problems("GET", "/v2/tokens", 200, "application/json", json.dumps(good)) == []
    )

    def problems(mutate):
        body = json.loads(json.dumps(good))
        mutate(body["tokens"][0])
        return spec.response_problems(
            "GET", "/v2/tokens", 200, "application/json", json.dumps(body)
        )

    assert problems(lambda t: t.pop("status"))
    assert problems(lambda t: t.update(status="Expired"))
    assert problems(lambda t: t.update(dateCreated="yesterday"))
    assert problems(lambda t: t.update(requestedPermissions="InvoiceRead"))
    assert problems(lambda t: t.update(description=None))
    assert spec.response_problems("GET", "/v2/tokens", 200, "text/html", b"<html>")
    assert spec.response_problems("GET", "/v2/tokens", 418, "application/json", b"{}")
    assert spec.response_problems("GET", "/v2/nowhere", 200, "application/json", b"{}")
    assert spec.response_problems("DELETE", "/v2/tokens/" + TOKEN_REF, 204, None, b"") == []
    assert spec.response_problems("GET", "/v2/tokens", 503, "text/plain", b"down") == []


def test_error_bodies_are_checked_too(spec):
    legacy = {"exception": {"exceptionDetailList": [{"exceptionCode": 21405}]}}
    problem = {
        "title": "Bad Request",
        "status": 400,
        "instance": "/v2/tokens",
        "detail": "x",
        "errors": [{"code": 21405, "description": "d"}],
        "timestamp": "2025-10-01T13:20:52Z",
        "traceId": "t",
    }
    ok = spec.response_problems("POST", "/v2/tokens", 400, "application/json", json.dumps(legacy))
    assert ok == []
    assert (
        spec.response_problems(
            "POST", "/v2/tokens", 400, "application/problem+json", json.dumps(problem)
        )
        == []
    )
    del problem["traceId"]
    assert spec.response_problems(
        "POST", "/v2/tokens", 400, "application/problem+json", json.dumps(problem)
    )
    forbidden = {
        "title": "Forbidden",
        "status": 403,
        "detail": "x",
        "timestamp": "2025-10-01T13:20:52Z",
    }
    assert spec.response_problems(
        "GET", "/v2/tokens", 403, "application/problem+json", json.dumps(forbidden)
    ), "reasonCode is required on 403"


def test_recorder_counts_and_flags(spec):
    recorder = OpenApiRecorder(spec)
    fake = FakeTransport().add("GET", "/tokens", 200, {"tokens": "nope"})
    fake.add("POST", "/auth/challenge", 429, {"status": {"code": 429}})
    session = recorder.install(fake.session())
    client = KsefClient(BASE, session=session)
    with pytest.raises(ksef.errors.KsefServerError):
        client.list_tokens(JWT)
    with pytest.raises(ksef.errors.KsefRateLimited):
        client.get_challenge()
    assert recorder.count("GET", "/tokens") == 1
    assert any("tokens" in p for p in recorder.problems)
    assert any("Retry-After" in p for p in recorder.problems)
    with pytest.raises(AssertionError):
        recorder.assert_clean()


# --- the simulator, over HTTP ---------------------------------------------------------------


@pytest.mark.parametrize("problem_details", [False, True], ids=["legacy", "problem-details"])
def test_sweep_of_every_operation_against_the_simulator(
    make_client, owner_cert, test_nip, sim, recorder, spec, problem_details
):
    """Each client operation once with success and once with an error answer; the
    ``recorder`` fixture fails the test if any answer does not conform to the spec."""
    from ksef import errors
    from ksef.identifiers import ContextIdentifier

    pytest.importorskip("ksef.xades")
    client = make_client(problem_details=problem_details)
    context = ContextIdentifier.nip(test_nip)
    sim.seed_invoices(test_nip, count=3)
    key, certificate = owner_cert
    owner = client.authenticate_with_certificate(context, key, certificate, poll_interval=0.01)
    generated = client.generate_token(owner.access_token, ["InvoiceRead"], "Sweep: tokeny")
    session = client.authenticate_with_ksef_token(generated.token, poll_interval=0.01)
    client.refresh_access_token(session.refresh_token)
    client.list_auth_sessions(owner.access_token, page_size=10)
    client.list_tokens(owner.access_token, statuses=["Active"], description="Sweep")
    client.get_token(owner.access_token, generated.reference_number)
    client.query_personal_grants(owner.access_token, context=context)
    client.get_rate_limits(owner.access_token)
    client.get_context_limits(owner.access_token)
    client.get_subject_limits(owner.access_token)
    from ksef.simulator.state import internal_id_with_check_digit

    branch = internal_id_with_check_digit(test_nip, "0001")
    client.grant_subunit_administrator(
        owner.access_token,
        Identifier("InternalId", branch),
        Identifier("Pesel", "90010112345"),
        "Administrator oddziału",
    )
    now = datetime.now(timezone.utc)
    invoices, _more, _truncated = client.query_invoice_metadata(
        session.access_token,
        subject_type="Subject1",
        date_from=now - timedelta(days=30),
        date_to=now + timedelta(days=1),
    )
    assert len(invoices) == 3
    other = sim.create_token(test_nip, test_nip, ["InvoiceRead"], "Sweep: inny").split("|")[0]
    client.revoke_auth_session(owner.access_token, session.reference_number)
    client.revoke_token(owner.access_token, generated.reference_number)

    failing = [
        lambda: client.list_tokens(owner.access_token, description="ab"),  # 400
        lambda: client.list_tokens("eyJhbGciOiJub25lIn0.e30.x"),  # 401
        lambda: client.redeem_token(session.access_token),  # wrong kind of token
        lambda: client.revoke_token(session.access_token, other),  # 403 missing-permissions
        lambda: client.get_token(owner.access_token, "20251010-EC-0000000000-0000000000-00"),
        lambda: client.generate_token(owner.access_token, ["EnforcementOperations"], "Sweep x"),
        lambda: client.submit_xades_signature(b"<AuthTokenRequest/>"),
        lambda: client.get_auth_status("20251010-AU-0000000000-0000000000-00", "x"),
        lambda: client.grant_subunit_administrator(  # wrong check digit: 21405
            owner.access_token,
            Identifier("InternalId", branch[:-1] + str((int(branch[-1]) + 1) % 10)),
            Identifier("Pesel", "90010112345"),
            "Administrator oddziału",
        ),
    ]
    # KSeF certificates: enrol with the owner's XAdES session, then use and revoke
    from ksef import csr

    limits = client.get_certificate_limits(owner.access_token)
    assert limits.can_request
    data = client.get_enrollment_data(owner.access_token)
    certificate_key = csr.generate_key("ec")
    enrollment = client.enroll_certificate(
        owner.access_token, "Sweep certyfikat", "Offline", csr.build_csr(certificate_key, data)
    )
    issued = client.get_enrollment_status(owner.access_token, enrollment)
    assert issued.issued
    assert client.retrieve_certificates(owner.access_token, [issued.serial_number])
    listed, _more = client.query_certificates(owner.access_token, status="Active", page_size=10)
    assert [c.serial_number for c in listed] == [issued.serial_number]
    client.update_test_certificate(
        owner.access_token, issued.serial_number, listed[0].valid_to - timedelta(days=1)
    )
    client.revoke_certificate(owner.access_token, issued.serial_number, "Superseded")
    failing += [
        lambda: client.get_enrollment_data(session.access_token),  # 25001: token session
        lambda: client.enroll_certificate(  # 25004: not a CSR
            owner.access_token, "Sweep certyfikat", "Offline", b"not a CSR"
        ),
        lambda: client.get_enrollment_status(owner.access_token, EH_REF),  # 25005
        lambda: client.revoke_certificate(owner.access_token, issued.serial_number),  # 25009
        lambda: client.revoke_certificate(owner.access_token, CERT_SERIAL),  # 25008
    ]
    for call in failing:
        with pytest.raises(errors.KsefApiError):
            call()
    client.revoke_current_session(owner.refresh_token)

    seen = {(m, spec.operation(m, p)[0]) for m, p, _s in recorder.calls}
    expected = {(method, template) for _name, method, template, _path, _call in OPERATIONS}
    assert expected <= seen


def test_limits_parse_the_2_6_and_the_2_8_shapes(spec, spec_2_6):
    """KSeF served the 2.6 shapes until 2.8.0: the client reads both."""
    old, _fake = scripted_client(spec_2_6, "GET", "/rate-limits", "/rate-limits")
    new, _fake = scripted_client(spec, "GET", "/rate-limits", "/rate-limits")
    before, after = old.get_rate_limits(JWT), new.get_rate_limits(JWT)
    assert "onlineSessionClose" not in before and before["other"] == (10, 30, 120)
    assert after["onlineSessionClose"] == (20, 60, 240)
    assert after["batchSessionClose"] == (20, 40, 120)
    assert after["anonymous"] == (60, None, None)
    assert after["global"] == (None, None, None)
    old, _fake = scripted_client(spec_2_6, "GET", "/limits/context", "/limits/context")
    new, _fake = scripted_client(spec, "GET", "/limits/context", "/limits/context")
    assert "collectiveIdentifier" not in old.get_context_limits(JWT)
    assert new.get_context_limits(JWT)["collectiveIdentifier"] == {"maxInvoices": 500}
