"""Error mapping of :class:`KsefClient` against the simulator over real HTTP.

Each KSeF failure mode reaches the caller as the documented exception of :mod:`ksef.errors`:
both 400 body formats, 401, 403 with its reasonCode, 429 with Retry-After (never slept
through), 5xx, timeouts, dropped connections, the 21470 key refetch, the final statuses of an
authentication (450 variants), and the one-shot redeem. Every answer is validated against
``openapi.json`` and no token or JWT may appear in a log record or an exception.
"""

import logging
import time

import pytest

from ksef.errors import (
    KsefAuthFailed,
    KsefAuthTimeout,
    KsefBadRequest,
    KsefForbidden,
    KsefRateLimited,
    KsefServerError,
    KsefTransportError,
    KsefUnauthorized,
)
from ksef.identifiers import ContextIdentifier
from ksef.models import AuthorizationPolicy

# the helpers module asserts, so have pytest rewrite it before it is first imported
pytest.register_assert_rewrite("client_fixtures")
from client_fixtures import assert_no_secrets  # noqa: E402

# the shared client fixtures: spec, recorder, make_client, http_client, no_sleep, owner
pytest_plugins = ["client_fixtures"]

OTHER_NIP = "7352765225"


def ref(token):
    return token.split("|", 1)[0]


@pytest.fixture(autouse=True)
def _debug_logs(caplog):
    caplog.set_level(logging.DEBUG)


@pytest.fixture
def token(sim, test_nip):
    """An Active token of the owner with invoice and credential-reading permissions."""
    return sim.create_token(test_nip, test_nip, ["InvoiceRead", "CredentialsRead"], "Odoo test")


@pytest.fixture
def session(http_client, token, no_sleep):
    """AuthTokens of a session opened with ``token``."""
    return http_client.authenticate_with_ksef_token(token, poll_interval=0.01, sleep=no_sleep)


def leaks(caplog, *secrets, exceptions=()):
    values = []
    for item in secrets:
        if isinstance(item, str):
            values.append(item)
        else:
            values += [item.access_token, item.refresh_token]
    assert_no_secrets(values, records=caplog.records, exceptions=exceptions)


# --- 400 in both formats ------------------------------------------------------------------


def test_legacy_and_problem_details_400_map_to_the_same_errors(
    make_client, session, recorder, caplog
):
    legacy, problem = make_client(), make_client(problem_details=True)
    caught = []
    for client in (legacy, problem):
        with pytest.raises(KsefBadRequest) as exc:
            client.list_tokens(session.access_token, description="ab")  # < 3 characters
        caught.append(exc.value)
    assert caught[0].code == caught[1].code == 21405
    assert caught[0].errors == caught[1].errors and caught[0].errors[0][1]
    assert caught[0].http_status == caught[1].http_status == 400
    statuses = [status for method, path, status in recorder.calls if path.endswith("/tokens")]
    assert statuses == [400, 400]
    leaks(caplog, session, exceptions=caught)


def test_bad_continuation_token_is_21418(http_client, session):
    with pytest.raises(KsefBadRequest) as caught:
        http_client.list_tokens(session.access_token, continuation_token="not a cursor!")
    assert caught.value.code == 21418


def test_generation_outside_the_authors_permissions_is_26001(http_client, owner):
    with pytest.raises(KsefBadRequest) as caught:
        http_client.generate_token(owner.access_token, ["EnforcementOperations"], "Egzekucja")
    assert caught.value.code == 26001 and caught.value.details


# --- 401 / 403 ----------------------------------------------------------------------------


@pytest.mark.parametrize("problem_details", [False, True])
def test_bad_bearer_is_unauthorized(make_client, caplog, problem_details):
    bogus = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJub2JvZHkifQ.Zm9yZ2VkLXNpZ25hdHVyZQ"
    with pytest.raises(KsefUnauthorized) as caught:
        make_client(problem_details=problem_details).list_tokens(bogus)
    assert caught.value.http_status == 401
    leaks(caplog, bogus, exceptions=[caught.value])


def test_expired_access_token_is_unauthorized(http_client, session, sim):
    sim.advance(sim.config.access_ttl + 1)
    with pytest.raises(KsefUnauthorized):
        http_client.list_tokens(session.access_token)
    fresh = http_client.refresh_access_token(session.refresh_token)
    assert http_client.list_tokens(fresh.token).items


def test_missing_permission_is_forbidden_with_reason(http_client, sim, test_nip, no_sleep):
    writer = sim.create_token(test_nip, test_nip, ["InvoiceWrite"], "Odoo: tylko wysyłka")
    tokens = http_client.authenticate_with_ksef_token(writer, poll_interval=0.01, sleep=no_sleep)
    with pytest.raises(KsefForbidden) as caught:
        http_client.query_invoice_metadata(
            tokens.access_token,
            subject_type="Subject1",
            date_from="2026-01-01T00:00:00+00:00",
            date_to=None,
        )
    assert caught.value.reason_code == "missing-permissions"
    assert caught.value.missing_permissions == ["InvoiceRead"]


def test_authorization_policy_blocks_other_ips(http_client, token, no_sleep, caplog):
    policy = AuthorizationPolicy(ip4_addresses=("203.0.113.7",))
    tokens = http_client.authenticate_with_ksef_token(
        token, authorization_policy=policy, poll_interval=0.01, sleep=no_sleep
    )
    with pytest.raises(KsefForbidden) as caught:
        http_client.list_tokens(tokens.access_token)
    assert caught.value.reason_code == "ip-not-allowed"
    assert caught.value.security.get("clientIp") == "127.0.0.1"
    leaks(caplog, token, tokens, exceptions=[caught.value])


# --- 429 ----------------------------------------------------------------------------------


def test_rate_limit_surfaces_retry_after_and_is_not_slept(http_client, session, sim, no_sleep):
    sim.config.rate_limits = {"other": (1, None, None)}
    http_client.list_tokens(session.access_token)
    started = time.monotonic()
    with pytest.raises(KsefRateLimited) as caught:
        http_client.list_tokens(session.access_token)
    assert time.monotonic() - started < 0.5
    assert isinstance(caught.value.retry_after, int) and caught.value.retry_after >= 1
    assert caught.value.retryable and caught.value.http_status == 429
    assert no_sleep.calls == [] or max(no_sleep.calls) < 1


def test_rate_limit_during_polling_is_raised_not_slept(http_client, token, sim, no_sleep):
    sim.config.auth_delay = 30  # status stays 100 and the client keeps polling
    sim.config.rate_limits = {"public": (3, None, None)}
    with pytest.raises(KsefRateLimited):
        http_client.authenticate_with_ksef_token(token, poll_interval=0.01, sleep=no_sleep)
    assert all(pause == 0.01 for pause in no_sleep.calls)


# --- 5xx, timeouts, dropped connections ---------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors(http_client, session, sim, status):
    sim.faults.add("/tokens", method="GET", kind="error5xx", status=status)
    with pytest.raises(KsefServerError) as caught:
        http_client.list_tokens(session.access_token)
    assert caught.value.http_status == status and caught.value.retryable
    assert http_client.list_tokens(session.access_token).items  # the fault fired once


def test_slow_answer_is_a_timeout(make_client, session, sim, caplog):
    client = make_client(timeout=(2, 0.3))
    sim.faults.add("/tokens", method="GET", kind="latency", delay=1.0)
    started = time.monotonic()
    with pytest.raises(KsefTransportError) as caught:
        client.list_tokens(session.access_token)
    assert caught.value.kind == "timeout" and caught.value.retryable
    assert time.monotonic() - started < 0.9
    leaks(caplog, session, exceptions=[caught.value])


def test_dropped_connection(http_client, session, sim):
    sim.faults.add("/tokens", method="GET", kind="drop_before")
    with pytest.raises(KsefTransportError) as caught:
        http_client.list_tokens(session.access_token)
    assert caught.value.kind == "connection"


def test_dropped_answer_after_ksef_acted_can_be_reconciled(
    http_client, session, sim, test_nip, no_sleep
):
    """``drop_after``: KSeF revoked the token but the client never heard back."""
    victim = sim.create_token(test_nip, test_nip, ["InvoiceRead"], "Odoo: do odwołania")
    manager = http_client.authenticate_with_ksef_token(
        sim.create_token(test_nip, test_nip, ["CredentialsManage"], "Odoo admin"),
        poll_interval=0.01,
        sleep=no_sleep,
    )
    sim.faults.add("/tokens/*", method="DELETE", kind="drop_after")
    with pytest.raises(KsefTransportError):
        http_client.revoke_token(manager.access_token, ref(victim))
    info = http_client.get_token(manager.access_token, ref(victim))
    assert info.status in ("Revoking", "Revoked")


# --- authentication outcomes --------------------------------------------------------------


def test_withdrawn_encryption_key_is_refetched_once(http_client, token, sim, recorder, no_sleep):
    http_client.authenticate_with_ksef_token(token, poll_interval=0.01, sleep=no_sleep)
    sim.rotate_key()  # the cached key is now withdrawn: 21470
    recorder.reset()
    tokens = http_client.authenticate_with_ksef_token(token, poll_interval=0.01, sleep=no_sleep)
    assert tokens.access_token
    assert recorder.count("GET", "/security/public-key-certificates") == 1
    assert [s for m, p, s in recorder.calls if p.endswith("/auth/ksef-token")] == [400, 202]


@pytest.mark.parametrize(
    "setup, detail",
    [
        (lambda sim, t: sim.set_token_status(ref(t), "Revoked"), "Token unieważniony"),
        (lambda sim, t: sim.set_token_status(ref(t), "Pending"), "Token nieaktywny"),
        (lambda sim, t: sim.set_token_status(ref(t), "Failed"), "Token nieaktywny"),
    ],
    ids=["revoked", "pending", "failed"],
)
def test_unusable_token_ends_with_450(http_client, token, sim, no_sleep, caplog, setup, detail):
    setup(sim, token)
    with pytest.raises(KsefAuthFailed) as caught:
        http_client.authenticate_with_ksef_token(token, poll_interval=0.01, sleep=no_sleep)
    exc = caught.value
    assert exc.status_code == 450 and exc.token_unusable and not exc.retryable
    assert exc.details == [detail] and exc.reference_number
    leaks(caplog, token, exceptions=[exc])


def test_token_used_in_another_context_ends_with_450(http_client, token, no_sleep):
    with pytest.raises(KsefAuthFailed) as caught:
        http_client.authenticate_with_ksef_token(
            token, context=ContextIdentifier.nip(OTHER_NIP), poll_interval=0.01, sleep=no_sleep
        )
    assert caught.value.status_code == 450
    assert caught.value.details == [f"Token nie może być użyty w kontekście {OTHER_NIP}"]


def test_author_without_permissions_ends_with_415(http_client, sim, test_nip, no_sleep):
    """A token authored by someone who holds nothing in the context any more."""
    token = sim.create_token(test_nip, OTHER_NIP, ["InvoiceRead"], "Odoo: obcy autor")
    with pytest.raises(KsefAuthFailed) as caught:
        http_client.authenticate_with_ksef_token(token, poll_interval=0.01, sleep=no_sleep)
    assert caught.value.status_code == 415 and not caught.value.token_unusable


def test_authentication_timeout(http_client, token, sim, no_sleep):
    sim.config.auth_delay = 60
    with pytest.raises(KsefAuthTimeout) as caught:
        http_client.authenticate_with_ksef_token(
            token, poll_interval=1, poll_timeout=3, sleep=no_sleep
        )
    assert caught.value.code == "auth_timeout" and caught.value.reference_number
    assert no_sleep.calls == [1, 1, 1]


def test_redeem_twice_is_21301(http_client, token, caplog, no_sleep):
    from ksef.tokens import parse_token

    parsed = parse_token(token)
    init = http_client.submit_ksef_token(http_client.get_challenge(), parsed.context, token)
    http_client.wait_for_authentication(init, poll_interval=0.01, sleep=no_sleep)
    tokens = http_client.redeem_token(init.authentication_token)
    with pytest.raises(KsefBadRequest) as caught:
        http_client.redeem_token(init.authentication_token)
    assert caught.value.code == 21301
    leaks(caplog, token, tokens, init.authentication_token, exceptions=[caught.value])


def test_reused_challenge_is_21111(http_client, token):
    from ksef.tokens import parse_token

    parsed = parse_token(token)
    challenge = http_client.get_challenge()
    http_client.submit_ksef_token(challenge, parsed.context, token)
    with pytest.raises(KsefBadRequest) as caught:
        http_client.submit_ksef_token(challenge, parsed.context, token)
    assert caught.value.code == 21111


def test_refresh_after_token_revocation_is_21301(http_client, session, token, sim, caplog):
    sim.set_token_status(ref(token), "Revoked")
    with pytest.raises(KsefBadRequest) as caught:
        http_client.refresh_access_token(session.refresh_token)
    assert caught.value.code == 21301
    assert http_client.list_tokens(session.access_token).items  # issued access still works
    leaks(caplog, token, session, exceptions=[caught.value])


def test_xades_authentication_of_a_person_without_permissions_is_415(
    http_client, other_person_cert, test_nip, no_sleep
):
    key, certificate = other_person_cert
    with pytest.raises(KsefAuthFailed) as caught:
        http_client.authenticate_with_certificate(
            ContextIdentifier.nip(test_nip), key, certificate, poll_interval=0.01, sleep=no_sleep
        )
    assert caught.value.status_code == 415


def test_tampered_xades_is_a_bad_request(http_client, owner_cert, test_nip):
    from ksef import xades

    key, certificate = owner_cert
    _challenge, xml = http_client.prepare_auth_request(ContextIdentifier.nip(test_nip))
    signed = xades.sign_auth_token_request(xml, key, certificate)
    tampered = signed.replace(test_nip.encode(), OTHER_NIP.encode(), 1)
    with pytest.raises(KsefBadRequest) as caught:
        http_client.submit_xades_signature(tampered)
    assert caught.value.code in (9105, 21115, 21401, 21405)
