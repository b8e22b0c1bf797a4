"""KSeF-token authentication against the simulator over real HTTP (plain ``requests``)."""

import base64
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import hashes

from ksef.simulator.testing import access_of, refresh_of

pytest_plugins = ["client_fixtures"]


@pytest.fixture
def token(sim, test_nip):
    return sim.create_token(test_nip, test_nip, ["InvoiceRead", "InvoiceWrite"])


def test_challenge_shape(raw):
    body = raw.challenge()
    assert len(body["challenge"]) == 36 and body["challenge"][8:12] == "-CR-"
    assert isinstance(body["timestampMs"], int)
    assert body["clientIp"] == "127.0.0.1"


def test_two_public_keys_with_distinct_usages(raw):
    """KSeF publishes one certificate per usage, each with its own key (spec example)."""
    keys = raw.get("/security/public-key-certificates").json()
    assert sorted(k["usage"][0] for k in keys) == ["KsefTokenEncryption", "SymmetricKeyEncryption"]
    assert all(len(k["usage"]) == 1 and len(k["publicKeyId"]) == 44 for k in keys)
    assert keys[0]["publicKeyId"] != keys[1]["publicKeyId"]
    assert keys[0]["certificate"] != keys[1]["certificate"]


def _symmetric_key(raw):
    keys = raw.get("/security/public-key-certificates").json()
    return next(k for k in keys if k["usage"] == ["SymmetricKeyEncryption"])


def test_token_encrypted_with_the_symmetric_key_certificate_is_refused(raw, token):
    """Encrypted for the SymmetricKeyEncryption key and sent without publicKeyId: KSeF
    decrypts with its token key and fails: 450 "Nieprawidłowe szyfrowanie tokena"."""
    challenge = raw.challenge()
    wrong = _symmetric_key(raw)
    encrypted = raw.encrypt(token, challenge["timestampMs"], wrong)
    status = _final(
        raw,
        raw.submit_ksef_token(
            token, challenge=challenge, key_entry=wrong, encrypted=encrypted, public_key_id=False
        ),
    )
    assert (status["code"], status["details"]) == (450, ["Nieprawidłowe szyfrowanie tokena"])


def test_symmetric_key_id_is_not_supported_for_tokens(raw, token):
    """Naming the SymmetricKeyEncryption key's publicKeyId: 400 21470 (key not supported)."""
    response = raw.submit_ksef_token(token, key_entry=_symmetric_key(raw))
    assert response.status_code == 400
    detail = response.json()["exception"]["exceptionDetailList"][0]
    assert detail["exceptionCode"] == 21470


def test_client_picks_the_token_encryption_certificate(make_client, sim, token):
    """The client encrypts with the KsefTokenEncryption certificate even when the symmetric
    one is listed first, and authenticates."""
    sim.published_keys.reverse()
    client = make_client()
    chosen = [c.usage for c in client.get_public_key_certificates()]
    assert tuple(chosen[0]) == ("SymmetricKeyEncryption",)
    session = client.authenticate_with_ksef_token(token, poll_interval=0.01)
    assert session.access_token


def test_full_token_flow_and_single_redeem(raw, sim, token):
    init = raw.submit_ksef_token(token)
    assert init.status_code == 202
    body = init.json()
    assert body["referenceNumber"][8:12] == "-AU-"
    status = raw.status(body)
    assert status["status"]["code"] == 200
    assert status["authenticationMethod"] == "Token"
    assert status["authenticationMethodInfo"]["category"] == "Token"
    first = raw.redeem(body)
    assert first.status_code == 200
    second = raw.redeem(body)
    assert second.status_code == 400
    assert second.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21301
    info = sim.token_info(token)
    assert info["lastUseDate"] is not None
    # the access token works on a protected endpoint
    listing = raw.get("/tokens", bearer=access_of(first.json()))
    assert listing.status_code == 200
    assert [t["referenceNumber"] for t in listing.json()["tokens"]] == [token.split("|")[0]]


def test_status_in_progress_until_auth_delay(raw, sim, token):
    sim.config.auth_delay = 30
    init = raw.submit_ksef_token(token).json()
    assert raw.status(init)["status"]["code"] == 100
    assert raw.redeem(init).status_code == 400
    sim.advance(31)
    assert raw.status(init)["status"]["code"] == 200
    assert raw.redeem(init).status_code == 200


def _final(raw, response):
    assert response.status_code == 202, response.text
    return raw.status(response.json())["status"]


def test_wrong_oaep_hash_is_bad_encryption(raw, token):
    challenge = raw.challenge()
    key = raw.token_key()
    encrypted = raw.encrypt(token, challenge["timestampMs"], key, oaep_hash=hashes.SHA1)
    status = _final(
        raw, raw.submit_ksef_token(token, challenge=challenge, key_entry=key, encrypted=encrypted)
    )
    assert status["code"] == 450
    assert status["details"] == ["Nieprawidłowe szyfrowanie tokena"]


def test_garbage_ciphertext_is_bad_encryption(raw, token):
    garbage = base64.b64encode(b"\x00" * 256).decode()
    status = _final(raw, raw.submit_ksef_token(token, encrypted=garbage))
    assert (status["code"], status["details"]) == (450, ["Nieprawidłowe szyfrowanie tokena"])


def test_not_base64_is_validation_error(raw, token):
    response = raw.submit_ksef_token(token, encrypted="!!!not base64!!!")
    assert response.status_code == 400
    assert response.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21405


def test_wrong_timestamp_is_bad_token_time(raw, token):
    challenge = raw.challenge()
    status = _final(
        raw,
        raw.submit_ksef_token(
            token, challenge=challenge, timestamp_ms=challenge["timestampMs"] - 1
        ),
    )
    assert (status["code"], status["details"]) == (450, ["Nieprawidłowy czas tokena"])


def test_wrong_secret_and_unknown_token(raw, token):
    wrong = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
    assert _final(raw, raw.submit_ksef_token(wrong))["details"] == ["Nieprawidłowy token"]
    unknown = "20250101-EC-0000000000-0000000000-00|" + token.split("|", 1)[1]
    assert _final(raw, raw.submit_ksef_token(unknown))["details"] == ["Nieprawidłowy token"]


@pytest.mark.parametrize(
    "text",
    [
        "A" * 64,  # a KSeF 1.0 token
        "20250101-EC-0000000000-0000000000-00",  # a bare reference number
        "eyJhbGciOiJIUzI1NiJ9.e30.c2ln",  # a JWT
    ],
)
def test_garbage_tokens_are_bad_encoding(raw, text, test_nip):
    status = _final(raw, raw.submit_ksef_token(text, context={"type": "Nip", "value": test_nip}))
    assert (status["code"], status["details"]) == (450, ["Nieprawidłowe kodowanie tokena"])


@pytest.mark.parametrize(
    "status_name, detail",
    [
        ("Revoked", "Token unieważniony"),
        ("Revoking", "Token unieważniony"),
        ("Pending", "Token nieaktywny"),
        ("Failed", "Token nieaktywny"),
    ],
)
def test_unusable_token_statuses(raw, sim, token, status_name, detail):
    sim.set_token_status(token, status_name)
    status = _final(raw, raw.submit_ksef_token(token))
    assert (status["code"], status["details"]) == (450, [detail])


def test_token_of_another_context(raw, sim, token):
    status = _final(
        raw, raw.submit_ksef_token(token, context={"type": "Nip", "value": "7352765225"})
    )
    assert status["code"] == 450
    assert status["details"] == ["Token nie może być użyty w kontekście 7352765225"]


def test_unknown_public_key_id(raw, token):
    response = raw.submit_ksef_token(token, public_key_id=base64.b64encode(b"x" * 32).decode())
    assert response.status_code == 400
    assert response.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21470


def test_rotated_key_old_id_refused(raw, sim, token):
    old = raw.token_key()
    sim.rotate_key()
    response = raw.submit_ksef_token(token, key_entry=old)
    assert response.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21470
    assert raw.finish(raw.submit_ksef_token(token))  # the new key works


def test_challenge_reuse_unknown_and_expiry(raw, sim, token):
    challenge = raw.challenge()
    assert raw.submit_ksef_token(token, challenge=challenge).status_code == 202
    reused = raw.submit_ksef_token(token, challenge=challenge)
    assert reused.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21111
    unknown = dict(challenge, challenge="20250101-CR-0000000000-0000000000-00")
    assert (
        raw.submit_ksef_token(token, challenge=unknown).json()["exception"]["exceptionDetailList"][
            0
        ]["exceptionCode"]
        == 21111
    )
    stale = raw.challenge()
    sim.advance(601)
    expired = raw.submit_ksef_token(token, challenge=stale)
    assert expired.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21111


def test_author_without_permissions_gets_415(raw, sim, test_nip):
    token = sim.create_token(test_nip, "7352765225", ["InvoiceRead"])
    status = _final(raw, raw.submit_ksef_token(token))
    assert status["code"] == 415


def test_effective_permissions_are_token_and_author_intersection(raw, sim, test_nip):
    sim.grant(test_nip, "7352765225", ["InvoiceRead"])
    token = sim.create_token(test_nip, "7352765225", ["InvoiceRead", "InvoiceWrite"])
    access = access_of(raw.login_with_token(token))
    mine = raw.post("/permissions/query/personal/grants", bearer=access, json={}).json()
    assert [p["permissionScope"] for p in mine["permissions"]] == ["InvoiceRead"]


def test_refresh_current_permissions_and_revocation(raw, sim, test_nip):
    sim.grant(test_nip, "7352765225", ["InvoiceRead", "InvoiceWrite"])
    token = sim.create_token(test_nip, "7352765225", ["InvoiceRead", "InvoiceWrite"])
    tokens = raw.login_with_token(token)
    start = (datetime.now(timezone.utc) - timedelta(days=30)).isoformat()
    query = {
        "subjectType": "Subject1",
        "dateRange": {"dateType": "PermanentStorage", "from": start},
    }
    old_access = access_of(tokens)
    sim.revoke_grant(test_nip, "7352765225", ["InvoiceRead"])
    # the issued access token keeps its permissions until it expires
    assert raw.post("/invoices/query/metadata", bearer=old_access, json=query).status_code == 200
    refreshed = raw.post("/auth/token/refresh", bearer=refresh_of(tokens))
    assert refreshed.status_code == 200
    denied = raw.post("/invoices/query/metadata", bearer=access_of(refreshed.json()), json=query)
    assert denied.status_code == 403
    assert denied.json()["reasonCode"] == "missing-permissions"
    assert denied.json()["security"] == {
        "requiredAnyOfPermissions": ["InvoiceRead"],
        "presentPermissions": ["InvoiceWrite"],
    }
    # revoking the KSeF token breaks refresh, not the access token already issued
    sim.set_token_status(token, "Revoked")
    failed = raw.post("/auth/token/refresh", bearer=refresh_of(tokens))
    assert failed.status_code == 400
    detail = failed.json()["exception"]["exceptionDetailList"][0]
    assert (detail["exceptionCode"], detail["details"]) == (
        21301,
        ["Token KSeF został unieważniony."],
    )
    assert raw.get("/tokens", bearer=old_access).status_code == 200


def test_access_token_expires(raw, sim, token):
    access = access_of(raw.login_with_token(token))
    sim.advance(901)
    response = raw.get("/tokens", bearer=access)
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("application/problem+json")


def test_refresh_token_expires_after_seven_days(raw, sim, token):
    tokens = raw.login_with_token(token)
    sim.advance(7 * 86400 - 60)
    assert raw.post("/auth/token/refresh", bearer=refresh_of(tokens)).status_code == 200
    sim.advance(120)
    assert raw.post("/auth/token/refresh", bearer=refresh_of(tokens)).status_code == 401


def test_wrong_kind_of_bearer_is_401(raw, token):
    tokens = raw.login_with_token(token)
    assert raw.get("/tokens", bearer=refresh_of(tokens)).status_code == 401
    assert raw.post("/auth/token/refresh", bearer=access_of(tokens)).status_code == 401
    assert raw.get("/tokens", bearer="not-a-jwt").status_code == 401


def test_authorization_policy_ip(raw, sim, token):
    policy = {"allowedIps": {"ip4Addresses": ["10.1.2.3"], "ip4Ranges": [], "ip4Masks": []}}
    access = access_of(raw.login_with_token(token, authorization_policy=policy))
    response = raw.get("/tokens", bearer=access)
    assert response.status_code == 403
    assert response.json()["reasonCode"] == "ip-not-allowed"
    assert response.json()["security"] == {"clientIp": "127.0.0.1"}
    allowed = {"allowedIps": {"ip4Masks": ["127.0.0.0/8"]}}
    access = access_of(raw.login_with_token(token, authorization_policy=allowed))
    assert raw.get("/tokens", bearer=access).status_code == 200


def test_sessions_list_and_revoke(raw, sim, token):
    first = raw.login_with_token(token)
    second = raw.login_with_token(token)
    listing = raw.get("/auth/sessions", bearer=access_of(second)).json()
    assert len(listing["items"]) == 2
    assert [i["isCurrent"] for i in listing["items"]] == [True, False]
    # revoke the first session by reference: its refresh stops working
    reference = listing["items"][1]["referenceNumber"]
    assert raw.delete(f"/auth/sessions/{reference}", bearer=access_of(second)).status_code == 204
    refused = raw.post("/auth/token/refresh", bearer=refresh_of(first))
    detail = refused.json()["exception"]["exceptionDetailList"][0]
    assert (refused.status_code, detail["exceptionCode"]) == (400, 21301)
    assert detail["details"] == [
        "Status uwierzytelniania (425) nie pozwala na odświeżenie tokenu dostępowego."
    ]
    # the current session with its refresh token
    assert raw.delete("/auth/sessions/current", bearer=refresh_of(second)).status_code == 204
    assert raw.post("/auth/token/refresh", bearer=refresh_of(second)).status_code == 400
    # access tokens keep working until they expire
    assert raw.get("/tokens", bearer=access_of(first)).status_code == 200


def test_sessions_paging(raw, sim, token):
    for _ in range(12):
        last = raw.login_with_token(token)
    access = access_of(last)
    page1 = raw.get("/auth/sessions", bearer=access).json()
    assert len(page1["items"]) == 10 and page1["continuationToken"]
    page2 = raw.get(
        "/auth/sessions",
        bearer=access,
        headers={"x-continuation-token": page1["continuationToken"]},
    ).json()
    assert len(page2["items"]) == 2 and not page2.get("continuationToken")
    bad = raw.get("/auth/sessions", bearer=access, headers={"x-continuation-token": "garbage!"})
    assert bad.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21418
    assert raw.get("/auth/sessions?pageSize=5", bearer=access).status_code == 400


def test_auth_status_gone_after_retention(raw, sim, token):
    sim.config.operation_ttl = 8 * 86400
    init = raw.submit_ksef_token(token).json()
    sim.advance(7 * 86400 + 1)
    response = raw.get(
        f"/auth/{init['referenceNumber']}", bearer=init["authenticationToken"]["token"]
    )
    assert response.status_code == 410


def test_published_certificate_ending_in_a_whitespace_byte_loads_in_the_client():
    """KSeF's certificate may end in any byte: the client must read every one of them."""
    from ksef import crypto
    from ksef.simulator.keys import make_published_key

    for _ in range(3000):
        published = make_published_key()
        if published.certificate_der[-1:] in (b" ", b"\n", b"\r", b"\t", b"\x0b", b"\x0c"):
            break
    else:
        pytest.skip("no certificate ending in a whitespace byte was drawn")
    crypto.load_certificate(published.certificate_der)
