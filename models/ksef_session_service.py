"""Authenticated KSeF sessions for automated jobs (and any other module): the one entry point.

    with env["ksef.session.service"].get_client(company, "fetch", user=job_user) as session:
        session.client.query_invoice_metadata(session.access_token, ...)

or, with automatic fallback to another token when KSeF refuses the one used:

    env["ksef.session.service"].call(company, "fetch", lambda s: s.client.get_token(...))

How a session is obtained (see README, "For developers: KSeF sessions"):

1. **Token choice.** Candidates, in order: the acting user's own operator tokens for the company
   (or branch), the branch's tokens, then the company's (its NIP-holding parents'). Each goes
   through the registry's access check (``ksef.token._ksef_usage_problems``): the user's group
   must cover the scope and the token's KSeF permissions must include what it needs. The first
   candidate without problems is used; when none is, :class:`KsefNoUsableToken` lists every
   candidate's problems.
2. **Cache.** One ``ksef.session`` row per token holds the access and refresh JWTs, encrypted
   like token secrets. An access token is reused until :data:`ACCESS_MARGIN` seconds before it
   expires; then it is refreshed with the refresh token; a full authentication happens only when
   the refresh token is missing, expired or refused.
3. **Concurrency.** Renewal runs in its own cursor under ``SELECT ... FOR UPDATE`` on the
   session row, so however many workers ask at once, one authenticates or refreshes; the others
   wait on the lock, re-read the row and reuse what the first committed.
4. **Failures.** A token KSeF says is unusable (auth status 450, refresh 21301 then 450, 403
   missing permissions) is marked, its administrators get an activity, and the next candidate is
   tried. 429 raises :class:`KsefRetryLater` with KSeF's delay; timeouts and 5xx are retried with
   backoff :data:`TRANSPORT_ATTEMPTS` times, then raise :class:`KsefRetryLater` as well.

Never log or raise with a JWT or a token secret in the text.
"""

import dataclasses
import functools
import logging
import time
from datetime import timedelta, timezone

import psycopg2.errors

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from ..ksef.errors import (
    KsefAuthFailed,
    KsefAuthTimeout,
    KsefBadRequest,
    KsefError,
    KsefForbidden,
    KsefRateLimited,
    KsefServerError,
    KsefTransportError,
    KsefUnauthorized,
)
from . import secret_vault
from .ksef_connection import make_client
from .ksef_session import session_aad
from .ksef_token import OPERATION_GROUPS, KsefSecretUnreadable
from .res_company_ksef_session import policy_key

_logger = logging.getLogger(__name__)

#: the scopes a session can be asked for (same names as the registry's operations)
SCOPES = tuple(OPERATION_GROUPS)
#: seconds before its expiry an access token is no longer handed out (a job must have time to
#: use it)
ACCESS_MARGIN = 60
#: seconds before its expiry a refresh token is no longer used (full authentication instead)
REFRESH_MARGIN = 60
#: how long one attempt waits for the session row lock (ms)
LOCK_TIMEOUT_MS = 2000
#: how long a request waits in total for another worker's renewal before giving up (s)
LOCK_WAIT = 30.0
#: attempts of one KSeF call on timeouts, connection failures and 5xx
TRANSPORT_ATTEMPTS = 3
#: first backoff delay (s); doubled at each attempt
BACKOFF = 0.5
#: delay suggested to the caller when KSeF stays unreachable (s)
UNAVAILABLE_RETRY_AFTER = 300
#: delay suggested when another worker holds the session lock for too long (s)
BUSY_RETRY_AFTER = 30
#: refresh answers meaning "this session cannot be refreshed, authenticate again"
REFRESH_REFUSED_CODES = (21301, 21304)


class KsefRetryLater(Exception):
    """KSeF (or the session lock) asks to come back later: ``retry_after`` seconds.

    Crons and jobs catch it and reschedule themselves (``cron._trigger(at=now + delay)``)."""

    def __init__(self, message, retry_after):
        super().__init__(message)
        self.retry_after = max(1, int(retry_after or 1))


class KsefNoUsableToken(UserError):
    """No token may be used for the request; the message lists every candidate's problems."""

    def __init__(self, message, problems=None):
        super().__init__(message)
        #: ``{ksef.token id: [translated problems]}``
        self.problems = problems or {}


@dataclasses.dataclass
class KsefSessionHandle:
    """An authenticated KSeF session: ``client`` (a KsefClient), ``access_token`` (the bearer
    JWT, never log it), ``token`` (the ``ksef.token`` used, in the caller's environment) and
    ``valid_until`` (naive UTC). Use it as a context manager to close the HTTP session."""

    client: object
    access_token: str = dataclasses.field(repr=False)
    token: object
    valid_until: object = None

    def close(self):
        self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


@dataclasses.dataclass
class _Cached:
    access: str | None = dataclasses.field(default=None, repr=False)
    access_valid_until: object = None
    refresh: str | None = dataclasses.field(default=None, repr=False)
    refresh_valid_until: object = None
    policy_key: str = ""


def _naive_utc(value):
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


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
        :raises KsefNoUsableToken: no candidate token may be used; says why for each
        :raises KsefRetryLater: KSeF asked to wait (429), stays unreachable, or another worker
            holds the session lock too long; ``retry_after`` is in seconds
        """
        if scope not in SCOPES:
            raise ValueError(f"unknown KSeF scope {scope!r}")
        company.ensure_one()
        user = (user or self.env.user).sudo(False)
        candidates = self._ksef_candidates(company, user)
        if exclude_tokens:
            candidates -= exclude_tokens
        problems = {}
        for token in candidates:
            token_problems = token._ksef_usage_problems(scope, user=user, company=company)
            if token_problems:
                problems[token] = token_problems
                continue
            try:
                return self._ksef_session_for(token)
            except KsefSecretUnreadable as e:
                # an invalid key, or a key rotated away: try the company's other tokens
                _logger.error(
                    "KSeF token %s skipped: its secret cannot be decrypted (%s)",
                    token.sudo().reference_number,
                    e.args[0],
                )
                problems[token] = [e.args[0]]
            except KsefAuthFailed as e:
                if not e.token_unusable:
                    raise self._ksef_retry_or_error(e) from None
                problems[token] = [self._ksef_mark_unusable(token, e)]
        raise self._ksef_no_usable_token(company, scope, user, problems)

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
        user = (user or self.env.user).sudo(False)
        token_sudo = token.sudo()
        if not user.has_group(OPERATION_GROUPS["administer"]) or (
            token_sudo.company_id not in user.company_ids
        ):
            raise AccessError(
                self.env._(
                    "Only KSeF administrators of %(company)s may check its tokens.",
                    company=token_sudo.company_id.name,
                )
            )
        try:
            return self._ksef_session_for(token)
        except KsefAuthFailed as e:
            if e.token_unusable:
                self._ksef_mark_unusable(token, e)
                raise
            raise self._ksef_retry_or_error(e) from None

    @api.model
    @python_only
    def call(self, company, scope, function, user=None):
        """``function(session)`` with a session of :meth:`get_client`; when KSeF refuses the
        token for that call (403 missing permissions, 401), the token is marked and the call is
        repeated once per remaining candidate. Returns what ``function`` returns."""
        refused = self.env["ksef.token"]
        while True:
            session = self.get_client(company, scope, user=user, exclude_tokens=refused)
            with session:
                try:
                    return function(session)
                except KsefForbidden as e:
                    if e.reason_code != "missing-permissions":
                        raise
                    self._ksef_mark_missing_permissions(session.token, e)
                except KsefRateLimited as e:
                    raise self._ksef_retry_or_error(e) from None
            refused |= session.token

    # ------------------------------------------------------------------
    # TOKEN CHOICE
    # ------------------------------------------------------------------

    @api.model
    def _ksef_candidates(self, company, user):
        """Candidate tokens in order of preference: the user's own operator tokens for the
        company (or branch), then the branch's, then the company's (up the parents). Within
        each level the token with the fewest KSeF permissions comes first (least privilege:
        a P token fetches before an A token does). Tokens not yet verified with KSeF are never
        candidates."""
        chain = company | company.sudo().parent_ids[::-1]
        Token = self.env["ksef.token"].sudo()
        tokens = Token.search(
            [("company_id", "in", chain.ids), ("state", "!=", "unverified")], order="id"
        )

        def least_privilege(t):
            return (len(t.permission_ids), t.id)

        own = tokens.filtered(lambda t: t.scope == "user" and t.operator_id == user)
        own = own.sorted(lambda t: (chain.ids.index(t.company_id.id), *least_privilege(t)))
        branch = tokens.filtered(lambda t: t.scope == "branch" and t.company_id == company)
        branch = branch.sorted(least_privilege)
        rest = tokens.filtered(lambda t: t.scope in ("branch", "company")) - branch
        # the company's tokens from the closest company up, the least privileged first
        rest = rest.sorted(lambda t: (chain.ids.index(t.company_id.id), *least_privilege(t)))
        return (own | branch | rest).sudo(False).with_env(self.env)

    @api.model
    def _ksef_no_usable_token(self, company, scope, user, problems):
        label = self.env["ksef.token"]._ksef_operation_label(scope)
        chain = company | company.sudo().parent_ids
        unverified = (
            self.env["ksef.token"]
            .sudo()
            .search_count([("company_id", "in", chain.ids), ("state", "=", "unverified")])
        )
        if not problems and unverified:
            return KsefNoUsableToken(
                self.env._(
                    "%(user)s cannot %(operation)s for %(company)s yet: its KSeF tokens are "
                    "not verified with KSeF yet (KSeF could not be reached when they were "
                    "imported). The next sync verifies them; run Sync with KSeF from the token "
                    "list to do it now.",
                    user=user.name,
                    operation=label,
                    company=company.name,
                )
            )
        if not problems:
            return KsefNoUsableToken(
                self.env._(
                    "%(user)s cannot %(operation)s for %(company)s: no KSeF token of this "
                    "company is registered in Odoo.",
                    user=user.name,
                    operation=label,
                    company=company.name,
                )
            )
        lines = []
        for token, token_problems in problems.items():
            lines.append(f"{token.sudo().display_name}:")
            lines.extend(f"  - {p}" for p in token_problems)
        return KsefNoUsableToken(
            self.env._(
                "%(user)s cannot %(operation)s for %(company)s: no KSeF token may be used.\n"
                "%(problems)s",
                user=user.name,
                operation=label,
                company=company.name,
                problems="\n".join(lines),
            ),
            {token.id: token_problems for token, token_problems in problems.items()},
        )

    # ------------------------------------------------------------------
    # SESSION CACHE
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
        """A :class:`KsefSessionHandle` for ``token`` (already checked): from the cache when
        the access token is fresh enough, else renewed under the session row lock."""
        token_sudo = token.sudo()
        client = make_client(token_sudo.environment)
        try:
            policy = token_sudo.company_id._ksef_authorization_policy()
            key = policy_key(policy)
            cached = self._ksef_read_cache(self.env.cr, token_sudo, key)
            if cached.access is None:
                cached = self._ksef_renew(token_sudo, client, policy, key)
        except Exception:
            client.close()
            raise
        return KsefSessionHandle(
            client=client,
            access_token=cached.access,
            token=token,
            valid_until=cached.access_valid_until,
        )

    @api.model
    def _ksef_read_cache(self, cr, token_sudo, key, *, lock=False):
        """The usable part of the cached session of ``token_sudo`` read with ``cr``: the access
        token only if it is fresh enough, the refresh token only if it is valid long enough;
        nothing when the IP policy changed since the authentication."""
        query = SQL(
            "SELECT access_ciphertext, access_valid_until, refresh_ciphertext, "
            "refresh_valid_until, policy_key FROM ksef_session WHERE token_id = %s",
            token_sudo.id,
        )
        if lock:
            query = SQL("%s FOR UPDATE", query)
        # lock timeouts and serialization failures are expected and handled by the caller
        cr.execute(query, log_exceptions=not lock)
        row = cr.fetchone()
        result = _Cached()
        if not row or (row[4] or "") != key:
            return result
        now = self._ksef_now()
        access_ct, access_until, refresh_ct, refresh_until, _key = row
        try:
            if access_ct and access_until and access_until - timedelta(seconds=ACCESS_MARGIN) > now:
                result.access = secret_vault.decrypt(
                    access_ct, session_aad(token_sudo.id, "access")
                )
                result.access_valid_until = access_until
            if (
                refresh_ct
                and refresh_until
                and refresh_until - timedelta(seconds=REFRESH_MARGIN) > now
            ):
                result.refresh = secret_vault.decrypt(
                    refresh_ct, session_aad(token_sudo.id, "refresh")
                )
                result.refresh_valid_until = refresh_until
        except (secret_vault.VaultDecryptError, secret_vault.VaultKeyInvalid):
            # a rotated-away key or a tampered row: authenticate again rather than fail
            _logger.warning("KSeF session of token %s unreadable; re-authenticating", token_sudo.id)
            return _Cached()
        return result

    @api.model
    def _ksef_renew(self, token_sudo, client, policy, key):
        """Refresh or authenticate ``token_sudo`` under the lock of its session row."""
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                return self._ksef_renew_locked(token_sudo, client, policy, key)
            except (
                psycopg2.errors.LockNotAvailable,
                psycopg2.errors.SerializationFailure,
                psycopg2.errors.UniqueViolation,
            ) as e:
                # Another worker is renewing (lock timeout) or has just committed a renewal
                # our snapshot cannot see (serialization failure): try again with a fresh
                # transaction, which reads what it committed.
                if time.monotonic() > deadline:
                    raise KsefRetryLater(
                        self.env._(
                            "Another Odoo worker is renewing the KSeF session of the token "
                            "%(token)s; try again later.",
                            token=token_sudo.display_name,
                        ),
                        BUSY_RETRY_AFTER,
                    ) from e
                _logger.debug(
                    "KSeF session %s busy (%s), retrying", token_sudo.id, type(e).__name__
                )

    def _ksef_lock_cursor(self, token_sudo):
        """The cursor the renewal runs in: a new one, so that its commit publishes the session
        to every worker at once and survives a rollback of the caller's transaction. A token
        this cursor cannot see yet (created in the caller's uncommitted transaction) is renewed
        in the caller's cursor instead, without a commit."""
        cr = self.env.registry.cursor()
        if not self.env.registry.in_test_mode():
            # READ COMMITTED (Odoo's default is REPEATABLE READ): a worker that waited for the
            # lock then reads the session the first one committed, instead of failing to
            # serialize. Must be the transaction's first statement.
            cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            # wait for another worker's renewal only briefly; _ksef_renew loops
            cr.execute(SQL("SET LOCAL lock_timeout = %s", f"{LOCK_TIMEOUT_MS}ms"))
        cr.execute(SQL("SELECT 1 FROM ksef_token WHERE id = %s", token_sudo.id))
        if cr.fetchone():
            return cr, True
        cr.close()
        return self.env.cr, False

    @api.model
    def _ksef_renew_locked(self, token_sudo, client, policy, key):
        cr, own = self._ksef_lock_cursor(token_sudo)
        try:
            if not own:
                cr.execute("SAVEPOINT ksef_session_renew")
            cr.execute(
                SQL(
                    "INSERT INTO ksef_session (token_id, auth_count, refresh_count, create_uid, "
                    "create_date, write_uid, write_date) VALUES (%s, 0, 0, %s, "
                    "now() at time zone 'UTC', %s, now() at time zone 'UTC') "
                    "ON CONFLICT (token_id) DO NOTHING",
                    token_sudo.id,
                    self.env.uid,
                    self.env.uid,
                ),
                log_exceptions=False,  # lock timeouts are expected and handled
            )
            # The lock: whoever gets past this line alone refreshes or authenticates; the
            # others wait here, then see (re-read) what it committed.
            cached = self._ksef_read_cache(cr, token_sudo, key, lock=True)
            if cached.access is None:
                cached = self._ksef_obtain(cr, token_sudo, client, policy, key, cached)
            if own:
                # Commit this private cursor (never the caller's): the new session must be
                # visible to the other workers waiting on the lock, which this releases, and
                # must survive a rollback of the caller's transaction (KSeF has issued it).
                cr.commit()  # pylint: disable=invalid-commit
            else:
                cr.execute("RELEASE SAVEPOINT ksef_session_renew")
            return cached
        except KsefAuthFailed as e:
            if not e.token_unusable:
                self._ksef_abort(cr, own)
                raise
            # KSeF refused the token itself: forget its session for every worker at once
            self._ksef_store(
                cr,
                token_sudo,
                "access_ciphertext = NULL, access_valid_until = NULL, "
                "refresh_ciphertext = NULL, refresh_valid_until = NULL, policy_key = NULL",
                [],
            )
            if own:
                cr.commit()  # pylint: disable=invalid-commit
            else:
                cr.execute("RELEASE SAVEPOINT ksef_session_renew")
            raise
        except Exception:
            self._ksef_abort(cr, own)
            raise
        finally:
            if own:
                cr.close()

    @api.model
    def _ksef_abort(self, cr, own):
        if own:
            cr.rollback()
        else:
            cr.execute("ROLLBACK TO SAVEPOINT ksef_session_renew")

    @api.model
    def _ksef_obtain(self, cr, token_sudo, client, policy, key, cached):
        """Refresh (when the refresh token is usable) or authenticate; store the result in the
        locked row. Returns the new :class:`_Cached`."""
        now = self._ksef_now()
        if cached.refresh:
            try:
                access = self._ksef_with_retries(
                    lambda: client.refresh_access_token(cached.refresh)
                )
            except (KsefBadRequest, KsefUnauthorized) as e:
                if isinstance(e, KsefBadRequest) and not set(e.codes) & set(REFRESH_REFUSED_CODES):
                    raise
                # 21301: the session (or the token behind it) was revoked; 401: the refresh
                # token expired early. A full authentication tells which (450 if revoked).
                _logger.info("KSeF refused to refresh the session of token %s", token_sudo.id)
            else:
                until = _naive_utc(access.valid_until) or now + timedelta(minutes=5)
                self._ksef_store(
                    cr,
                    token_sudo,
                    "access_ciphertext = %s, access_valid_until = %s, "
                    "refresh_count = refresh_count + 1, last_refresh_date = %s",
                    [self._ksef_seal(token_sudo, "access", access.token), until, now],
                )
                _logger.info("KSeF session of token %s refreshed", token_sudo.id)
                return dataclasses.replace(cached, access=access.token, access_valid_until=until)
        secret = token_sudo._ksef_get_secret()
        tokens = self._ksef_with_retries(
            lambda: client.authenticate_with_ksef_token(
                secret,
                authorization_policy=policy,
                poll_interval=0.2,
                poll_timeout=60,
            )
        )
        access_until = _naive_utc(tokens.access_valid_until) or now + timedelta(minutes=5)
        refresh_until = _naive_utc(tokens.refresh_valid_until)
        self._ksef_store(
            cr,
            token_sudo,
            "access_ciphertext = %s, access_valid_until = %s, refresh_ciphertext = %s, "
            "refresh_valid_until = %s, auth_reference = %s, policy_key = %s, "
            "auth_count = auth_count + 1, last_auth_date = %s",
            [
                self._ksef_seal(token_sudo, "access", tokens.access_token),
                access_until,
                self._ksef_seal(token_sudo, "refresh", tokens.refresh_token)
                if tokens.refresh_token
                else None,
                refresh_until if tokens.refresh_token else None,
                tokens.reference_number,
                key,
                now,
            ],
        )
        _logger.info(
            "KSeF token %s authenticated (operation %s)",
            token_sudo.reference_number,
            tokens.reference_number,
        )
        return _Cached(
            access=tokens.access_token,
            access_valid_until=access_until,
            refresh=tokens.refresh_token or None,
            refresh_valid_until=refresh_until,
            policy_key=key,
        )

    @api.model
    def _ksef_seal(self, token_sudo, kind, jwt):
        return secret_vault.encrypt(jwt, session_aad(token_sudo.id, kind))

    @api.model
    def _ksef_store(self, cr, token_sudo, assignments, params):
        cr.execute(
            SQL(
                "UPDATE ksef_session SET "
                + assignments
                + ", write_uid = %s, write_date = now() at time zone 'UTC' WHERE token_id = %s",
                *params,
                self.env.uid,
                token_sudo.id,
            )
        )

    @api.model
    def _ksef_reschedule(self, cron_xmlid, seconds):
        """Run the cron ``cron_xmlid`` again in ``seconds`` (after a :class:`KsefRetryLater`)."""
        cron = self.env.ref(cron_xmlid, raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger(at=fields.Datetime.now() + timedelta(seconds=seconds))

    # ------------------------------------------------------------------
    # FAILURES
    # ------------------------------------------------------------------

    @api.model
    def _ksef_with_retries(self, function):
        """``function()``, repeated with exponential backoff on timeouts, connection failures
        and 5xx (at most :data:`TRANSPORT_ATTEMPTS` attempts); a 429 is raised at once."""
        delay = BACKOFF
        for attempt in range(1, TRANSPORT_ATTEMPTS + 1):
            try:
                return function()
            except KsefRateLimited as e:
                raise self._ksef_retry_or_error(e) from None
            except (KsefTransportError, KsefServerError, KsefAuthTimeout) as e:
                if attempt == TRANSPORT_ATTEMPTS:
                    raise self._ksef_retry_or_error(e) from None
                _logger.info(
                    "KSeF call failed (%s), attempt %s of %s; retrying in %.1f s",
                    type(e).__name__,
                    attempt,
                    TRANSPORT_ATTEMPTS,
                    delay,
                )
                self._ksef_sleep(delay)
                delay *= 2

    @api.model
    def _ksef_retry_or_error(self, error):
        """The exception to raise for a KSeF error that is not the token's fault."""
        if isinstance(error, KsefRateLimited):
            return KsefRetryLater(
                self.env._(
                    "KSeF asks to wait %(seconds)s seconds (request limit reached).",
                    seconds=error.retry_after or 60,
                ),
                error.retry_after or 60,
            )
        if error.retryable:
            return KsefRetryLater(
                self.env["ksef.token"]._ksef_error_message(error), UNAVAILABLE_RETRY_AFTER
            )
        return UserError(self.env["ksef.token"]._ksef_error_message(error))

    @api.model
    def _ksef_mark_unusable(self, token, error):
        """KSeF says ``token`` cannot authenticate: mark it, tell its administrators; return
        the translated reason (for the refusal message)."""
        token_sudo = token.sudo()
        description = "; ".join(
            str(text).strip()
            for text in (getattr(error, "description", None), *error.details)
            if text and str(text).strip()
        )
        revoked = "unieważn" in description.lower() or "revoked" in description.lower()
        # stored and sent in the language of whoever reads it later (the company's KSeF
        # responsible); returned in the current user's language
        stored = token_sudo.company_id._ksef_in_lang(token_sudo)._ksef_error_message(error)
        token_sudo.write({"state": "revoked" if revoked else "failed", "status_details": stored})
        self._ksef_notify_admins(token_sudo, stored)
        _logger.warning(
            "KSeF token %s marked %s after authentication status %s: %s",
            token_sudo.reference_number,
            token_sudo.state,
            getattr(error, "status_code", "?"),
            description or "-",
        )
        return self.env["ksef.token"]._ksef_error_message(error)

    @api.model
    def _ksef_mark_missing_permissions(self, token, error):
        """KSeF answered 403 missing-permissions: the token lacks what Odoo believed it had.
        Its permissions are corrected to what KSeF says are present; admins are told."""
        token_sudo = token.sudo()
        present = (error.security or {}).get("presentPermissions")
        required = error.missing_permissions
        if present is not None:
            permissions = self.env["ksef.permission"]._by_names(present)
        else:
            permissions = token_sudo.permission_ids.filtered(lambda p: p.name not in required)

        def reason(env):
            return env._(
                "KSeF refused a request needing %(required)s: the token only has %(present)s.",
                required=" / ".join(required) or "?",
                present=", ".join(permissions.mapped("name")) or "-",
            )

        stored = reason(token_sudo.company_id._ksef_in_lang(token_sudo).env)
        token_sudo.write({"permission_ids": [(6, 0, permissions.ids)], "status_details": stored})
        self._ksef_notify_admins(token_sudo, stored)
        return reason(self.env)

    @api.model
    def _ksef_notify_admins(self, token_sudo, reason):
        """Post ``reason`` on the token and give the company's KSeF responsible one warning
        activity (in their language), so that a refused token never silently stops the
        business; the health job closes it once the token works again or is archived."""
        token_sudo._ksef_post(reason)
        token_sudo._ksef_warn_refused(reason)


__all__ = [
    "KsefError",
    "KsefNoUsableToken",
    "KsefRetryLater",
    "KsefSessionHandle",
]
