"""Many client threads at once: the one state lock keeps the simulator consistent."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from ksef.simulator import in_process_session
from ksef.simulator.testing import RawKsef, access_of

THREADS = 16


def test_parallel_logins_and_token_work_over_http(sim, sim_server, test_nip, owner_cert):
    pytest.importorskip("ksef.xades")
    owner = access_of(
        RawKsef(requests.Session(), sim_server.base_url).login_with_certificate(
            *owner_cert, test_nip
        )
    )
    shared = sim.create_token(test_nip, test_nip, ["InvoiceRead", "CredentialsManage"])
    local = threading.local()

    def work(i):
        if not hasattr(local, "raw"):
            local.raw = RawKsef(requests.Session(), sim_server.base_url)
        raw = local.raw
        access = access_of(raw.login_with_token(shared))
        created = raw.create_token(owner, ["InvoiceRead"], f"równoległy token {i:03d}")
        assert raw.get(f"/tokens/{created['referenceNumber']}", bearer=access).status_code == 200
        assert raw.delete(f"/tokens/{created['referenceNumber']}", bearer=access).status_code == 204
        return created["referenceNumber"]

    with ThreadPoolExecutor(THREADS) as pool:
        references = list(pool.map(work, range(64)))
    assert len(set(references)) == 64
    statuses = {t["status"] for t in sim.tokens_in(test_nip) if t["referenceNumber"] in references}
    assert statuses == {"Revoked"}
    assert sim.calls["POST /auth/ksef-token"] == 64
    assert sim.calls["POST /tokens"] == 64
    assert sum(1 for op in sim.state.operations.values() if op.redeemed) == 65


def test_parallel_challenges_are_unique_in_process(sim):
    session, base = in_process_session(sim)

    def grab(_):
        return session.post(base + "/auth/challenge").json()["challenge"]

    with ThreadPoolExecutor(THREADS) as pool:
        values = list(pool.map(grab, range(400)))
    assert len(set(values)) == 400


def test_rate_limit_counts_exactly_under_threads(sim, test_nip):
    session, base = in_process_session(sim)
    raw = RawKsef(session, base)
    access = access_of(raw.login_with_token(sim.create_token(test_nip, test_nip, ["InvoiceRead"])))
    sim.config.rate_limits = {"other": (None, 25, None)}

    def call(_):
        return raw.get("/tokens", bearer=access).status_code

    with ThreadPoolExecutor(THREADS) as pool:
        codes = list(pool.map(call, range(60)))
    assert codes.count(200) == 25 and codes.count(429) == 35
