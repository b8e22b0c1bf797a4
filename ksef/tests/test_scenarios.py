"""The official clients' KSeF token scenarios, run by :class:`KsefClient` over real HTTP against
the simulator (``sim_server``). Every answer is validated against ``openapi.json`` by the
``recorder`` fixture, and no scenario may leave a token or JWT in a log record or an error.

Modelled on the C# client's ``KsefTokenE2ETests`` (generate -> wait Active -> authenticate
with the token -> revoke -> Revoked) and on the visibility / revocation rules of API 2.4.0+
(REFERENCE §3.2-3.4).
"""

import logging
import math

import pytest

from ksef.errors import KsefAuthFailed, KsefBadRequest, KsefForbidden
from ksef.identifiers import ContextIdentifier

# the helpers module asserts, so have pytest rewrite it before it is first imported
pytest.register_assert_rewrite("client_fixtures")
from client_fixtures import assert_no_secrets  # noqa: E402

# the shared client fixtures: spec, recorder, make_client, http_client, no_sleep, owner
pytest_plugins = ["client_fixtures"]

POLL = {"poll_interval": 0.01}


def ref(token):
    return token.split("|", 1)[0]


def secrets_of(*items):
    """Every secret string of AuthTokens / GeneratedToken objects and plain token strings."""
    found = []
    for item in items:
        if isinstance(item, str):
            found.append(item)
        else:
            for name in ("access_token", "refresh_token", "token", "authentication_token"):
                value = getattr(item, name, None)
                if value:
                    found.append(value)
    return found


@pytest.fixture(autouse=True)
def _debug_logs(caplog):
    caplog.set_level(logging.DEBUG)


@pytest.fixture
def auth(http_client, no_sleep):
    """``auth(token, **kw)``: authenticate with a KSeF token, no real sleeping."""

    def authenticate(token, **kwargs):
        return http_client.authenticate_with_ksef_token(token, sleep=no_sleep, **POLL, **kwargs)

    return authenticate


# --- generate -> Active -> authenticate -> revoke -> Revoked ------------------------------


def test_token_lifecycle(http_client, owner, sim, caplog):
    """The C# client's ``KsefTokenE2ETests``, with the simulator's clock standing in for time:
    the token is Pending for 5 s and Revoking for 3 s."""
    sim.config.token_activation_delay = 5
    sim.config.token_revocation_delay = 3
    advance = sim.advance  # a "sleep" that moves the simulator clock
    access = owner.access_token

    generated = http_client.generate_token(
        access, ["InvoiceRead", "InvoiceWrite"], "Odoo: wysyłka faktur"
    )
    assert http_client.get_token(access, generated.reference_number).status == "Pending"
    info = http_client.wait_for_token_status(
        access, generated.reference_number, poll_interval=1, timeout=30, sleep=advance
    )
    assert info.status == "Active"
    assert set(info.requested_permissions) == {"InvoiceRead", "InvoiceWrite"}
    assert info.description == "Odoo: wysyłka faktur"

    session = http_client.authenticate_with_ksef_token(generated.token, sleep=advance, **POLL)
    assert session.reference_number and session.access_token and session.refresh_token
    mine = http_client.get_token(session.access_token, generated.reference_number)
    assert mine.status == "Active" and mine.last_use_date is not None

    http_client.revoke_token(access, generated.reference_number)
    revoked = http_client.wait_for_token_status(
        access,
        generated.reference_number,
        ("Revoked",),
        poll_interval=1,
        timeout=30,
        sleep=advance,
    )
    assert revoked.status == "Revoked"

    with pytest.raises(KsefAuthFailed) as failed:
        http_client.authenticate_with_ksef_token(generated.token, sleep=advance, **POLL)
    assert failed.value.status_code == 450 and failed.value.token_unusable
    with pytest.raises(KsefBadRequest) as refused:
        http_client.refresh_access_token(session.refresh_token)
    assert refused.value.code == 21301

    assert_no_secrets(
        secrets_of(generated, session, owner),
        records=caplog.records,
        exceptions=[failed.value, refused.value],
    )


def test_generated_token_permissions_are_limited_to_the_authors(http_client, owner, sim, test_nip):
    """26001: a token cannot get permissions its author lacks (here EnforcementOperations)."""
    with pytest.raises(KsefBadRequest) as refused:
        http_client.generate_token(
            owner.access_token, ["InvoiceRead", "EnforcementOperations"], "Odoo: egzekucja"
        )
    assert refused.value.code == 26001
    assert sim.tokens_in(test_nip) == []


# --- revocation rules ---------------------------------------------------------------------


def test_revoking_another_token_without_credentials_manage_is_refused(
    http_client, auth, sim, test_nip, caplog
):
    token_a = sim.create_token(test_nip, test_nip, ["InvoiceRead", "InvoiceWrite"], "Odoo A")
    token_b = sim.create_token(test_nip, test_nip, ["InvoiceRead"], "Odoo B")
    session_a = auth(token_a)

    with pytest.raises(KsefForbidden) as refused:
        http_client.revoke_token(session_a.access_token, ref(token_b))
    assert refused.value.reason_code == "missing-permissions"
    assert refused.value.missing_permissions == ["CredentialsManage"]
    assert refused.value.http_status == 403
    assert sim.token_info(ref(token_b))["status"] == "Active"

    manager = auth(sim.create_token(test_nip, test_nip, ["CredentialsManage"], "Odoo admin"))
    http_client.revoke_token(manager.access_token, ref(token_b))
    assert sim.token_info(ref(token_b))["status"] in ("Revoking", "Revoked")

    assert_no_secrets(
        secrets_of(token_a, token_b, session_a, manager),
        records=caplog.records,
        exceptions=[refused.value],
    )


def test_token_revokes_itself_and_reads_itself(http_client, auth, sim, test_nip, caplog):
    token = sim.create_token(test_nip, test_nip, ["InvoiceRead"], "Odoo: samoodwołanie")
    session = auth(token)
    assert http_client.get_token(session.access_token, ref(token)).status == "Active"

    http_client.revoke_token(session.access_token, ref(token))
    # the access token lives on until it expires, and may still read its own token
    info = http_client.wait_for_token_status(
        session.access_token,
        ref(token),
        ("Revoked",),
        poll_interval=1,
        timeout=10,
        sleep=sim.advance,
    )
    assert info.status == "Revoked"
    with pytest.raises(KsefBadRequest) as refused:
        http_client.refresh_access_token(session.refresh_token)
    assert refused.value.code == 21301
    with pytest.raises(KsefAuthFailed) as failed:
        auth(token)
    assert failed.value.status_code == 450
    assert_no_secrets(
        secrets_of(token, session),
        records=caplog.records,
        exceptions=[refused.value, failed.value],
    )


# --- listing ------------------------------------------------------------------------------


def test_listing_visibility(http_client, auth, owner, sim, test_nip):
    """A token session without CredentialsRead/Manage sees only itself; a reader and the
    owner see every token of the context."""
    plain = [sim.create_token(test_nip, test_nip, ["InvoiceRead"], f"Odoo {i}") for i in range(3)]
    reader = sim.create_token(test_nip, test_nip, ["CredentialsRead"], "Odoo: przegląd")
    everything = {ref(t) for t in [*plain, reader]}

    session = auth(plain[0])
    assert [t.reference_number for t in http_client.iter_tokens(session.access_token)] == [
        ref(plain[0])
    ]
    with pytest.raises(KsefForbidden):
        http_client.get_token(session.access_token, ref(plain[1]))

    reader_session = auth(reader)
    assert {t.reference_number for t in http_client.iter_tokens(reader_session.access_token)} == (
        everything
    )
    assert {t.reference_number for t in http_client.iter_tokens(owner.access_token)} == everything
    assert http_client.get_token(owner.access_token, ref(plain[2])).description == "Odoo 2"


def test_five_tokens_filtered_by_description_and_status(http_client, auth, sim, test_nip):
    descriptions = [
        "Odoo sprzedaż",
        "Odoo zakupy",
        "ODOO magazyn",
        "Biuro rachunkowe",
        "Aplikacja mobilna KSeF",
    ]
    tokens = {d: sim.create_token(test_nip, test_nip, ["InvoiceRead"], d) for d in descriptions}
    viewer = auth(sim.create_token(test_nip, test_nip, ["CredentialsManage"], "Przegląd tokenów"))
    access = viewer.access_token
    http_client.revoke_token(access, ref(tokens["Odoo zakupy"]))
    http_client.wait_for_token_status(
        access, ref(tokens["Odoo zakupy"]), ("Revoked",), sleep=sim.advance
    )

    def listed(**filters):
        return [t.description for t in http_client.iter_tokens(access, **filters)]

    # newest first; description is a case-insensitive "contains"
    assert listed(description="odoo") == ["ODOO magazyn", "Odoo zakupy", "Odoo sprzedaż"]
    assert listed(description="odoo", statuses=["Active"]) == ["ODOO magazyn", "Odoo sprzedaż"]
    assert listed(statuses=["Revoked"]) == ["Odoo zakupy"]
    assert listed(statuses=["Revoked", "Revoking", "Failed", "Pending"]) == ["Odoo zakupy"]
    assert len(listed(statuses="Active")) == 5  # four of the five, and the viewer
    assert len(listed(author_identifier=test_nip[:5], author_identifier_type="Nip")) == 6
    assert listed(author_identifier_type="Pesel") == []
    page = http_client.list_tokens(access, description="mobilna")
    assert [t.reference_number for t in page.items] == [ref(tokens["Aplikacja mobilna KSeF"])]
    assert page.continuation_token is None


@pytest.mark.parametrize("count", [250, 200, 99, 1])
def test_paging_makes_ceil_n_over_100_calls(http_client, auth, sim, test_nip, recorder, count):
    viewer = sim.create_token(test_nip, test_nip, ["CredentialsRead"], "Odoo: synchronizacja")
    for i in range(count - 1):
        sim.create_token(test_nip, test_nip, ["InvoiceRead"], f"Token {i:03d}")
    session = auth(viewer)
    recorder.reset()

    listed = list(http_client.iter_tokens(session.access_token))

    assert len(listed) == count
    assert len({t.reference_number for t in listed}) == count
    created = [(t.date_created, t.reference_number) for t in listed]
    assert [c[0] for c in created] == sorted((c[0] for c in created), reverse=True)
    assert recorder.count("GET", "/tokens") == math.ceil(count / 100)
    assert sim.calls["GET /tokens"] == math.ceil(count / 100)


def test_auth_sessions_list_and_revoke(http_client, auth, sim, test_nip):
    admin_token = sim.create_token(test_nip, test_nip, ["CredentialsManage"], "Odoo admin")
    first, second = auth(admin_token), auth(admin_token)
    sessions, continuation = http_client.list_auth_sessions(first.access_token, page_size=10)
    by_ref = {s.reference_number: s for s in sessions}
    assert continuation is None
    assert by_ref[first.reference_number].is_current
    assert not by_ref[second.reference_number].is_current
    assert by_ref[second.reference_number].authentication_method_category == "Token"

    # a revoked session's refresh token is dead: 21301 "status does not allow" (425)
    http_client.revoke_auth_session(first.access_token, second.reference_number)
    with pytest.raises(KsefBadRequest) as refused:
        http_client.refresh_access_token(second.refresh_token)
    assert refused.value.code == 21301

    http_client.revoke_current_session(first.refresh_token)
    with pytest.raises(KsefBadRequest) as refused:
        http_client.refresh_access_token(first.refresh_token)
    assert refused.value.code == 21301
    listed = {s.reference_number: s for s in http_client.list_auth_sessions(first.access_token)[0]}
    if first.reference_number in listed:  # a revoked session, if still listed, shows 425
        assert listed[first.reference_number].status_code == 425


def test_a_parsed_token_authenticates_too(http_client, sim, test_nip, no_sleep):
    from ksef.tokens import parse_token

    parsed = parse_token(sim.create_token(test_nip, test_nip, ["InvoiceRead"], "Odoo parsed"))
    tokens = http_client.authenticate_with_ksef_token(parsed, sleep=no_sleep, **POLL)
    assert http_client.get_token(tokens.access_token, parsed.reference_number).status == "Active"


def test_personal_grants_of_a_token_session(http_client, auth, sim, test_nip):
    token = sim.create_token(test_nip, test_nip, ["InvoiceRead", "CredentialsRead"], "Odoo grants")
    session = auth(token)
    names = http_client.query_personal_grants(
        session.access_token, context=ContextIdentifier.nip(test_nip)
    )
    assert {"InvoiceRead", "CredentialsRead"} <= set(names)
