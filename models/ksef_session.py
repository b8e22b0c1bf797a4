"""The cache of KSeF authentication sessions: one row per credential (today: per KSeF token).

The access and refresh JWTs are secrets: they live AES-GCM encrypted (:mod:`.secret_vault`,
associated data bound to the credential and to the kind of JWT) in the columns
``access_ciphertext`` and ``refresh_ciphertext``, which are deliberately **not ORM fields**
(like ``ksef_token.secret_ciphertext``): no read, export, search, group-by or RPC can reach
them, whoever asks. No group has any access right on this model; only the session factory
(``ksef.session.service``) calls the methods below, which use raw SQL under a row lock.

How a renewal stays single across workers: the renewal runs in its own cursor, under
``SELECT ... FOR UPDATE`` on the credential's row, with a short ``lock_timeout``. Whoever holds
the lock refreshes or authenticates and commits; the others time out on the lock or fail to
serialize, start a fresh transaction and find what the first one committed. The same code runs
in tests and in production.
"""

import dataclasses
import logging
import time
from datetime import timedelta

import psycopg2.errors

from odoo import api, fields, models
from odoo.tools import SQL

from ..ksef.errors import KsefAuthFailed, KsefBadRequest, KsefUnauthorized
from . import secret_vault
from .ksef_exceptions import KsefRetryLater
from .ksef_time import naive_utc

_logger = logging.getLogger(__name__)

#: the non-ORM columns of ``ksef_session`` (see the module docstring)
SECRET_COLUMNS = ("access_ciphertext", "refresh_ciphertext")
#: seconds before its expiry an access token is no longer handed out (a job must have time to
#: use it)
ACCESS_MARGIN = 60
#: seconds before its expiry a refresh token is no longer used (full authentication instead)
REFRESH_MARGIN = 60
#: how long one attempt waits for the session row lock (ms)
LOCK_TIMEOUT_MS = 2000
#: how long a request waits in total for another worker's renewal before giving up (s)
LOCK_WAIT = 30.0
#: delay suggested when another worker holds the session lock for too long (s)
BUSY_RETRY_AFTER = 30
#: refresh answers meaning "this session cannot be refreshed, authenticate again"
REFRESH_REFUSED_CODES = (21301, 21304)
#: what a renewal waiting for another worker's may meet, and then tries again
_CONTENTION = (
    psycopg2.errors.LockNotAvailable,
    psycopg2.errors.SerializationFailure,
    psycopg2.errors.UniqueViolation,
)


def session_aad(owner, kind):
    """Associated data of a cached JWT: a ciphertext copied onto another credential's row,
    or from the refresh column into the access one, does not decrypt. ``owner`` is a token's
    id, or the key of a certificate in a context (``credential._ksef_session_key()``)."""
    return f"ksef.session:{owner}:{kind}"


@dataclasses.dataclass
class Cached:
    """What the cache holds for a credential (only the parts still usable)."""

    access: str | None = dataclasses.field(default=None, repr=False)
    access_valid_until: object = None
    refresh: str | None = dataclasses.field(default=None, repr=False)
    refresh_valid_until: object = None
    policy_key: str = ""
    #: for a certificate: the permissions its identity holds in the context (``None``: n/a)
    granted: tuple | None = None


class KsefSession(models.Model):
    _name = "ksef.session"
    _description = "KSeF Authentication Session (cache)"
    _order = "token_id"
    _rec_name = "token_id"

    token_id = fields.Many2one("ksef.token", readonly=True, index=True, ondelete="cascade")
    certificate_id = fields.Many2one(
        "ksef.certificate", readonly=True, index=True, ondelete="cascade"
    )
    context_value = fields.Char(
        readonly=True, help="For a certificate: the KSeF context the session was opened in."
    )
    granted_permissions = fields.Char(
        readonly=True,
        help="For a certificate: what its identity may do in the context, as KSeF said after "
        "the authentication (a certificate carries no permissions of its own).",
    )
    access_valid_until = fields.Datetime(readonly=True)
    refresh_valid_until = fields.Datetime(readonly=True)
    auth_reference = fields.Char(
        string="Authentication Reference",
        readonly=True,
        help="Reference number (…-AU-…) of the KSeF authentication behind the cached session.",
    )
    policy_key = fields.Char(
        readonly=True,
        help="Fingerprint of the IP policy sent with the authentication: when the company's "
        "policy changes, the next request authenticates again.",
    )
    auth_count = fields.Integer(string="Full Authentications", readonly=True)
    refresh_count = fields.Integer(string="Refreshes", readonly=True)
    last_auth_date = fields.Datetime(readonly=True)
    last_refresh_date = fields.Datetime(readonly=True)

    _sql_constraints = [
        ("token_unique", "UNIQUE(token_id)", "A KSeF token has one cached session."),
    ]

    def init(self):
        res = super().init()
        # one session per certificate and context (a token has one context: token_unique)
        self.env.cr.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS ksef_session_certificate_context_uniq "
            "ON ksef_session (certificate_id, context_value) WHERE certificate_id IS NOT NULL"
        )
        # The JWT columns are deliberately not ORM fields (see the module docstring).
        for column in SECRET_COLUMNS:
            self.env.cr.execute(
                SQL(
                    "ALTER TABLE ksef_session ADD COLUMN IF NOT EXISTS %s text",
                    SQL.identifier(column),
                )
            )
        return res

    # ------------------------------------------------------------------
    # READ
    # ------------------------------------------------------------------

    @api.model
    def _ksef_read(self, cr, credential, key, *, lock=False):
        """The usable part of the cached session of ``credential`` read with ``cr``: the
        access token only if it is fresh enough, the refresh token only if it is valid long
        enough; nothing when the IP policy changed since the authentication."""
        query = SQL(
            "SELECT access_ciphertext, access_valid_until, refresh_ciphertext, "
            "refresh_valid_until, policy_key, granted_permissions FROM ksef_session WHERE %s",
            credential._ksef_session_where(),
        )
        if lock:
            query = SQL("%s FOR UPDATE", query)
        # lock timeouts and serialization failures are expected and handled by the caller
        cr.execute(query, log_exceptions=not lock)
        row = cr.fetchone()
        result = Cached()
        if not row or (row[4] or "") != key:
            return result
        now = self.env["ksef.session.service"]._ksef_now()
        access_ct, access_until, refresh_ct, refresh_until, _key, granted = row
        owner = credential._ksef_session_key()
        if granted is not None:
            result.granted = tuple(p for p in granted.split(",") if p)
        try:
            if access_ct and access_until and access_until - timedelta(seconds=ACCESS_MARGIN) > now:
                result.access = secret_vault.decrypt(access_ct, session_aad(owner, "access"))
                result.access_valid_until = access_until
            if (
                refresh_ct
                and refresh_until
                and refresh_until - timedelta(seconds=REFRESH_MARGIN) > now
            ):
                result.refresh = secret_vault.decrypt(refresh_ct, session_aad(owner, "refresh"))
                result.refresh_valid_until = refresh_until
        except (secret_vault.VaultDecryptError, secret_vault.VaultKeyInvalid):
            # a rotated-away key or a tampered row: authenticate again rather than fail
            _logger.warning("KSeF session of token %s unreadable; re-authenticating", credential.id)
            return Cached()
        return result

    # ------------------------------------------------------------------
    # RENEW (one worker at a time)
    # ------------------------------------------------------------------

    @api.model
    def _ksef_renew(self, credential, client, policy, key):
        """Refresh or authenticate ``credential`` under the lock of its session row."""
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                return self._ksef_renew_locked(credential, client, policy, key)
            except _CONTENTION as e:
                # Another worker is renewing (lock timeout) or has just committed a renewal
                # our snapshot cannot see (serialization failure): try again with a fresh
                # transaction, which reads what it committed.
                if time.monotonic() > deadline:
                    raise KsefRetryLater(
                        self.env._(
                            "Another Odoo worker is renewing the KSeF session of the token "
                            "%(token)s; try again later.",
                            token=credential.display_name,
                        ),
                        BUSY_RETRY_AFTER,
                        KsefRetryLater.BUSY,
                    ) from e
                _logger.debug(
                    "KSeF session %s busy (%s), retrying", credential.id, type(e).__name__
                )

    def _ksef_lock_cursor(self, credential):
        """The cursor the renewal runs in: a new one, so that its commit publishes the session
        to every worker at once and survives a rollback of the caller's transaction. A
        credential this cursor cannot see yet (created in the caller's uncommitted
        transaction) is renewed in the caller's cursor instead, without a commit."""
        cr = self.env.registry.cursor()
        # wait for another worker's renewal only briefly; _ksef_renew loops
        cr.execute(SQL("SELECT set_config('lock_timeout', %s, true)", f"{LOCK_TIMEOUT_MS}ms"))
        cr.execute(
            SQL("SELECT 1 FROM %s WHERE id = %s", SQL.identifier(credential._table), credential.id)
        )
        if cr.fetchone():
            return cr, True
        cr.close()
        return self.env.cr, False

    @api.model
    def _ksef_renew_locked(self, credential, client, policy, key):
        cr, own = self._ksef_lock_cursor(credential)
        try:
            if not own:
                cr.execute("SAVEPOINT ksef_session_renew")
            columns, values, conflict = credential._ksef_session_insert()
            cr.execute(
                SQL(
                    "INSERT INTO ksef_session (%s, auth_count, refresh_count, create_uid, "
                    "create_date, write_uid, write_date) VALUES (%s, 0, 0, %s, "
                    "now() at time zone 'UTC', %s, now() at time zone 'UTC') "
                    "ON CONFLICT %s DO NOTHING",
                    columns,
                    values,
                    self.env.uid,
                    self.env.uid,
                    conflict,
                ),
                log_exceptions=False,  # lock timeouts are expected and handled
            )
            # The lock: whoever gets past this line alone refreshes or authenticates; the
            # others wait here, then see (re-read) what it committed.
            cached = self._ksef_read(cr, credential, key, lock=True)
            if cached.access is None:
                cached = self._ksef_obtain(cr, credential, client, policy, key, cached)
            self._ksef_release(cr, own)
            return cached
        except KsefAuthFailed as e:
            if not e.token_unusable:
                self._ksef_abort(cr, own)
                raise
            # KSeF refused the credential itself: forget its session for every worker at once
            self._ksef_forget(cr, credential)
            self._ksef_release(cr, own)
            raise
        except Exception:
            self._ksef_abort(cr, own)
            raise
        finally:
            if own:
                cr.close()

    @api.model
    def _ksef_release(self, cr, own):
        if own:
            # Commit this private cursor (never the caller's): the new session must be
            # visible to the other workers waiting on the lock, which this releases, and
            # must survive a rollback of the caller's transaction (KSeF has issued it).
            cr.commit()  # pylint: disable=invalid-commit
        else:
            cr.execute("RELEASE SAVEPOINT ksef_session_renew")

    @api.model
    def _ksef_abort(self, cr, own):
        if own:
            cr.rollback()
        else:
            cr.execute("ROLLBACK TO SAVEPOINT ksef_session_renew")

    @api.model
    def _ksef_obtain(self, cr, credential, client, policy, key, cached):
        """Refresh (when the refresh token is usable) or authenticate; store the result in the
        locked row. Returns the new :class:`Cached`."""
        service = self.env["ksef.session.service"]
        now = service._ksef_now()
        if cached.refresh:
            try:
                access = service._ksef_with_retries(
                    lambda: client.refresh_access_token(cached.refresh)
                )
            except (KsefBadRequest, KsefUnauthorized) as e:
                if isinstance(e, KsefBadRequest) and not set(e.codes) & set(REFRESH_REFUSED_CODES):
                    raise
                # 21301: the session (or the token behind it) was revoked; 401: the refresh
                # token expired early. A full authentication tells which (450 if revoked).
                _logger.info("KSeF refused to refresh the session of token %s", credential.id)
            else:
                until = naive_utc(access.valid_until) or now + timedelta(minutes=5)
                self._ksef_write(
                    cr,
                    credential,
                    access_ciphertext=self._ksef_seal(credential, "access", access.token),
                    access_valid_until=until,
                    refresh_count=SQL("refresh_count + 1"),
                    last_refresh_date=now,
                )
                _logger.info("KSeF session of token %s refreshed", credential.id)
                return dataclasses.replace(cached, access=access.token, access_valid_until=until)
        tokens = service._ksef_with_retries(lambda: credential._ksef_authenticate(client, policy))
        access_until = naive_utc(tokens.access_valid_until) or now + timedelta(minutes=5)
        refresh_until = naive_utc(tokens.refresh_valid_until) if tokens.refresh_token else None
        # a certificate carries no permissions: what its identity may do in the context
        granted = service._ksef_with_retries(
            lambda: credential._ksef_after_authentication(client, tokens.access_token)
        )
        self._ksef_write(
            cr,
            credential,
            access_ciphertext=self._ksef_seal(credential, "access", tokens.access_token),
            access_valid_until=access_until,
            refresh_ciphertext=self._ksef_seal(credential, "refresh", tokens.refresh_token)
            if tokens.refresh_token
            else None,
            refresh_valid_until=refresh_until,
            auth_reference=tokens.reference_number,
            policy_key=key,
            auth_count=SQL("auth_count + 1"),
            last_auth_date=now,
            granted_permissions=",".join(granted) if granted is not None else None,
        )
        _logger.info(
            "KSeF token %s authenticated (operation %s)",
            credential.reference_number,
            tokens.reference_number,
        )
        return Cached(
            access=tokens.access_token,
            access_valid_until=access_until,
            refresh=tokens.refresh_token or None,
            refresh_valid_until=refresh_until,
            policy_key=key,
            granted=tuple(granted) if granted is not None else None,
        )

    # ------------------------------------------------------------------
    # WRITE
    # ------------------------------------------------------------------

    @api.model
    def _ksef_seal(self, credential, kind, jwt):
        return secret_vault.encrypt(jwt, session_aad(credential._ksef_session_key(), kind))

    @api.model
    def _ksef_forget(self, cr, credential):
        self._ksef_write(
            cr,
            credential,
            access_ciphertext=None,
            access_valid_until=None,
            refresh_ciphertext=None,
            refresh_valid_until=None,
            policy_key=None,
        )

    @api.model
    def _ksef_write(self, cr, credential, **values):
        """``UPDATE`` the credential's row; each value is a parameter, or an ``SQL`` term."""
        assignments = SQL(", ").join(
            SQL(
                "%s = %s",
                SQL.identifier(column),
                value if isinstance(value, SQL) else SQL("%s", value),
            )
            for column, value in values.items()
        )
        cr.execute(
            SQL(
                "UPDATE ksef_session SET %s, write_uid = %s, "
                "write_date = now() at time zone 'UTC' WHERE %s",
                assignments,
                self.env.uid,
                credential._ksef_session_where(),
            )
        )
