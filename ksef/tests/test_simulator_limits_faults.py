"""Rate limiting (429 + Retry-After, both error formats) and fault injection (latency, 5xx,
dropped connections before / after acting), over HTTP and in-process."""

import time

import pytest
import requests

from ksef.simulator import in_process_session
from ksef.simulator.ratelimit import RateLimiter
from ksef.simulator.testing import RawKsef, access_of

# --- rate limits ---------------------------------------------------------------------------------


def test_limiter_retry_after_for_each_window():
    limiter = RateLimiter()
    assert all(limiter.hit("k", (2, 3, 5), 100.0 + i * 0.1) is None for i in range(2))
    assert limiter.hit("k", (2, 3, 5), 100.5) == (1, 2, 1)  # per second: wait for 100.0 + 1
    assert limiter.hit("k", (2, 3, 5), 101.2) is None
    assert limiter.hit("k", (2, 3, 5), 102.5) == (58, 3, 60)  # per minute: 100.0 + 60 - 102.5
    assert limiter.hit("k", (2, 3, 5), 160.1) is None
    assert limiter.hit("k", (2, 3, 5), 161.5) is None
    assert limiter.hit("k", (2, 3, 5), 230.0) == (3470, 5, 3600)  # per hour: 100.0 + 3600 - 230


def test_429_with_retry_after_then_recovers(raw, sim, test_nip):
    token = sim.create_token(test_nip, test_nip, ["InvoiceRead"])
    access = access_of(raw.login_with_token(token))
    sim.config.rate_limits = {"other": (100, 3, 1000)}
    statuses = [raw.get("/tokens", bearer=access).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = raw.get("/tokens", bearer=access)
    retry_after = int(limited.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    body = limited.json()
    assert body["status"]["code"] == 429 and "Przekroczono limit 3" in body["status"]["details"][0]
    raw.problem_details = True
    problem = raw.get("/tokens", bearer=access)
    assert problem.status_code == 429
    assert problem.headers["Content-Type"].startswith("application/problem+json")
    assert problem.json()["title"] == "Too Many Requests"
    sim.advance(retry_after)
    assert raw.get("/tokens", bearer=access).status_code == 200


def test_groups_share_counters_and_contexts_do_not(raw, sim, test_nip):
    sim.grant("7352765225", test_nip, ["InvoiceRead"])
    first = access_of(raw.login_with_token(sim.create_token(test_nip, test_nip, ["InvoiceRead"])))
    second = access_of(
        raw.login_with_token(sim.create_token("7352765225", test_nip, ["InvoiceRead"]))
    )
    sim.config.rate_limits = {"other": (2, None, None)}
    assert raw.get("/tokens", bearer=first).status_code == 200
    assert raw.get("/auth/sessions", bearer=first).status_code == 200  # same group "other"
    assert raw.get("/rate-limits", bearer=first).status_code == 429
    assert raw.get("/tokens", bearer=second).status_code == 200  # another context


def test_public_endpoints_count_per_ip(sim):
    sim.config.rate_limits = {"public": (3, None, None)}
    here, _ = in_process_session(sim, client_ip="10.0.0.1")
    there, base = in_process_session(sim, client_ip="10.0.0.2")
    codes = [here.post(base + "/auth/challenge").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert there.post(base + "/auth/challenge").status_code == 200


def test_default_limits_reported(raw, sim, test_nip):
    access = access_of(raw.login_with_token(sim.create_token(test_nip, test_nip, ["InvoiceRead"])))
    body = raw.get("/rate-limits", bearer=access).json()
    assert body["invoiceMetadata"] == {"perSecond": 8, "perMinute": 16, "perHour": 20}
    assert body["other"] == {"perSecond": 10, "perMinute": 30, "perHour": 120}


def test_default_limits_are_enforced_when_on(sim, test_nip):
    sim.config.rate_limits = True
    session, base = in_process_session(sim)
    raw = RawKsef(session, base)
    access = access_of(raw.login_with_token(sim.create_token(test_nip, test_nip, ["InvoiceRead"])))
    codes = [raw.get("/tokens", bearer=access).status_code for _ in range(11)]
    assert codes.count(429) == 1 and codes[-1] == 429


# --- faults --------------------------------------------------------------------------------------


def test_latency_fault(raw, sim):
    sim.faults.add("/auth/challenge", kind="latency", delay=0.3)
    started = time.monotonic()
    raw.challenge()
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    raw.challenge()
    assert time.monotonic() - started < 0.3  # times=1 by default


def test_latency_beyond_timeout_still_acts(raw, sim, test_nip):
    owner = access_of(
        raw.login_with_token(sim.create_token(test_nip, test_nip, ["CredentialsManage"]))
    )
    target = sim.create_token(test_nip, test_nip, ["InvoiceRead"])
    sim.faults.add("/tokens/*", method="DELETE", kind="latency", delay=0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        raw.delete(f"/tokens/{target.split('|')[0]}", bearer=owner, timeout=0.1)
    time.sleep(0.6)
    assert sim.token_info(target)["status"] in ("Revoking", "Revoked")


def test_error5xx_does_not_act(raw, sim, test_nip):
    owner = access_of(
        raw.login_with_token(sim.create_token(test_nip, test_nip, ["CredentialsManage"]))
    )
    sim.faults.add("/tokens/*", method="DELETE", kind="error5xx", status=503, times=2)
    target = sim.create_token(test_nip, test_nip, ["InvoiceRead"])
    path = f"/tokens/{target.split('|')[0]}"
    assert [raw.delete(path, bearer=owner).status_code for _ in range(3)] == [503, 503, 204]
    assert sim.calls["DELETE /tokens/{ref}"] == 3


def test_drop_after_acting_over_http(raw, sim, owner_cert, test_nip):
    pytest.importorskip("ksef.xades")
    owner = access_of(raw.login_with_certificate(*owner_cert, test_nip))
    sim.faults.add("/v2/tokens", method="POST", kind="drop_after")
    with pytest.raises(requests.exceptions.ConnectionError):
        raw.post(
            "/tokens",
            bearer=owner,
            json={"permissions": ["InvoiceRead"], "description": "zgubiona odpowiedź"},
        )
    # KSeF acted: the token exists although the client never saw it
    created = sim.tokens_in(test_nip)
    assert [t["description"] for t in created] == ["zgubiona odpowiedź"]
    listing = raw.get("/tokens?description=zgubiona", bearer=owner).json()
    assert len(listing["tokens"]) == 1


def test_drop_before_acting(raw, sim, test_nip):
    owner = access_of(
        raw.login_with_token(sim.create_token(test_nip, test_nip, ["CredentialsManage"]))
    )
    target = sim.create_token(test_nip, test_nip, ["InvoiceRead"])
    sim.faults.add("/tokens/*", kind="drop_before")
    with pytest.raises(requests.exceptions.ConnectionError):
        raw.delete(f"/tokens/{target.split('|')[0]}", bearer=owner)
    assert sim.token_info(target)["status"] == "Active"


def test_faults_in_process(sim, test_nip):
    session, base = in_process_session(sim)
    raw = RawKsef(session, base)
    sim.faults.add("/auth/challenge", kind="drop_after")
    with pytest.raises(requests.exceptions.ConnectionError):
        raw.post("/auth/challenge")
    assert len(sim.state.challenges) == 1
    sim.faults.add("/auth/challenge", kind="latency", delay=0.3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        raw.post("/auth/challenge", timeout=(1, 0.05))
    time.sleep(0.4)
    assert len(sim.state.challenges) == 2
    sim.faults.add("/auth/*", kind="error5xx", status=500, times=None)
    assert raw.post("/auth/challenge").status_code == 500
    assert raw.post("/auth/challenge").status_code == 500
    sim.faults.clear()
    assert raw.post("/auth/challenge").status_code == 200


def test_fault_arguments_checked(sim):
    with pytest.raises(ValueError):
        sim.faults.add("/x", kind="explode")
    with pytest.raises(ValueError):
        sim.faults.add("/x", kind="error5xx", status=404)


# --- API 2.8: every rate-limit group, limits, subunit grants, not implemented -------------------


def test_rate_limits_report_every_group_of_the_latest_spec(raw, sim, test_nip, sim_openapi_spec):
    """A 2.8 client requires all groups of EffectiveApiRateLimits; close limits are 2.8's."""
    access = access_of(raw.login_with_token(sim.create_token(test_nip, test_nip, ["InvoiceRead"])))
    body = raw.get("/rate-limits", bearer=access).json()
    required = sim_openapi_spec.document["components"]["schemas"]["EffectiveApiRateLimits"][
        "required"
    ]
    assert set(required) <= set(body)
    assert body["onlineSessionClose"] == {"perSecond": 20, "perMinute": 60, "perHour": 240}
    assert body["batchSessionClose"] == {"perSecond": 20, "perMinute": 40, "perHour": 120}
    assert body["collectiveIdentifier"] == {"perSecond": 20, "perMinute": 120, "perHour": 240}
    assert body["anonymous"] == {"perSecond": 60, "perMinute": -1, "perHour": -1}
    assert body["global"] == {"perSecond": -1, "perMinute": -1, "perHour": -1}


def test_context_and_subject_limits(raw, sim, test_nip):
    access = access_of(raw.login_with_token(sim.create_token(test_nip, test_nip, ["InvoiceRead"])))
    context = raw.get("/limits/context", bearer=access)
    assert context.status_code == 200
    assert context.json()["collectiveIdentifier"] == {"maxInvoices": 500}
    assert context.json()["onlineSession"]["maxInvoices"] == 10000
    subject = raw.get("/limits/subject", bearer=access)
    assert subject.json() == {
        "enrollment": {"maxEnrollments": 12},
        "certificate": {"maxCertificates": 6},
    }
    assert raw.get("/limits/context").status_code == 401


def _subunit_body(internal_id, **changes):
    body = {
        "subjectIdentifier": {"type": "Pesel", "value": "90010112345"},
        "contextIdentifier": {"type": "InternalId", "value": internal_id},
        "description": "Administrator oddziału",
        "subunitName": "Oddział Kraków",
        "subjectDetails": {"subjectDetailsType": "PersonByIdentifier"},
    }
    body.update(changes)
    return body


def test_subunit_grant_appoints_the_branch_administrator(raw, sim, test_nip):
    from ksef.simulator.state import internal_id_with_check_digit

    branch = internal_id_with_check_digit(test_nip, "0001")
    owner = access_of(raw.login_with_token(sim.create_token(test_nip, test_nip, ["SubunitManage"])))
    response = raw.post("/permissions/subunits/grants", bearer=owner, json=_subunit_body(branch))
    assert response.status_code == 202, response.text
    assert (
        raw.get(
            f"/permissions/operations/{response.json()['referenceNumber']}", bearer=owner
        ).json()["status"]["code"]
        == 200
    )
    assert sim.permissions_of(branch, ("Pesel", "90010112345")) == ["CredentialsManage"]
    listed = raw.post("/permissions/query/subunits/grants", bearer=owner, json={}).json()
    assert [
        (p["subunitIdentifier"]["value"], p["authorizedIdentifier"]["value"])
        for p in listed["permissions"]
    ] == [(branch, "90010112345")]
    assert listed["hasMore"] is False


def test_subunit_grant_errors(raw, sim, test_nip):
    from ksef.simulator.state import internal_id_with_check_digit

    branch = internal_id_with_check_digit(test_nip, "0001")
    owner = access_of(raw.login_with_token(sim.create_token(test_nip, test_nip, ["SubunitManage"])))
    wrong_digit = branch[:-1] + str((int(branch[-1]) + 1) % 10)
    foreign = internal_id_with_check_digit("7352765225", "0001")
    for body in (
        _subunit_body(wrong_digit),
        _subunit_body(foreign),
        _subunit_body(branch, description="abc"),
        _subunit_body("7352765225", contextIdentifier={"type": "Nip", "value": "7352765225"}),
        {k: v for k, v in _subunit_body(branch).items() if k != "subjectDetails"},
    ):
        response = raw.post("/permissions/subunits/grants", bearer=owner, json=body)
        assert response.status_code == 400, body
        assert response.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21405
    reader = access_of(raw.login_with_token(sim.create_token(test_nip, test_nip, ["InvoiceRead"])))
    refused = raw.post("/permissions/subunits/grants", bearer=reader, json=_subunit_body(branch))
    assert refused.status_code == 403
    assert refused.json()["reasonCode"] == "missing-permissions"


def test_spec_operations_not_simulated_answer_not_implemented(sim):
    session, base = in_process_session(sim)
    response = session.post(base + "/permissions/query/entities/grants", json={})
    assert response.status_code == 501
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["reasonCode"] == "simulator-not-implemented"
    assert "POST /v2/permissions/query/entities/grants" in body["detail"]
    # outside the spec: still a plain 404; a wrong method of a simulated path: 405
    assert session.get(base + "/permissions/no-such-path").status_code == 404
    assert session.get(base + "/tokens/x/y").status_code == 404
    assert session.put(base + "/rate-limits").status_code == 405


@pytest.mark.parametrize(
    "detail",
    [
        "Nieprawidłowe szyfrowanie tokena",
        "Nieprawidłowe kodowanie tokena",
        "Token nie może być użyty w kontekście {contextIdentifier}",
    ],
)
def test_auth_outcome_fault_answers_a_documented_450(raw, sim, test_nip, detail):
    token = sim.create_token(test_nip, test_nip, ["InvoiceRead"])
    sim.faults.add("/auth/ksef-token", kind="auth_outcome", status=450, detail=detail)
    init = raw.submit_ksef_token(token).json()
    status = raw.status(init)["status"]
    assert status["code"] == 450
    assert status["details"] == [detail.replace("{contextIdentifier}", test_nip)]


def test_auth_outcome_fault_refuses_undocumented_answers(sim):
    with pytest.raises(ValueError):
        sim.faults.add("/auth/ksef-token", kind="auth_outcome", status=450, detail="Zły token")
    with pytest.raises(ValueError):
        sim.faults.add("/auth/ksef-token", kind="auth_outcome", status=451)


def test_forbidden_fault_has_no_timestamp(raw, sim, test_nip):
    access = access_of(raw.login_with_token(sim.create_token(test_nip, test_nip, ["InvoiceRead"])))
    sim.faults.add("/tokens", method="GET", kind="forbidden", reason="security-service-blocked")
    response = raw.get("/tokens", bearer=access)
    assert response.status_code == 403
    body = response.json()
    assert body["reasonCode"] == "security-service-blocked" and "timestamp" not in body


def test_person_grants_and_entity_roles_queries(raw, sim, test_nip):
    owner = access_of(
        raw.login_with_token(sim.create_token(test_nip, test_nip, ["CredentialsManage"]))
    )
    sim.grant(test_nip, ("Pesel", "90010112345"), ["InvoiceRead", "CollectiveIdentifierManage"])
    body = {"queryType": "PermissionsInCurrentContext"}
    listed = raw.post("/permissions/query/persons/grants", bearer=owner, json=body).json()
    assert sorted(p["permissionScope"] for p in listed["permissions"]) == [
        "CollectiveIdentifierManage",
        "InvoiceRead",
    ]
    bad = raw.post("/permissions/query/persons/grants", bearer=owner, json={"queryType": "X"})
    assert bad.status_code == 400
    roles = raw.get("/permissions/query/entities/roles", bearer=owner).json()
    assert roles == {"roles": [], "hasMore": False}


def test_testdata_person_and_context_block(raw, sim, test_nip):
    body = {"nip": test_nip, "pesel": "90010112345", "isBailiff": True, "description": "Komornik"}
    assert raw.post("/testdata/person", json=body).status_code == 200
    assert "EnforcementOperations" in sim.permissions_of(test_nip, ("Pesel", "90010112345"))
    bad = raw.post("/testdata/person", json=dict(body, pesel="123"))
    assert bad.status_code == 400
    context = {"contextIdentifier": {"type": "Nip", "value": test_nip}}
    assert raw.post("/testdata/context/block", json=context).status_code == 200
    token = sim.create_token(test_nip, test_nip, ["InvoiceRead"])
    status = raw.status(raw.submit_ksef_token(token).json())["status"]
    assert status["code"] == 480
    assert raw.post("/testdata/context/unblock", json=context).status_code == 200
    assert raw.finish(raw.submit_ksef_token(token))
