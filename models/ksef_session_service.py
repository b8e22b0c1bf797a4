"""The one session factory: every KSeF call that needs an authenticated session gets it here.

Other modules and the addon's jobs:

    with env["ksef.session.service"].get_client(company, "fetch", user=job_user) as session:
        session.client.query_invoice_metadata(session.access_token, ...)

or, with automatic fallback to another credential when KSeF refuses the one used:

    env["ksef.session.service"].call(company, "fetch", lambda s: s.client.get_token(...))

The addon's own services (sync, revocation, generation recovery, connectivity, import
verification, generation), after ``ksef.access`` checked the acting user:

* :meth:`~KsefSessionService._ksef_context_session`: a session in a company's own KSeF
  context able to do ``scope`` (an administrator session for inventory and revocation);
* :meth:`~KsefSessionService._ksef_own_session`: a token authenticating as itself;
* :meth:`~KsefSessionService._ksef_transient_session`: a credential Odoo does not store
  (a pasted token being verified, a secret of the orphan journal, a XAdES-signed request).

How a session is obtained (see ARCHITECTURE.md):

1. **Choice.** :meth:`~KsefSessionService._ksef_candidates` orders the credentials: the acting
   user's own operator tokens, the branch's, then the company's up the parents; within each
   level the least privileged first. ``ksef.access`` says which of them the user may use.
2. **Cache.** ``ksef.session`` holds one row per credential with its JWTs, encrypted; an access
   token is reused until shortly before it expires, then refreshed, and a full authentication
   happens only when the refresh token cannot be used.
3. **Concurrency.** Renewal runs under a row lock in its own cursor: one worker authenticates,
   the others reuse what it committed.
4. **Failures.** One retry policy (:meth:`~KsefSessionService._ksef_with_retries`): timeouts,
   connection failures and 5xx are retried with backoff, then, like a 429, raise
   :class:`KsefRetryLater` carrying the error mapper's sentence. A credential KSeF says is
   unusable is marked in one place (:meth:`~KsefSessionService._ksef_mark_unusable`) and the
   next candidate is tried.

A second kind of credential (a KSeF certificate) plugs in by implementing what the factory
asks of a credential: ``environment``, ``company_id``, ``_ksef_authenticate(client, policy)``
and a row in ``ksef.session``; callers do not change.

Never log or raise with a JWT or a secret in the text.
"""

import dataclasses
import functools
import logging
import time
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..ksef import permissions as ksef_perms
from ..ksef.errors import (
    KsefAuthFailed,
    KsefAuthTimeout,
    KsefError,
    KsefForbidden,
    KsefRateLimited,
    KsefServerError,
    KsefTransportError,
)
from .ksef_access import SCOPES
from .ksef_certificate import CertificateCredential
from .ksef_connection import make_client
from .ksef_exceptions import KsefNoUsableToken, KsefRetryLater, KsefSecretUnreadable
from .ksef_ip_policy import policy_key

_logger = logging.getLogger(__name__)

#: attempts of one KSeF call on timeouts, connection failures and 5xx
TRANSPORT_ATTEMPTS = 3
#: first backoff delay (s); doubled at each attempt
BACKOFF = 0.5
#: how the factory polls KSeF's authentication status
AUTH_POLL = {"poll_interval": 0.2, "poll_timeout": 60.0}


@dataclasses.dataclass
class KsefSessionHandle:
    """An authenticated KSeF session: ``client`` (a KsefClient), ``access_token`` (the bearer
    JWT, never log it), ``token`` (the credential used, in the caller's environment; ``None``
    for a transient credential) and ``valid_until`` (naive UTC). Use it as a context manager
    to close the HTTP session. :meth:`run` calls KSeF with the factory's retry policy."""

    client: object
    access_token: str = dataclasses.field(repr=False)
    token: object
    valid_until: object = None
    service: object = dataclasses.field(default=None, repr=False)
    #: for a KSeF certificate: the permissions its identity holds in the context
    granted: tuple | None = None

    def run(self, function, *args, **kwargs):
        """``function(access_token, *args, **kwargs)`` (a client method), with retries;
        raises :class:`KsefRetryLater` when KSeF says "not now"."""
        return self.service._ksef_with_retries(lambda: function(self.access_token, *args, **kwargs))

    def close(self):
        self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def python_only(method):
    """Refuse a call that does not pass records, as any RPC call does (JSON carries no records):
    the public API is for Python code of other modules, not for remote callers."""

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        records = args[:1] + tuple(v for k, v in kwargs.items() if k in ("company", "token"))
        if not records or not all(isinstance(r, models.BaseModel) for r in records):
            raise UserError(
                self.env._(
                    "%(method)s of the KSeF session service is for Python code of other "
                    "modules and cannot be called remotely. Call it from server code with "
                    "company or token records.",
                    method=method.__name__,
                )
            )
        return method(self, *args, **kwargs)

    return guarded


class KsefSessionService(models.AbstractModel):
    _name = "ksef.session.service"
    _description = "KSeF Session Service"

    # ------------------------------------------------------------------
    # PUBLIC API
    # ------------------------------------------------------------------

    @api.model
    @python_only
    def get_client(self, company, scope, user=None, *, exclude_tokens=None):
        """An authenticated KSeF session for ``user`` acting for ``company`` within ``scope``.

        :param company: the ``res.company`` (company or branch) to act for
        :param scope: ``'send'`` (W), ``'fetch'`` (P) or ``'administer'`` (A)
        :param user: the acting ``res.users`` (default: the environment's user); the session is
            only given when this user's KSeF group covers ``scope``
        :param exclude_tokens: ``ksef.token`` records not to use (already refused)
        :returns: :class:`KsefSessionHandle`
        :raises KsefNoUsableToken: no candidate may be used; says why for each
        :raises KsefRetryLater: KSeF asked to wait (429), stays unreachable, or another worker
            holds the session lock too long; ``retry_after`` is in seconds
        """
        if scope not in SCOPES:
            raise ValueError(f"unknown KSeF scope {scope!r}")
        company.ensure_one()
        user = (user or self.env.user).sudo(False)
        candidates = self.env["ksef.credential.choice"]._ksef_ordered_candidates(
            company, user, exclude_tokens
        )
        problems_of = self.env["ksef.credential.choice"]._ksef_problems_function(
            company, scope, user
        )
        session, problems = self._ksef_first_session(candidates, problems_of, scope=scope)
        if session:
            return session
        problems = {
            token: [p.args[0]] if isinstance(p, KsefSecretUnreadable) else p
            for token, p in problems.items()
        }
        raise self.env["ksef.credential.choice"]._ksef_no_usable_token(
            company, scope, user, problems
        )

    @api.model
    @python_only
    def get_client_for_token(self, token, user=None):
        """An authenticated session of one given token, for its connectivity check.

        Only KSeF administrators of the token's company may open it (whatever the token's
        permissions: reading one's own token status in KSeF needs none).

        :raises AccessError: ``user`` is not a KSeF administrator of the token's company
        :raises KsefAuthFailed: KSeF refused the token (it is marked unusable first)
        :raises KsefRetryLater: as :meth:`get_client`
        """
        token.ensure_one()
        self.env["ksef.access"]._ksef_check_token_admin(token, user)
        return self._ksef_own_session(token)

    @api.model
    @python_only
    def call(self, company, scope, function, user=None):
        """``function(session)`` with a session of :meth:`get_client`; when KSeF refuses the
        token for that call (403 missing permissions), the token is marked and the call is
        repeated once per remaining candidate. Returns what ``function`` returns."""
        refused = []
        while True:
            session = self.get_client(company, scope, user=user, exclude_tokens=refused)
            with session:
                try:
                    return function(session)
                except KsefForbidden as e:
                    if e.reason_code != "missing-permissions":
                        raise
                    if session.token._name == "ksef.token":
                        self.env["ksef.credential.refusal"]._ksef_mark_missing_permissions(
                            session.token, e
                        )
                except (KsefRateLimited, KsefTransportError, KsefServerError) as e:
                    raise self.env["ksef.messages"]._ksef_retry_later(e) from None
            refused.append(session.token)

    # ------------------------------------------------------------------
    # FOR THE ADDON'S SERVICES (the caller checked the acting user)
    # ------------------------------------------------------------------

    @api.model
    def _ksef_context_session(self, environment, company, scope="administer"):
        """A session in ``company``'s own KSeF context (its NIP, or its branch's internal ID)
        in ``environment`` with the KSeF permissions ``scope`` needs, from the tokens Odoo
        stores for that context; ``None`` when none can be used. For inventory, revocation
        and recovery, run for a KSeF administrator or a cron."""
        Token = self.env["ksef.token"].sudo()
        tokens = Token.search(
            [
                ("company_id", "=", company.id),
                ("environment", "=", environment),
                ("state", "!=", "unverified"),
            ]
        )
        tokens = self.env["ksef.credential.choice"]._ksef_least_privileged(tokens)
        access = self.env["ksef.access"]

        def problems_of(token):
            problems = access._ksef_token_state_problems(token)
            missing = ksef_perms.missing_for(scope, token.sudo().permission_ids.mapped("name"))
            return problems + [f"lacks {' / '.join(missing)}"] * bool(missing)

        session, problems = self._ksef_first_session(tokens, problems_of)
        unreadable = [p for p in problems.values() if isinstance(p, KsefSecretUnreadable)]
        if not session and unreadable:
            # Odoo holds an able token but cannot decrypt it: say so rather than do less
            raise unreadable[0]
        return session

    @api.model
    def _ksef_own_session(self, token):
        """``token`` authenticating as itself (reading or revoking itself needs no
        permission), through the cache. A token KSeF refuses is marked, then the error is
        raised."""
        token.ensure_one()
        try:
            return self._ksef_session_for(token)
        except KsefAuthFailed as e:
            if e.token_unusable:
                self.env["ksef.credential.refusal"]._ksef_mark_unusable(token, e)
                raise
            raise self.env["ksef.messages"]._ksef_retry_later(e) from None

    @api.model
    def _ksef_transient_session(self, environment, authenticate, *, replayable=True):
        """A session of a credential Odoo does not store: ``authenticate(client)`` returns
        KSeF's authentication tokens (a pasted token, a secret of the orphan journal, a
        XAdES-signed request). Not cached; the same retry policy, except that a login that
        cannot be sent twice (``replayable=False``: a request signed outside Odoo carries a
        one-time challenge) is tried once. The caller closes it."""
        client = make_client(environment)
        try:
            tokens = self._ksef_with_retries(
                lambda: authenticate(client), attempts=TRANSPORT_ATTEMPTS if replayable else 1
            )
        except Exception:
            client.close()
            raise
        return KsefSessionHandle(
            client=client,
            access_token=tokens.access_token,
            token=None,
            valid_until=tokens.access_valid_until,
            service=self,
        )

    @api.model
    def _ksef_certificate_session(self, certificate, company):
        """``certificate`` (a stored KSeF Authentication certificate) authenticating in
        ``company``'s context: a XAdES login signed in Odoo with its key. A certificate KSeF
        refuses (status 460: revoked, expired) is marked, then the error is raised."""
        cert_sudo = certificate.sudo()
        if cert_sudo.certificate_type != "Authentication":
            raise UserError(
                self.env._(
                    "%(certificate)s is an Offline certificate: it signs QR code II of offline "
                    "invoices and cannot be used to sign in to KSeF.",
                    certificate=cert_sudo.display_name,
                )
            )
        try:
            return self._ksef_session_for(CertificateCredential(cert_sudo, company))
        except KsefAuthFailed as e:
            if e.token_unusable or e.status_code == 460:
                self.env["ksef.credential.refusal"]._ksef_mark_certificate_refused(cert_sudo, e)
                raise
            raise self.env["ksef.messages"]._ksef_retry_later(e) from None

    @api.model
    def _ksef_subject_session(self, environment, company):
        """A session whose subject is ``company``'s own identity (its NIP), for the
        certificate inventory: one of its active KSeF Authentication certificates, else an
        administrator token of its context; ``None`` when Odoo holds neither."""
        certificates = (
            self.env["ksef.certificate"]
            .sudo()
            .search(
                [
                    ("company_id", "=", company.id),
                    ("environment", "=", environment),
                    ("scope", "=", "company"),
                    ("certificate_type", "=", "Authentication"),
                    ("state", "=", "active"),
                ]
            )
        )
        for certificate in certificates.filtered("has_secret"):
            try:
                return self._ksef_certificate_session(certificate, company)
            except (KsefAuthFailed, KsefSecretUnreadable):
                continue
        return self._ksef_context_session(environment, company)

    @api.model
    def _ksef_resumed_session(self, environment, access_token):
        """A handle on an access token this flow obtained earlier from
        :meth:`_ksef_transient_session` (a XAdES login kept sealed between two steps of a
        wizard, for its creator only). The caller closes it."""
        return KsefSessionHandle(
            client=make_client(environment),
            access_token=access_token,
            token=None,
            service=self,
        )

    @api.model
    def _ksef_secret_session(self, environment, secret, policy=None):
        """:meth:`_ksef_transient_session` of a token secret Odoo holds no record for."""
        return self._ksef_transient_session(
            environment,
            lambda client: client.authenticate_with_ksef_token(
                secret, authorization_policy=policy, **AUTH_POLL
            ),
        )

    # ------------------------------------------------------------------
    # FIRST USABLE CANDIDATE (the candidates and their order: ksef.credential.choice)
    # ------------------------------------------------------------------

    @api.model
    def _ksef_first_session(self, candidates, problems_of, scope=None):
        """The session of the first candidate without problems; ``(session, problems)``
        where ``problems`` is ``{candidate: [reasons]}`` of those passed over (for a secret
        that cannot be decrypted: the :class:`KsefSecretUnreadable` itself)."""
        problems = {}
        for token in candidates:
            token_problems = problems_of(token)
            if token_problems:
                problems[self.env["ksef.credential.choice"]._ksef_record_of(token)] = token_problems
                continue
            try:
                session = self._ksef_session_for(token)
                missing = self._ksef_missing_grants(session, scope)
                if missing:
                    session.close()
                    problems[self.env["ksef.credential.choice"]._ksef_record_of(token)] = [missing]
                    continue
                return session, problems
            except KsefSecretUnreadable as e:
                # an invalid key, or a key rotated away: try the other candidates
                _logger.error(
                    "KSeF token %s skipped: its secret cannot be decrypted (%s)",
                    token.sudo().reference_number,
                    e.args[0],
                )
                problems[token] = e
            except KsefAuthFailed as e:
                if isinstance(token, CertificateCredential):
                    if e.status_code == 415:
                        # the identity holds nothing in this context: not the certificate's end
                        problems[token.certificate] = [self.env["ksef.messages"]._ksef_message(e)]
                        continue
                    if e.status_code != 460 and not e.token_unusable:
                        raise self.env["ksef.messages"]._ksef_retry_later(e) from None
                    problems[token.certificate] = [
                        self.env["ksef.credential.refusal"]._ksef_mark_certificate_refused(
                            token.certificate, e
                        )
                    ]
                    continue
                if not e.token_unusable:
                    raise self.env["ksef.messages"]._ksef_retry_later(e) from None
                problems[token] = [
                    self.env["ksef.credential.refusal"]._ksef_mark_unusable(token, e)
                ]
        return None, problems

    @api.model
    def _ksef_missing_grants(self, session, scope):
        """For a certificate session: why its identity may not do ``scope`` in the context
        (KSeF's grants, read after the authentication); ``None`` when it may, or for a token."""
        if session.granted is None or scope is None:
            return None
        missing = ksef_perms.missing_for(scope, session.granted)
        if not missing:
            return None
        return self.env._(
            "The certificate's identity holds no %(permissions)s permission in this KSeF "
            "context (it holds: %(held)s). Grant it in KSeF.",
            permissions=" / ".join(missing),
            held=", ".join(session.granted) or "-",
        )

    # ------------------------------------------------------------------
    # CACHED SESSIONS
    # ------------------------------------------------------------------

    @api.model
    def _ksef_now(self):
        """Naive UTC now (a method so that tests can move the clock)."""
        return fields.Datetime.now()

    @api.model
    def _ksef_sleep(self, seconds):
        """Sleep between retries (a method so that tests do not sleep for real)."""
        time.sleep(seconds)

    @api.model
    def _ksef_session_for(self, token):
        """A :class:`KsefSessionHandle` for ``token`` (a ``ksef.token`` or a
        :class:`CertificateCredential`, already checked): from the cache when the access
        token is fresh enough, else renewed under the session row lock."""
        credential = token.sudo()
        Cache = self.env["ksef.session"].sudo()
        client = make_client(credential.environment)
        try:
            policy = credential.company_id._ksef_authorization_policy()
            key = policy_key(policy)
            cached = Cache._ksef_read(self.env.cr, credential, key)
            if cached.access is None:
                cached = Cache._ksef_renew(credential, client, policy, key)
        except Exception:
            client.close()
            raise
        record = (
            token.certificate.with_env(self.env)
            if isinstance(token, CertificateCredential)
            else token
        )
        return KsefSessionHandle(
            client=client,
            access_token=cached.access,
            token=record,
            valid_until=cached.access_valid_until,
            service=self,
            granted=cached.granted,
        )

    @api.model
    def _ksef_reschedule(self, cron_xmlid, seconds):
        """Run the cron ``cron_xmlid`` again in ``seconds`` (after a :class:`KsefRetryLater`)."""
        cron = self.env.ref(cron_xmlid, raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger(at=fields.Datetime.now() + timedelta(seconds=seconds))
        _logger.info("KSeF: %s rescheduled in %s s", cron_xmlid, seconds)

    # ------------------------------------------------------------------
    # FAILURES
    # ------------------------------------------------------------------

    @api.model
    def _ksef_with_retries(self, function, attempts=TRANSPORT_ATTEMPTS):
        """``function()``, repeated with exponential backoff on timeouts, connection failures
        and 5xx (at most ``attempts`` attempts); a 429, or the last failure, raises
        :class:`KsefRetryLater`."""
        delay = BACKOFF
        for attempt in range(1, attempts + 1):
            try:
                return function()
            except KsefRateLimited as e:
                raise self.env["ksef.messages"]._ksef_retry_later(e) from None
            except (KsefTransportError, KsefServerError, KsefAuthTimeout) as e:
                if attempt == attempts:
                    raise self.env["ksef.messages"]._ksef_retry_later(e) from None
                _logger.info(
                    "KSeF call failed (%s), attempt %s of %s; retrying in %.1f s",
                    type(e).__name__,
                    attempt,
                    attempts,
                    delay,
                )
                self._ksef_sleep(delay)
                delay *= 2


__all__ = [
    "KsefError",
    "KsefNoUsableToken",
    "KsefRetryLater",
    "KsefSessionHandle",
]
