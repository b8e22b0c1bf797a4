"""Hostile and malformed input never makes the simulator answer 5xx or leak a traceback;
error bodies follow the legacy / Problem Details formats; routing answers 404 / 405."""

import json
import random

import pytest
import requests

from ksef.simulator import KsefSimulator, fast_test_config, in_process_session
from ksef.simulator.app import ROUTES
from ksef.simulator.testing import RawKsef, access_of
from ksef.tests.client_fixtures import OpenApiRecorder


def _assert_documented_error(response):
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
    if response.status_code >= 400:
        body = response.json()
        media = response.headers["Content-Type"].split(";")[0]
        if media == "application/json":
            assert "exception" in body or "status" in body
        else:
            assert media == "application/problem+json" and body["status"] == response.status_code


def test_unknown_path_and_wrong_method(raw):
    assert raw.get("/nope").status_code == 404
    assert (
        raw.session.get(raw.base_url.replace("/v2", "/v3") + "/auth/challenge").status_code == 404
    )
    response = raw.get("/auth/challenge")
    assert response.status_code == 405 and response.headers["Allow"] == "POST"
    assert raw.request("PUT", "/tokens").status_code == 405
    raw.recorder.problems.clear()  # 404/405 are not operations of the spec


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b"null",
        b"42",
        b'"text"',
        b"\xff\xfe\x00",
        b"[" * 50_000 + b"]" * 50_000,
        json.dumps({"challenge": 1, "contextIdentifier": "Nip", "encryptedToken": []}).encode(),
        json.dumps(
            {
                "challenge": "x" * 36,
                "contextIdentifier": {"type": "Nip", "value": 5265877635},
                "encryptedToken": "AAAA",
            }
        ).encode(),
        json.dumps(
            {
                "challenge": "x" * 36,
                "contextIdentifier": {"type": "Regon", "value": "123"},
                "encryptedToken": "AAAA",
            }
        ).encode(),
        json.dumps(
            {
                "challenge": "x" * 36,
                "contextIdentifier": {"type": "Nip", "value": "1234567890"},
                "encryptedToken": "AAAA",
            }
        ).encode(),
        json.dumps(
            {
                "challenge": "x" * 36,
                "contextIdentifier": {"type": "Nip", "value": "5265877635"},
                "encryptedToken": "AAAA",
                "publicKeyId": 7,
            }
        ).encode(),
        json.dumps(
            {
                "challenge": "x" * 36,
                "contextIdentifier": {"type": "Nip", "value": "5265877635"},
                "encryptedToken": "AAAA",
                "authorizationPolicy": {"allowedIps": {"ip4Masks": ["1.2.3.4"]}},
            }
        ).encode(),
    ],
)
def test_ksef_token_bad_bodies(raw, body):
    response = raw.post("/auth/ksef-token", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] in (21405, 21111)


def test_huge_json_body(raw):
    response = raw.post("/auth/ksef-token", data=b" " * (1024 * 1024 + 1))
    assert response.status_code == 400
    # the connection was closed cleanly; the next call on the same session works
    assert raw.post("/auth/challenge").status_code == 200


def test_chunked_body(raw, sim, test_nip):
    token = sim.create_token(test_nip, test_nip, ["InvoiceRead"])
    access = access_of(raw.login_with_token(token))

    def chunks():
        yield b'{"permissions": ["InvoiceRead"], '
        yield b'"description": "chunked body"}'

    response = raw.post("/tokens", bearer=access, data=chunks())
    assert response.status_code == 403  # token session: generation refused, body was read


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Basic abc",
        "Bearer a.b.c",
        "Bearer \xe9\xe0.\xf3.\xff",
        "Bearer " + "x" * 10_000,
        "bearer eyJhbGciOiJub25lIn0.e30.",
    ],
)
def test_bad_bearer_is_401_problem(raw, header):
    response = raw.get("/tokens", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("application/problem+json")


def test_alg_none_and_foreign_signatures_refused(raw, sim, test_nip):
    import base64

    def b64(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    forged = (
        b64({"alg": "none", "typ": "JWT"})
        + "."
        + b64({"typ": "ContextToken", "exp": 9999999999})
        + "."
    )
    assert raw.get("/tokens", bearer=forged).status_code == 401
    other = KsefSimulator(fast_test_config())
    session, base = in_process_session(other)
    foreign = access_of(
        RawKsef(session, base).login_with_token(
            other.create_token(test_nip, test_nip, ["InvoiceRead"])
        )
    )
    assert raw.get("/tokens", bearer=foreign).status_code == 401


def test_problem_details_switch(raw):
    legacy = raw.post("/auth/ksef-token", json={})
    assert legacy.headers["Content-Type"].startswith("application/json")
    exception = legacy.json()["exception"]
    assert set(exception) == {
        "exceptionDetailList",
        "referenceNumber",
        "serviceCode",
        "serviceCtx",
        "serviceName",
        "timestamp",
    }
    raw.problem_details = True
    problem = raw.post("/auth/ksef-token", json={})
    assert problem.headers["Content-Type"].startswith("application/problem+json")
    body = problem.json()
    assert set(body) == {"title", "status", "instance", "detail", "errors", "timestamp", "traceId"}
    assert body["errors"][0]["code"] == 21405 and body["instance"] == "/v2/auth/ksef-token"


def test_reset_forgets_everything(raw, sim, test_nip):
    token = sim.create_token(test_nip, test_nip, ["InvoiceRead"])
    access = access_of(raw.login_with_token(token))
    sim.faults.add("/nothing")
    sim.reset()
    assert sim.tokens_in(test_nip) == [] and len(sim.faults) == 0 and not sim.calls
    assert raw.get("/tokens", bearer=access).status_code == 401


def test_error_bodies_hold_no_secret(raw, sim, test_nip):
    token = sim.create_token(test_nip, test_nip, ["InvoiceRead"])
    secret = token.split("|")[2]
    tokens = raw.login_with_token(token)
    texts = [
        raw.redeem(
            {"referenceNumber": "x", "authenticationToken": {"token": access_of(tokens)}}
        ).text,
        raw.get("/tokens/" + token, bearer=access_of(tokens)).text,
        raw.post(
            "/auth/ksef-token",
            json={"challenge": secret[:36], "contextIdentifier": {}, "encryptedToken": secret},
        ).text,
    ]
    for text in texts:
        assert secret not in text and access_of(tokens) not in text


def _fuzz_bodies(rng):
    yield b""
    yield bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300)))
    values = [
        None,
        0,
        -1,
        1e308,
        "",
        "x" * 300,
        [],
        {},
        [None],
        {"type": "Nip"},
        True,
        "Nip",
        "\u0000",
    ]
    for _ in range(6):
        keys = [
            "challenge",
            "contextIdentifier",
            "encryptedToken",
            "publicKeyId",
            "permissions",
            "description",
            "subjectType",
            "dateRange",
            "permissionTypes",
            "subjectIdentifier",
            "subjectDetails",
            "authorizationPolicy",
            "permissionState",
            "targetIdentifier",
        ]
        yield json.dumps(
            {k: rng.choice(values) for k in rng.sample(keys, rng.randint(1, len(keys)))}
        ).encode()


def test_fuzz_every_route_in_process(sim, test_nip, caplog, sim_openapi_spec, sim_openapi_spec_2_6):
    """Random bodies, queries and paths on every route, authenticated and not: never 5xx,
    and no handler ever fails unexpectedly (the catch-all is not what keeps it alive)."""
    rng = random.Random(20261121)
    session, base = in_process_session(sim)
    recorder = OpenApiRecorder(sim_openapi_spec, legacy=sim_openapi_spec_2_6)
    recorder.install(session)
    raw = RawKsef(session, base)
    access = access_of(
        raw.login_with_token(
            sim.create_token(test_nip, test_nip, ["InvoiceRead", "CredentialsManage"])
        )
    )
    queries = [
        "",
        "?pageSize=-1",
        "?pageSize=abc",
        "?pageOffset=99999999999999999999",
        "?status=&status=x",
        "?sortOrder=Up",
        "?verifyCertificateChain=%00",
        "?" + "&".join(f"a{i}=1" for i in range(300)),
    ]
    refs = ["x", "20250101-EC-0000000000-0000000000-00", "%00", "a" * 500, "..%2F..%2Fetc"]
    for route in ROUTES:
        for bearer in (None, access):
            for body in _fuzz_bodies(rng):
                path = route.template.replace("{ref}", rng.choice(refs))
                response = raw.request(
                    route.method,
                    path + rng.choice(queries),
                    bearer=bearer,
                    data=body,
                    headers={"Content-Type": "application/json"},
                )
                _assert_documented_error(response)
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "WARNING")]
    recorder.assert_clean()  # every answer, errors included, matches openapi.json


def test_wsgi_callable_directly(sim):
    captured = {}

    def start_response(status, headers):
        captured["status"], captured["headers"] = status, headers

    import io

    body = b"".join(
        sim(
            {
                "REQUEST_METHOD": "POST",
                "PATH_INFO": "/v2/auth/challenge",
                "wsgi.input": io.BytesIO(),
            },
            start_response,
        )
    )
    assert captured["status"].startswith("200") and json.loads(body)["challenge"]


def test_garbage_request_line_over_http(sim_server):
    import socket

    with socket.create_connection((sim_server.host, sim_server.port), timeout=5) as conn:
        conn.sendall(b"\x16\x03\x01 garbage\r\n\r\n")
        answer = conn.recv(1024)
    assert b"400" in answer  # http.server answers a garbage request line with 400
    assert requests.post(sim_server.base_url + "/auth/challenge").status_code == 200


def test_server_shuts_down_cleanly(sim):
    from ksef.simulator import SimulatorServer

    with SimulatorServer(sim) as server:
        url = server.base_url
        assert requests.post(url + "/auth/challenge", timeout=5).status_code == 200
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(url + "/auth/challenge", timeout=2)


def test_demo_simulator_and_banner():
    from ksef.simulator.__main__ import banner, build_demo_simulator

    sim, token = build_demo_simulator()
    assert sim.token_info(token)["status"] == "Active"
    assert len(sim.state.invoices) == 10
    text = banner("http://127.0.0.1:8090/v2", token)
    assert "http://127.0.0.1:8090/v2" in text and token in text


def test_test_system_warning_is_echoed(raw):
    response = raw.post(
        "/auth/challenge", headers={"X-Test-System-Warning": "[W1]: Przerwa łączności".encode()}
    )
    assert response.headers["X-System-Warning"] == "[W1]: Przerwa lacznosci"
    assert "X-System-Warning" not in raw.post("/auth/challenge").headers


def test_sandbox_is_one_per_process(test_nip):
    from ksef.simulator import get_sandbox, reset_sandbox, sandbox_session

    assert get_sandbox() is get_sandbox()
    session, base = sandbox_session()
    assert base == "http://ksef-sandbox.invalid/v2"
    token = get_sandbox().create_token(test_nip, test_nip, ["InvoiceRead"])
    init = RawKsef(session, base).submit_ksef_token(token)
    assert init.status_code == 202
    reset_sandbox()
    assert get_sandbox().tokens_in(test_nip) == []
