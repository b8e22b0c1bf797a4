"""Unit tests of :mod:`ksef.client` against a scripted transport (no simulator needed).

They pin the contract the Odoo layer relies on: one timeout on every call, the error mapping
of every status and body format, fail-closed parsing, paging, polling, and that no secret
reaches a log record or an exception text.
"""

import json
import logging
import sys
import types
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests

import ksef
from ksef import errors
from ksef.client import DEFAULT_TIMEOUT, KsefClient, KsefTokenFailed, parse_datetime
from ksef.environments import ENVIRONMENTS
from ksef.models import AuthInit, AuthorizationPolicy, Identifier

# the helpers module asserts, so have pytest rewrite it before it is first imported
pytest.register_assert_rewrite("client_fixtures")
from client_fixtures import FakeTransport, assert_no_secrets  # noqa: E402

BASE = "http://ksef.invalid/v2"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJ0eXAiOiJBY2Nlc3MifQ.c2lnbmF0dXJlLW9mLXRoZS1qd3Q"
JWT2 = "eyJhbGciOiJSUzI1NiJ9.eyJ0eXAiOiJSZWZyZXNoIn0.YW5vdGhlci1zaWduYXR1cmU"
SECRET = "919f704466624ce29cd5ac7b65ded5e7cccc112eee314f2aaa76e02cd16df7b9"
TOKEN_REF = "20251010-EC-1DCE3E3000-12ECB5B36E-45"
KSEF_TOKEN = f"{TOKEN_REF}|nip-5265877635|{SECRET}"
AUTH_REF = "20250514-AU-2DFC46C000-3AC6D5877F-D4"
CONTEXT_JSON = {"type": "Nip", "value": "5265877635"}
CHALLENGE = {
    "challenge": "20250514-CR-226FB7B000-3ACF9BE4C0-10",
    "timestamp": "2025-10-01T13:20:52.9919681+00:00",
    "timestampMs": 1759324852991,
    "clientIp": "127.0.0.1",
}
AUTH_INIT = {
    "referenceNumber": AUTH_REF,
    "authenticationToken": {"token": JWT, "validUntil": "2025-10-01T14:05:52+00:00"},
}
TOKENS = {
    "accessToken": {"token": JWT, "validUntil": "2025-10-01T13:35:52.1234567+00:00"},
    "refreshToken": {"token": JWT2, "validUntil": "2025-10-08T13:20:52Z"},
}


def token_item(ref=TOKEN_REF, status="Active", **extra):
    item = {
        "referenceNumber": ref,
        "authorIdentifier": {"type": "Nip", "value": "5265877635"},
        "contextIdentifier": {"type": "Nip", "value": "5265877635"},
        "description": "Odoo invoices",
        "requestedPermissions": ["InvoiceRead", "InvoiceWrite"],
        "dateCreated": "2025-10-01T13:20:52.9919681+00:00",
        "lastUseDate": None,
        "status": status,
        "statusDetails": [],
    }
    item.update(extra)
    return item


def auth_status(code, description="x", details=None):
    status = {"code": code, "description": description}
    if details is not None:
        status["details"] = details
    return {
        "startDate": "2025-10-01T13:20:52+00:00",
        "authenticationMethod": "Token",
        "authenticationMethodInfo": {"category": "Token", "code": "token.ksef", "displayName": "T"},
        "status": status,
    }


@pytest.fixture
def fake():
    return FakeTransport()


@pytest.fixture
def client(fake):
    return KsefClient(BASE, session=fake.session())


class Sleeps:
    def __init__(self):
        self.calls = []

    def __call__(self, seconds):
        self.calls.append(seconds)


# --- construction, headers, timeouts ------------------------------------------------------


def test_environments_and_explicit_urls():
    assert KsefClient("test").base_url == ENVIRONMENTS["test"]
    assert KsefClient("prod").base_url == "https://api.ksef.mf.gov.pl/v2"
    assert KsefClient("http://127.0.0.1:8090/v2/").base_url == "http://127.0.0.1:8090/v2"
    with pytest.raises(ValueError):
        KsefClient("staging")
    for bad_timeout in (None, (5, None), 0, (5, -1), "30", (1, 2, 3), True):
        with pytest.raises(ValueError):
            KsefClient("test", timeout=bad_timeout)
    assert KsefClient("test", timeout=2.5).timeout == 2.5


def test_every_call_carries_the_timeout_and_headers(fake):
    fake.add("POST", "/auth/challenge", 200, CHALLENGE)
    fake.add("GET", f"/tokens/{TOKEN_REF}", 200, token_item())
    client = KsefClient(BASE, session=fake.session(), timeout=(2, 7), user_agent="UA/1")
    client.get_challenge()
    client.get_token(JWT, TOKEN_REF)
    (first, first_kw), (second, second_kw) = fake.requests
    assert first_kw["timeout"] == (2, 7) and second_kw["timeout"] == (2, 7)
    assert first.headers["User-Agent"] == "UA/1"
    assert first.headers["Accept"] == "application/json"
    assert "Authorization" not in first.headers
    assert "X-Error-Format" not in first.headers
    assert second.headers["Authorization"] == f"Bearer {JWT}"
    assert KsefClient(BASE).timeout == DEFAULT_TIMEOUT


def test_problem_details_header_is_sent_when_asked(fake):
    fake.add("POST", "/auth/challenge", 200, CHALLENGE)
    KsefClient(BASE, session=fake.session(), problem_details=True).get_challenge()
    assert fake.last().headers["X-Error-Format"] == "problem-details"


def test_repr_names_the_environment_only(client):
    assert repr(client) == f"<KsefClient {BASE}>"


def test_client_closes_only_its_own_session(fake):
    session = fake.session()
    closed = []
    session.close = lambda: closed.append(True)
    with KsefClient(BASE, session=session):
        pass
    assert not closed


# --- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "2025-10-01T13:20:52.9919681+00:00",
            datetime(2025, 10, 1, 13, 20, 52, 991968, timezone.utc),
        ),
        ("2025-10-01T13:20:52Z", datetime(2025, 10, 1, 13, 20, 52, tzinfo=timezone.utc)),
        ("2025-10-01T13:20:52", datetime(2025, 10, 1, 13, 20, 52, tzinfo=timezone.utc)),
        ("2025-10-01T15:20:52.5+0200", datetime(2025, 10, 1, 13, 20, 52, 500000, timezone.utc)),
        ("2025-10-01T13:20", datetime(2025, 10, 1, 13, 20, tzinfo=timezone.utc)),
        ("0001-01-01T00:00:00+00:00", datetime(1, 1, 1, tzinfo=timezone.utc)),
    ],
)
def test_parse_datetime(text, expected):
    parsed = parse_datetime(text)
    assert parsed == expected and parsed.tzinfo is not None


@pytest.mark.parametrize("text", ["", "yesterday", "2025-13-01T00:00:00Z", "2025-10-01", 12])
def test_parse_datetime_refuses_garbage(text):
    with pytest.raises(ValueError):
        parse_datetime(text)


def test_challenge_is_parsed(client, fake):
    fake.add("POST", "/auth/challenge", 200, CHALLENGE)
    challenge = client.get_challenge()
    assert challenge.challenge == CHALLENGE["challenge"]
    assert challenge.timestamp_ms == 1759324852991
    assert challenge.timestamp.microsecond == 991968
    assert challenge.client_ip == "127.0.0.1"


def test_challenge_without_timestamp_ms_is_derived_from_timestamp(client, fake):
    body = dict(CHALLENGE, timestamp="2025-10-01T13:20:52.991+00:00")
    del body["timestampMs"]
    fake.add("POST", "/auth/challenge", 200, body)
    challenge = client.get_challenge()
    assert challenge.timestamp_ms == round(challenge.timestamp.timestamp() * 1000)


def test_redeem_and_refresh_are_parsed(client, fake):
    fake.add("POST", "/auth/token/redeem", 200, TOKENS)
    fake.add("POST", "/auth/token/refresh", 200, {"accessToken": TOKENS["accessToken"]})
    tokens = client.redeem_token(JWT)
    assert tokens.access_token == JWT and tokens.refresh_token == JWT2
    assert tokens.refresh_valid_until == datetime(2025, 10, 8, 13, 20, 52, tzinfo=timezone.utc)
    assert JWT not in repr(tokens) and JWT2 not in repr(tokens)
    access = client.refresh_access_token(JWT2)
    assert access.token == JWT and access.valid_until.microsecond == 123456
    assert fake.last().headers["Authorization"] == f"Bearer {JWT2}"


def test_auth_status_is_parsed(client, fake):
    body = auth_status(450, "Token unieważniony", ["Token unieważniony"])
    body.update(isTokenRedeemed=False, refreshTokenValidUntil=None)
    fake.add("GET", f"/auth/{AUTH_REF}", 200, body)
    status = client.get_auth_status(AUTH_REF, JWT)
    assert status.code == 450 and status.details == ("Token unieważniony",)
    assert status.authentication_method == "Token"
    assert status.authentication_method_category == "Token"
    assert status.is_token_redeemed is False


def test_token_info_is_parsed(client, fake):
    fake.add("GET", f"/tokens/{TOKEN_REF}", 200, token_item(lastUseDate="2025-10-02T00:00:00Z"))
    info = client.get_token(JWT, TOKEN_REF)
    assert info.status == "Active"
    assert info.requested_permissions == ("InvoiceRead", "InvoiceWrite")
    assert info.author_identifier == Identifier("Nip", "5265877635")
    assert info.last_use_date == datetime(2025, 10, 2, tzinfo=timezone.utc)
    assert info.status_details == ()


def test_public_key_certificates_are_cached(client, fake):
    cert = {
        "certificate": "MIIBCg==",
        "certificateId": "Y2VydA==",
        "publicKeyId": "QIoAK/Yc3s27Z4t3SZY4Mhp8JNLH7Vl4N3lNlJAEig8=",
        "validFrom": "2024-07-11T12:23:56.0154302+00:00",
        "validTo": "2028-07-11T12:23:56.0154302+00:00",
        "usage": ["KsefTokenEncryption"],
    }
    fake.add("GET", "/security/public-key-certificates", 200, [cert])
    first = client.get_public_key_certificates()
    assert client.get_public_key_certificates() == first
    assert len(fake.requests) == 1
    client.get_public_key_certificates(refresh=True)
    assert len(fake.requests) == 2
    assert first[0].certificate_der == b"0\x82\x01\n" and first[0].usage == ("KsefTokenEncryption",)


# --- fail-closed parsing ------------------------------------------------------------------

BAD_BODIES = [
    b"<html>502 Bad Gateway</html>",
    b"",
    b"{not json",
    b"\xff\xfe\x00",
    b"[]",
    b"null",
    b'{"unexpected": true}',
]


@pytest.mark.parametrize("body", BAD_BODIES)
@pytest.mark.parametrize(
    "method, path, call",
    [
        ("POST", "/auth/challenge", lambda c: c.get_challenge()),
        ("POST", "/auth/token/redeem", lambda c: c.redeem_token(JWT)),
        ("POST", "/auth/token/refresh", lambda c: c.refresh_access_token(JWT)),
        ("GET", f"/auth/{AUTH_REF}", lambda c: c.get_auth_status(AUTH_REF, JWT)),
        ("GET", "/tokens", lambda c: c.list_tokens(JWT)),
        ("GET", f"/tokens/{TOKEN_REF}", lambda c: c.get_token(JWT, TOKEN_REF)),
        ("POST", "/tokens", lambda c: c.generate_token(JWT, ["InvoiceRead"], "descr")),
        ("GET", "/auth/sessions", lambda c: c.list_auth_sessions(JWT)),
        ("GET", "/security/public-key-certificates", lambda c: c.get_public_key_certificates()),
    ],
)
def test_unexpected_bodies_raise_server_errors(client, fake, method, path, call, body):
    if body == b"[]" and path == "/security/public-key-certificates":
        pytest.skip("an empty certificate list is a valid answer")
    fake.add(method, path, 200, body)
    with pytest.raises(errors.KsefServerError) as caught:
        call(client)
    assert caught.value.code == "bad_response" and caught.value.retryable


@pytest.mark.parametrize(
    "method, path, body, call",
    [
        ("POST", "/auth/challenge", dict(CHALLENGE, timestampMs="1"), lambda c: c.get_challenge()),
        ("POST", "/auth/challenge", dict(CHALLENGE, timestamp="soon"), lambda c: c.get_challenge()),
        ("POST", "/auth/challenge", dict(CHALLENGE, challenge=None), lambda c: c.get_challenge()),
        (
            "POST",
            "/auth/token/redeem",
            {"accessToken": TOKENS["accessToken"]},
            lambda c: c.redeem_token(JWT),
        ),
        (
            "POST",
            "/auth/token/redeem",
            {"accessToken": {"validUntil": None}, "refreshToken": {}},
            lambda c: c.redeem_token(JWT),
        ),
        (
            "GET",
            f"/auth/{AUTH_REF}",
            {"status": {"code": "200"}},
            lambda c: c.get_auth_status(AUTH_REF, JWT),
        ),
        (
            "GET",
            f"/auth/{AUTH_REF}",
            {"status": {"code": True}},
            lambda c: c.get_auth_status(AUTH_REF, JWT),
        ),
        ("GET", f"/auth/{AUTH_REF}", {"status": "ok"}, lambda c: c.get_auth_status(AUTH_REF, JWT)),
        (
            "GET",
            "/tokens",
            {"tokens": [{"referenceNumber": TOKEN_REF}]},
            lambda c: c.list_tokens(JWT),
        ),
        (
            "GET",
            "/tokens",
            {"tokens": [token_item(requestedPermissions=[1])]},
            lambda c: c.list_tokens(JWT),
        ),
        ("GET", "/tokens", {"tokens": "none"}, lambda c: c.list_tokens(JWT)),
        ("GET", "/tokens", {"tokens": [None]}, lambda c: c.list_tokens(JWT)),
        (
            "GET",
            "/security/public-key-certificates",
            [{"certificate": "!!", "validFrom": "x"}],
            lambda c: c.get_public_key_certificates(),
        ),
        (
            "POST",
            "/invoices/query/metadata",
            {"invoices": [1], "hasMore": False, "isTruncated": False},
            lambda c: c.query_invoice_metadata(
                JWT, subject_type="Subject1", date_from="x", date_to=None
            ),
        ),
    ],
)
def test_missing_or_mistyped_fields_raise_server_errors(client, fake, method, path, body, call):
    fake.add(method, path, 200, body)
    with pytest.raises(errors.KsefServerError) as caught:
        call(client)
    assert caught.value.code == "bad_response"
    assert "field" in str(caught.value) or "JSON" in str(caught.value)


# --- error mapping ------------------------------------------------------------------------

LEGACY_400 = {
    "exception": {
        "exceptionDetailList": [
            {
                "exceptionCode": 21405,
                "exceptionDescription": "Błąd walidacji danych wejściowych.",
                "details": ["description: too short"],
            },
            {
                "exceptionCode": 26001,
                "exceptionDescription": "Brak uprawnień.",
                "details": ["InvoiceWrite"],
            },
        ],
        "referenceNumber": "20250514-EX-2DFC46C000-3AC6D5877F-D4",
        "serviceCode": "00-abc-00",
        "timestamp": "2025-10-01T13:20:52Z",
    }
}
PROBLEM_400 = {
    "title": "Bad Request",
    "status": 400,
    "instance": "/v2/tokens",
    "detail": "Żądanie jest nieprawidłowe.",
    "errors": [
        {
            "code": 21405,
            "description": "Błąd walidacji danych wejściowych.",
            "details": ["description: too short"],
        },
        {"code": 26001, "description": "Brak uprawnień.", "details": ["InvoiceWrite"]},
    ],
    "timestamp": "2025-10-01T13:20:52Z",
    "traceId": "abc",
}


@pytest.mark.parametrize("body", [LEGACY_400, PROBLEM_400], ids=["legacy", "problem-details"])
def test_bad_request_carries_every_error_of_either_format(client, fake, body):
    fake.add("POST", "/tokens", 400, body)
    with pytest.raises(errors.KsefBadRequest) as caught:
        client.generate_token(JWT, ["InvoiceWrite"], "Odoo token")
    exc = caught.value
    assert exc.http_status == 400 and exc.code == 21405 and exc.codes == [21405, 26001]
    assert exc.errors == [
        (21405, "Błąd walidacji danych wejściowych.", ("description: too short",)),
        (26001, "Brak uprawnień.", ("InvoiceWrite",)),
    ]
    assert exc.details == ["description: too short", "InvoiceWrite"]
    assert "Błąd walidacji" in str(exc) and not exc.retryable


def test_legacy_reference_number_is_kept(client, fake):
    fake.add("POST", "/tokens", 400, LEGACY_400)
    with pytest.raises(errors.KsefBadRequest) as caught:
        client.generate_token(JWT, ["InvoiceWrite"], "Odoo token")
    assert caught.value.reference_number == "20250514-EX-2DFC46C000-3AC6D5877F-D4"


def test_bad_request_with_an_unreadable_body_is_still_a_bad_request(client, fake):
    fake.add("POST", "/tokens", 400, b"<html>")
    with pytest.raises(errors.KsefBadRequest) as caught:
        client.generate_token(JWT, ["InvoiceWrite"], "Odoo token")
    assert caught.value.errors == [] and caught.value.code is None


def test_unauthorized(client, fake):
    body = {
        "title": "Unauthorized",
        "status": 401,
        "detail": "Brak ważnego tokena.",
        "timestamp": "2025-10-01T13:20:52Z",
    }
    fake.add("GET", "/tokens", 401, body, {"Content-Type": "application/problem+json"})
    with pytest.raises(errors.KsefUnauthorized) as caught:
        client.list_tokens(JWT)
    assert caught.value.http_status == 401 and "Brak ważnego tokena." in str(caught.value)


def test_forbidden_carries_reason_code_and_security(client, fake):
    body = {
        "title": "Forbidden",
        "status": 403,
        "detail": "Brak uprawnień.",
        "reasonCode": "missing-permissions",
        "security": {"requiredAnyOfPermissions": ["CredentialsManage"], "presentPermissions": []},
        "timestamp": "2025-10-01T13:20:52Z",
    }
    fake.add("DELETE", f"/tokens/{TOKEN_REF}", 403, body)
    with pytest.raises(errors.KsefForbidden) as caught:
        client.revoke_token(JWT, TOKEN_REF)
    exc = caught.value
    assert exc.reason_code == "missing-permissions"
    assert exc.missing_permissions == ["CredentialsManage"]
    assert exc.security["presentPermissions"] == []


@pytest.mark.parametrize(
    "status, cls",
    [
        (404, errors.KsefNotFound),
        (410, errors.KsefGone),
        (405, errors.KsefApiError),
        (409, errors.KsefApiError),
    ],
)
def test_other_client_errors(client, fake, status, cls):
    fake.add("GET", f"/auth/{AUTH_REF}", status, {"title": "x", "status": status, "detail": "d"})
    with pytest.raises(cls) as caught:
        client.get_auth_status(AUTH_REF, JWT)
    assert caught.value.http_status == status


@pytest.mark.parametrize("status", [500, 502, 503, 504, 302, 101])
def test_server_errors_and_unexpected_statuses(client, fake, status):
    fake.add("GET", "/tokens", status, b"oops")
    with pytest.raises(errors.KsefServerError) as caught:
        client.list_tokens(JWT)
    assert caught.value.http_status == status and caught.value.retryable


@pytest.mark.parametrize(
    "header, expected",
    [("30", 30), (" 7 ", 7), (None, None), ("soon", None), ("http-date", 90)],
)
def test_rate_limit_surfaces_retry_after(client, fake, header, expected):
    if header == "http-date":
        header = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=90), usegmt=True)
    body = {
        "status": {
            "code": 429,
            "description": "Too Many Requests",
            "details": ["Spróbuj ponownie po 30 sekundach."],
        }
    }
    fake.add("GET", "/tokens", 429, body, {"Retry-After": header} if header else {})
    with pytest.raises(errors.KsefRateLimited) as caught:
        client.list_tokens(JWT)
    if header and "GMT" in header:  # an HTTP-date: whole seconds from now
        assert expected - 2 <= caught.value.retry_after <= expected
    else:
        assert caught.value.retry_after == expected
    assert caught.value.retryable and caught.value.code == 429


def test_rate_limit_problem_details(client, fake):
    body = {
        "title": "Too Many Requests",
        "status": 429,
        "instance": "/v2/tokens",
        "detail": "Przekroczono limit.",
        "timestamp": "2025-10-01T13:20:52Z",
        "traceId": "t",
    }
    fake.add("GET", "/tokens", 429, body, {"Retry-After": "12"})
    with pytest.raises(errors.KsefRateLimited) as caught:
        client.list_tokens(JWT)
    assert caught.value.retry_after == 12 and "Przekroczono limit." in str(caught.value)


def test_rate_limit_is_never_slept_through(client, fake):
    fake.add("GET", f"/auth/{AUTH_REF}", 200, auth_status(100))
    fake.add("GET", f"/auth/{AUTH_REF}", 429, {"status": {"code": 429}}, {"Retry-After": "5"})
    sleeps = Sleeps()
    init = AuthInit(AUTH_REF, JWT)
    with pytest.raises(errors.KsefRateLimited):
        client.wait_for_authentication(init, poll_interval=0.5, sleep=sleeps)
    assert sleeps.calls == [0.5]  # the poll interval only, never the 5 s of Retry-After
    assert len(fake.requests) == 2


# --- transport ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc, kind",
    [
        (requests.ReadTimeout("read timed out"), "timeout"),
        (requests.ConnectTimeout("connect timed out"), "timeout"),
        (requests.ConnectionError("connection refused"), "connection"),
        (requests.exceptions.ChunkedEncodingError("peer closed"), "connection"),
        (requests.exceptions.SSLError("bad handshake"), "connection"),
    ],
)
def test_transport_failures(client, fake, exc, kind, caplog):
    caplog.set_level(logging.DEBUG, logger="ksef")
    fake.fail("GET", "/tokens", exc)
    with pytest.raises(errors.KsefTransportError) as caught:
        client.list_tokens(JWT)
    assert caught.value.kind == kind and caught.value.retryable
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert_no_secrets([JWT], records=caplog.records, exceptions=[caught.value])


# --- secrets ------------------------------------------------------------------------------


def test_echoed_secrets_are_redacted_from_errors(client, fake, caplog):
    caplog.set_level(logging.DEBUG, logger="ksef")
    body = {
        "exception": {
            "exceptionDetailList": [
                {
                    "exceptionCode": 21405,
                    "exceptionDescription": f"Bad bearer {JWT}",
                    "details": [KSEF_TOKEN, f"secret={SECRET}", "B64:" + "QUJD" * 60, JWT2],
                },
            ]
        }
    }
    fake.add("GET", "/tokens", 400, body, {"X-System-Warning": f"[1]: echo {JWT}"})
    with pytest.raises(errors.KsefBadRequest) as caught:
        client.list_tokens(JWT)
    assert_no_secrets(
        [JWT, JWT2, KSEF_TOKEN, SECRET, "QUJD" * 60],
        records=caplog.records,
        exceptions=[caught.value],
    )
    assert "[jwt]" in str(caught.value) or "[redacted]" in str(caught.value)


def test_log_lines_name_method_path_status_only(client, fake, caplog):
    caplog.set_level(logging.DEBUG, logger="ksef")
    fake.add("GET", f"/tokens/{TOKEN_REF}", 200, token_item())
    client.get_token(JWT, TOKEN_REF)
    (record,) = (r for r in caplog.records if r.name == "ksef.client")
    assert record.getMessage().startswith(f"KSeF GET /tokens/{TOKEN_REF} -> 200 (")
    assert_no_secrets([JWT], records=caplog.records)


@pytest.mark.parametrize("bad", [KSEF_TOKEN, SECRET, JWT, "../tokens", "", None, TOKEN_REF.lower()])
def test_reference_numbers_are_checked_before_reaching_a_url(client, fake, bad):
    with pytest.raises(ValueError) as caught:
        client.get_token(JWT, bad)
    assert not fake.requests
    if bad:
        assert bad not in str(caught.value)


# --- tokens -------------------------------------------------------------------------------


def test_list_tokens_sends_filters_and_continuation(client, fake):
    fake.add("GET", "/tokens", 200, {"continuationToken": "", "tokens": [token_item()]})
    page = client.list_tokens(
        JWT,
        statuses=["Active", "Pending"],
        description="Odoo",
        author_identifier="526",
        author_identifier_type="Nip",
        page_size=50,
        continuation_token="W3sidG9rZW4iOjF9XQ==",
    )
    request = fake.last()
    assert request.path_url == (
        "/v2/tokens?status=Active&status=Pending&description=Odoo&authorIdentifier=526"
        "&authorIdentifierType=Nip&pageSize=50"
    )
    assert request.headers["x-continuation-token"] == "W3sidG9rZW4iOjF9XQ=="
    assert page.continuation_token is None and page.items[0].reference_number == TOKEN_REF


def test_list_tokens_defaults(client, fake):
    fake.add("GET", "/tokens", 200, {"tokens": []})
    page = client.list_tokens(JWT, statuses="Revoked")
    assert fake.last().path_url == "/v2/tokens?status=Revoked&pageSize=100"
    assert "x-continuation-token" not in fake.last().headers
    assert page.items == () and page.continuation_token is None


def test_iter_tokens_follows_continuation_tokens(client, fake):
    refs = [f"20251010-EC-1DCE3E3000-12ECB5B3{i:02d}-45" for i in range(5)]
    fake.add(
        "GET",
        "/tokens",
        200,
        {"continuationToken": "p2", "tokens": [token_item(r) for r in refs[:2]]},
    )
    fake.add(
        "GET",
        "/tokens",
        200,
        {"continuationToken": "p3", "tokens": [token_item(r) for r in refs[2:4]]},
    )
    fake.add("GET", "/tokens", 200, {"continuationToken": None, "tokens": [token_item(refs[4])]})
    assert [t.reference_number for t in client.iter_tokens(JWT, statuses=["Active"])] == refs
    sent = [r.headers.get("x-continuation-token") for r, _kw in fake.requests]
    assert sent == [None, "p2", "p3"]


def test_iter_tokens_stops_on_a_paging_loop(client, fake):
    fake.add("GET", "/tokens", 200, {"continuationToken": "same", "tokens": [token_item()]})
    with pytest.raises(errors.KsefServerError) as caught:
        list(client.iter_tokens(JWT))
    assert caught.value.code == "paging_loop" and len(fake.requests) == 2


def test_generate_token_body(client, fake):
    fake.add("POST", "/tokens", 202, {"referenceNumber": TOKEN_REF, "token": KSEF_TOKEN})
    generated = client.generate_token(JWT, ("InvoiceRead", "InvoiceWrite"), "Odoo invoices")
    assert generated.token == KSEF_TOKEN and KSEF_TOKEN not in repr(generated)
    request = fake.last()
    assert request.headers["Content-Type"] == "application/json"
    assert (
        request.body
        == b'{"permissions": ["InvoiceRead", "InvoiceWrite"], "description": "Odoo invoices"}'
    )


def test_revoke_token_and_sessions(client, fake):
    fake.add("DELETE", f"/tokens/{TOKEN_REF}", 204, None)
    fake.add("DELETE", "/auth/sessions/current", 204, None)
    fake.add("DELETE", f"/auth/sessions/{AUTH_REF}", 204, None)
    assert client.revoke_token(JWT, TOKEN_REF) is None
    client.revoke_current_session(JWT2)
    client.revoke_auth_session(JWT, AUTH_REF)
    methods = [(r.method, r.path_url, r.headers["Authorization"]) for r, _ in fake.requests]
    assert methods == [
        ("DELETE", f"/v2/tokens/{TOKEN_REF}", f"Bearer {JWT}"),
        ("DELETE", "/v2/auth/sessions/current", f"Bearer {JWT2}"),
        ("DELETE", f"/v2/auth/sessions/{AUTH_REF}", f"Bearer {JWT}"),
    ]


def test_list_auth_sessions(client, fake):
    item = auth_status(200, "Uwierzytelnianie zakończone sukcesem")
    item.update(
        referenceNumber=AUTH_REF,
        isCurrent=True,
        isTokenRedeemed=True,
        refreshTokenValidUntil="2025-11-28T09:22:13.388+00:00",
    )
    fake.add("GET", "/auth/sessions", 200, {"continuationToken": "next", "items": [item]})
    sessions, continuation = client.list_auth_sessions(JWT, page_size=20, continuation_token="c")
    assert continuation == "next"
    (session,) = sessions
    assert session.is_current and session.status_code == 200
    assert session.authentication_method_category == "Token"
    assert fake.last().path_url == "/v2/auth/sessions?pageSize=20"
    assert fake.last().headers["x-continuation-token"] == "c"


# --- polling ------------------------------------------------------------------------------


def test_wait_for_token_status_polls_until_active(client, fake):
    path = f"/tokens/{TOKEN_REF}"
    fake.add("GET", path, 200, token_item(status="Pending"))
    fake.add("GET", path, 200, token_item(status="Pending"))
    fake.add("GET", path, 200, token_item(status="Active"))
    sleeps = Sleeps()
    info = client.wait_for_token_status(JWT, TOKEN_REF, poll_interval=0.25, sleep=sleeps)
    assert info.status == "Active" and sleeps.calls == [0.25, 0.25]


@pytest.mark.parametrize(
    "status, wanted", [("Failed", ("Active",)), ("Revoked", ("Active",)), ("Revoking", ("Active",))]
)
def test_wait_for_token_status_fails_on_unreachable_status(client, fake, status, wanted):
    fake.add(
        "GET",
        f"/tokens/{TOKEN_REF}",
        200,
        token_item(status=status, statusDetails=["Brak uprawnień"]),
    )
    with pytest.raises(KsefTokenFailed) as caught:
        client.wait_for_token_status(JWT, TOKEN_REF, wanted, sleep=Sleeps())
    assert caught.value.status == status and caught.value.code == "token_failed"
    assert caught.value.details == ["Brak uprawnień"]


def test_wait_for_revoked_accepts_revoking_on_the_way(client, fake):
    path = f"/tokens/{TOKEN_REF}"
    fake.add("GET", path, 200, token_item(status="Revoking"))
    fake.add("GET", path, 200, token_item(status="Revoked"))
    info = client.wait_for_token_status(JWT, TOKEN_REF, ("Revoked",), sleep=Sleeps())
    assert info.status == "Revoked"


def test_wait_for_token_status_times_out(client, fake):
    fake.add("GET", f"/tokens/{TOKEN_REF}", 200, token_item(status="Pending"))
    sleeps = Sleeps()
    with pytest.raises(errors.KsefAuthTimeout) as caught:
        client.wait_for_token_status(JWT, TOKEN_REF, poll_interval=1, timeout=3, sleep=sleeps)
    assert caught.value.code == "token_status_timeout" and sleeps.calls == [1, 1, 1]


def test_wait_for_authentication(client, fake):
    path = f"/auth/{AUTH_REF}"
    fake.add("GET", path, 200, auth_status(100))
    fake.add("GET", path, 200, auth_status(200))
    status = client.wait_for_authentication(AuthInit(AUTH_REF, JWT), sleep=Sleeps())
    assert status.code == 200


@pytest.mark.parametrize("code", [400, 415, 425, 450, 460, 470, 480, 500, 550])
def test_wait_for_authentication_fails_on_final_statuses(client, fake, code):
    fake.add("GET", f"/auth/{AUTH_REF}", 200, auth_status(code, "Błąd", ["Token unieważniony"]))
    with pytest.raises(errors.KsefAuthFailed) as caught:
        client.wait_for_authentication(AuthInit(AUTH_REF, JWT), sleep=Sleeps())
    exc = caught.value
    assert exc.status_code == code and exc.description == "Błąd"
    assert exc.details == ["Token unieważniony"] and exc.reference_number == AUTH_REF
    assert exc.token_unusable is (code == 450) and exc.retryable is (code in (500, 550))


def test_wait_for_authentication_times_out(client, fake):
    fake.add("GET", f"/auth/{AUTH_REF}", 200, auth_status(100))
    with pytest.raises(errors.KsefAuthTimeout) as caught:
        client.wait_for_authentication(AuthInit(AUTH_REF, JWT), timeout=2.5, sleep=Sleeps())
    assert caught.value.reference_number == AUTH_REF and len(fake.requests) == 4


# --- permissions and invoices -------------------------------------------------------------


def grant(scope, state="Active", context=("Nip", "5265877635")):
    item = {
        "id": "0c9a72e8-f344-457f-9c16-7c640eb60242",
        "permissionScope": scope,
        "description": "d",
        "permissionState": state,
        "startDate": "2025-06-22T10:41:11+00:00",
        "canDelegate": False,
    }
    if context:
        item["contextIdentifier"] = {"type": context[0], "value": context[1]}
    return item


def test_query_personal_grants_follows_pages_and_filters(client, fake):
    path = "/permissions/query/personal/grants"
    fake.add(
        "POST",
        path,
        200,
        {
            "permissions": [
                grant("InvoiceWrite"),
                grant("InvoiceRead"),
                grant("CredentialsManage", state="Inactive"),
            ],
            "hasMore": True,
        },
    )
    fake.add(
        "POST",
        path,
        200,
        {
            "permissions": [
                grant("InvoiceRead", context=("Nip", "1111111111")),
                grant("Introspection", context=None),
            ],
            "hasMore": False,
        },
    )
    names = client.query_personal_grants(JWT, context={"type": "Nip", "value": "5265877635"})
    assert names == ["Introspection", "InvoiceRead", "InvoiceWrite"]
    urls = [r.path_url for r, _ in fake.requests]
    assert urls == [f"/v2{path}?pageOffset=0&pageSize=100", f"/v2{path}?pageOffset=1&pageSize=100"]
    assert fake.last().body == b'{"permissionState": "Active"}'


def test_query_personal_grants_without_context_keeps_all_contexts(client, fake):
    fake.add(
        "POST",
        "/permissions/query/personal/grants",
        200,
        {"permissions": [grant("InvoiceRead", context=("Nip", "1111111111"))], "hasMore": False},
    )
    assert client.query_personal_grants(JWT) == ["InvoiceRead"]


def test_query_invoice_metadata(client, fake):
    body = {"hasMore": True, "isTruncated": False, "invoices": [{"ksefNumber": "x"}]}
    fake.add("POST", "/invoices/query/metadata", 200, body)
    invoices, has_more, truncated = client.query_invoice_metadata(
        JWT,
        subject_type="Subject2",
        date_from=datetime(2025, 8, 28, 9, 22, 13, 388000),
        date_to=datetime(2025, 9, 28, tzinfo=timezone(timedelta(hours=2))),
        page_offset=2,
        page_size=250,
    )
    assert invoices == [{"ksefNumber": "x"}] and has_more and not truncated
    request = fake.last()
    assert request.path_url == "/v2/invoices/query/metadata?sortOrder=Asc&pageOffset=2&pageSize=250"
    assert request.body == (
        b'{"subjectType": "Subject2", "dateRange": {"dateType": "PermanentStorage", '
        b'"from": "2025-08-28T09:22:13.388+00:00", "to": "2025-09-28T00:00:00.000+02:00"}}'
    )


# --- authentication requests --------------------------------------------------------------


def test_submit_xades_signature(client, fake):
    fake.add("POST", "/auth/xades-signature", 202, AUTH_INIT)
    init = client.submit_xades_signature("<AuthTokenRequest/>", verify_certificate_chain=False)
    assert init.reference_number == AUTH_REF and init.authentication_token == JWT
    assert JWT not in repr(init)
    request = fake.last()
    assert request.headers["Content-Type"] == "application/xml"
    assert request.path_url == "/v2/auth/xades-signature?verifyCertificateChain=false"
    assert request.body == b"<AuthTokenRequest/>"


@pytest.fixture
def stub_crypto(monkeypatch):
    """A stand-in ``ksef.crypto`` recording which certificate list it was given."""
    calls = []

    def select(certificates, now=None):
        calls.append(certificates)
        return certificates[0]

    def encrypt(token, timestamp_ms, certificate):
        return "RU5DUllQVEVE" + str(timestamp_ms)

    stub = types.SimpleNamespace(
        select_token_encryption_certificate=select, encrypt_ksef_token=encrypt
    )
    monkeypatch.setattr(ksef, "crypto", stub, raising=False)
    monkeypatch.setitem(sys.modules, "ksef.crypto", stub)
    return calls


def _key(public_key_id):
    return {
        "certificate": "MIIBCg==",
        "certificateId": "Y2VydA==",
        "publicKeyId": public_key_id,
        "validFrom": "2024-07-11T12:23:56Z",
        "validTo": "2028-07-11T12:23:56Z",
        "usage": ["KsefTokenEncryption"],
    }


def test_submit_ksef_token_refetches_keys_once_on_21470(client, fake, stub_crypto, caplog):
    caplog.set_level(logging.DEBUG, logger="ksef")
    old, new = "A" * 43 + "=", "B" * 43 + "="
    fake.add("POST", "/auth/challenge", 200, CHALLENGE)
    fake.add("GET", "/security/public-key-certificates", 200, [_key(old)])
    fake.add("GET", "/security/public-key-certificates", 200, [_key(new)])
    rejected = {
        "exception": {
            "exceptionDetailList": [
                {
                    "exceptionCode": 21470,
                    "exceptionDescription": f"Klucz o identyfikatorze {old} nie jest wspierany",
                }
            ]
        }
    }
    fake.add("POST", "/auth/ksef-token", 400, rejected)
    fake.add("POST", "/auth/ksef-token", 202, AUTH_INIT)
    challenge = client.get_challenge()
    policy = AuthorizationPolicy(ip4_addresses=("203.0.113.7",))
    init = client.submit_ksef_token(
        challenge, Identifier("Nip", "5265877635"), KSEF_TOKEN, authorization_policy=policy
    )
    assert init.reference_number == AUTH_REF
    sent = [r for r, _ in fake.requests if r.path_url == "/v2/auth/ksef-token"]
    assert len(sent) == 2 and len(stub_crypto) == 2
    assert b'"publicKeyId": "' + old.encode() in sent[0].body
    assert b'"publicKeyId": "' + new.encode() in sent[1].body
    assert b'"contextIdentifier": {"type": "Nip", "value": "5265877635"}' in sent[1].body
    assert b'"encryptedToken": "RU5DUllQVEVE1759324852991"' in sent[1].body
    assert b'"allowedIps": {"ip4Addresses": ["203.0.113.7"]' in sent[1].body
    assert_no_secrets([KSEF_TOKEN, JWT], records=caplog.records)


def test_submit_ksef_token_gives_up_after_one_refetch(client, fake, stub_crypto):
    rejected = {"errors": [{"code": 21470, "description": "Klucz nie jest wspierany"}]}
    fake.add("POST", "/auth/challenge", 200, CHALLENGE)
    fake.add("GET", "/security/public-key-certificates", 200, [_key("A" * 43 + "=")])
    fake.add("POST", "/auth/ksef-token", 400, rejected)
    with pytest.raises(errors.KsefBadRequest) as caught:
        client.submit_ksef_token(
            client.get_challenge(), {"type": "Nip", "value": "5265877635"}, KSEF_TOKEN
        )
    assert caught.value.code == 21470
    assert sum(1 for r, _ in fake.requests if r.path_url == "/v2/auth/ksef-token") == 2


def test_submit_ksef_token_does_not_retry_other_errors(client, fake, stub_crypto):
    fake.add("POST", "/auth/challenge", 200, CHALLENGE)
    fake.add("GET", "/security/public-key-certificates", 200, [_key("A" * 43 + "=")])
    fake.add("POST", "/auth/ksef-token", 400, {"errors": [{"code": 21111, "description": "x"}]})
    with pytest.raises(errors.KsefBadRequest):
        client.submit_ksef_token(
            client.get_challenge(), {"type": "Nip", "value": "5265877635"}, KSEF_TOKEN
        )
    assert len(stub_crypto) == 1


def test_context_must_be_serialisable(client, fake, stub_crypto):
    fake.add("POST", "/auth/challenge", 200, CHALLENGE)
    fake.add("GET", "/security/public-key-certificates", 200, [_key("A" * 43 + "=")])
    with pytest.raises(TypeError):
        client.submit_ksef_token(client.get_challenge(), "Nip:5265877635", KSEF_TOKEN)


# --- real token encryption with any MF certificate ----------------------------------------


def _certificate_ending_in_whitespace():
    """An MF-like encryption certificate whose DER ends with an ASCII whitespace byte (~2% of
    signatures do): found by re-signing with one key at different ``not_before`` times."""
    from cryptography.hazmat.primitives import serialization

    from ksef import testing_certs

    key = testing_certs.generate_rsa_key(2048)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for minute in range(2000):
        _key, cert = testing_certs.generate_encryption_certificate(
            key, not_before=start + timedelta(minutes=minute)
        )
        der = cert.public_bytes(serialization.Encoding.DER)
        if der[-1:].isspace():
            return key, der
    pytest.skip("no certificate ending in whitespace found")


def test_token_encryption_works_with_any_certificate_bytes(client, fake):
    """The client must authenticate whatever bytes KSeF's certificate happens to end with."""
    import base64

    from ksef import crypto

    key, der = _certificate_ending_in_whitespace()
    published = {
        "certificate": base64.b64encode(der).decode(),
        "certificateId": "Y2VydA==",
        "publicKeyId": "QIoAK/Yc3s27Z4t3SZY4Mhp8JNLH7Vl4N3lNlJAEig8=",
        "validFrom": "2025-01-01T00:00:00Z",
        "validTo": "2099-01-01T00:00:00Z",
        "usage": ["KsefTokenEncryption"],
    }
    fake.add("POST", "/auth/challenge", 200, CHALLENGE)
    fake.add("GET", "/security/public-key-certificates", 200, [published])
    fake.add("POST", "/auth/ksef-token", 202, AUTH_INIT)
    client.submit_ksef_token(client.get_challenge(), CONTEXT_JSON, KSEF_TOKEN)
    sent = json.loads(fake.last().body)
    token, timestamp_ms = crypto.decrypt_ksef_token(sent["encryptedToken"], key)
    assert (token, int(timestamp_ms)) == (KSEF_TOKEN, CHALLENGE["timestampMs"])
