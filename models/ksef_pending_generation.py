"""The orphan journal: no token created in KSeF is ever unknown to Odoo.

``POST /tokens`` creates a token in KSeF; the Odoo transaction that asked for it may still
fail afterwards (the answer lost on the way, a database error, a rollback, the worker killed).
Before calling KSeF, a row is written and **committed through a separate cursor** with a
unique request key; the same key is put in the token's KSeF description (``[odoo:<key>]``),
so the token can be found again even when KSeF's answer never arrived. Right after KSeF
answers, the reference number (and the secret, encrypted with :mod:`.secret_vault`) are
committed to the row the same way. Once the generating transaction has committed, a
post-commit hook closes the row.

Rows left open are reconciled by :meth:`KsefPendingGeneration._ksef_recover` (a cron, and the
token sync): a token Odoo stores is left alone; any other token of the row is revoked in KSeF,
with the token itself when its secret is in the row, else with an administrator session of the
context. A token whose answer was lost is always revoked: its secret was never seen.

The rows have no foreign keys on purpose: they are written outside the generating transaction,
which may hold companies or users that are not committed yet.
"""

import logging
import uuid
from contextlib import contextmanager
from datetime import timedelta

from odoo import SUPERUSER_ID, api, fields, models

from ..ksef.errors import KsefAuthFailed, KsefError
from . import secret_vault
from .ksef_exceptions import KsefRetryLater, KsefSecretUnreadable
from .res_company import KSEF_ENVIRONMENTS

_logger = logging.getLogger(__name__)

JOURNAL_STATES = [
    ("requested", "Requested (KSeF answer not received)"),
    ("created", "Created in KSeF"),
    ("done", "Stored in Odoo"),
    ("revoked", "Revoked in KSeF"),
    ("failed", "Nothing created in KSeF"),
]
OPEN_STATES = ("requested", "created")
MARKER_PREFIX = "odoo:"
#: open rows younger than this belong to a generation that may still be running
DEFAULT_MIN_AGE = timedelta(minutes=15)


def marker_of(key):
    return f"[{MARKER_PREFIX}{key}]"


def description_with_marker(description, key):
    """The KSeF description: the user's text and the request marker (5-256 characters)."""
    marker = marker_of(key)
    return f"{description.strip()[: 255 - len(marker)]} {marker}"


class KsefPendingGeneration(models.Model):
    _name = "ksef.pending.generation"
    _description = "KSeF Token Generation Journal"
    _order = "id desc"

    request_key = fields.Char(required=True, readonly=True, index=True)
    kind = fields.Selection(
        [("token", "KSeF token"), ("certificate", "KSeF certificate")],
        required=True,
        default="token",
        readonly=True,
        help="What was asked of KSeF: a token (POST /tokens) or a certificate "
        "(POST /certificates/enrollments; the secret is then the private key).",
    )
    certificate_name = fields.Char(readonly=True)
    certificate_type = fields.Char(readonly=True)
    key_type = fields.Char(readonly=True)
    certificate_scope = fields.Char(readonly=True)
    operator_ref = fields.Integer(string="Operator ID", readonly=True)
    state = fields.Selection(JOURNAL_STATES, required=True, default="requested", readonly=True)
    environment = fields.Selection(KSEF_ENVIRONMENTS, required=True, readonly=True)
    context_type = fields.Char(required=True, readonly=True)
    context_value = fields.Char(required=True, readonly=True, index=True)
    # plain integers, see the module docstring
    company_ref = fields.Integer(string="Company ID", readonly=True)
    user_ref = fields.Integer(string="User ID", readonly=True)
    reference_number = fields.Char(readonly=True, index=True)
    secret_sealed = fields.Char(readonly=True, groups="base.group_system")
    attempts = fields.Integer(readonly=True)
    last_error = fields.Char(readonly=True)

    _sql_constraints = [
        ("request_key_unique", "UNIQUE(request_key)", "A generation request key is unique."),
    ]

    # ------------------------------------------------------------------
    # SEPARATE CURSOR
    # ------------------------------------------------------------------

    @contextmanager
    def _ksef_journal_env(self):
        """An environment on a cursor of its own, committed when the block ends."""
        with self.env.registry.cursor() as cr:
            yield api.Environment(cr, SUPERUSER_ID, {})

    @api.model
    def _ksef_open(self, environment, context, company_id, user_id, **extra):
        """Commit a 'requested' row; returns its request key. ``extra``: ``kind`` and the
        certificate fields, and ``secret`` (encrypted first) for a certificate's private key."""
        key = uuid.uuid4().hex[:16]
        secret = extra.pop("secret", None)
        if secret:
            extra["secret_sealed"] = secret_vault.encrypt(secret, self._ksef_aad(key))
        with self._ksef_journal_env() as env:
            env[self._name].create(
                {
                    "request_key": key,
                    "environment": environment,
                    "context_type": context.type,
                    "context_value": context.value,
                    "company_ref": company_id,
                    "user_ref": user_id,
                    **extra,
                }
            )
        return key

    @api.model
    def _ksef_update(self, key, **values):
        """Commit new values on the row of ``key`` (``secret`` is encrypted first)."""
        secret = values.pop("secret", None)
        if secret:
            values["secret_sealed"] = secret_vault.encrypt(secret, self._ksef_aad(key))
        if values.get("state") in ("done", "revoked", "failed"):
            values["secret_sealed"] = False
        with self._ksef_journal_env() as env:
            env[self._name].search([("request_key", "=", key)]).write(values)

    @api.model
    def _ksef_close_after_commit(self, key):
        """Close the row once the generating transaction has committed (a post-commit hook)."""

        def close():
            try:
                self._ksef_update(key, state="done")
            except Exception:  # the recovery finds the token in Odoo and closes the row
                _logger.exception("KSeF generation journal %s: closing failed", key)

        self.env.cr.postcommit.add(close)

    @api.model
    def _ksef_aad(self, key):
        return f"ksef.pending.generation:{key}"

    @api.model
    def _ksef_open_rows(self, min_age=DEFAULT_MIN_AGE, keys=None):
        """Open rows (as dicts, read through a separate cursor: they may be newer than this
        transaction's snapshot), older than ``min_age``."""
        domain = [("state", "in", OPEN_STATES)]
        if min_age:
            domain.append(("create_date", "<=", fields.Datetime.now() - min_age))
        if keys is not None:
            domain.append(("request_key", "in", list(keys)))
        with self._ksef_journal_env() as env:
            rows = env[self._name].search(domain)
            return [
                {
                    "key": row.request_key,
                    "state": row.state,
                    "environment": row.environment,
                    "context_type": row.context_type,
                    "context_value": row.context_value,
                    "company_ref": row.company_ref,
                    "reference_number": row.reference_number,
                    "secret": self._ksef_unseal(row),
                    "attempts": row.attempts,
                    "kind": row.kind,
                    "user_ref": row.user_ref,
                    "certificate_name": row.certificate_name,
                    "certificate_type": row.certificate_type,
                    "key_type": row.key_type,
                    "certificate_scope": row.certificate_scope,
                    "operator_ref": row.operator_ref,
                }
                for row in rows
            ]

    def _ksef_unseal(self, row):
        if not row.secret_sealed:
            return None
        try:
            return secret_vault.decrypt(row.secret_sealed, self._ksef_aad(row.request_key))
        except (secret_vault.VaultDecryptError, secret_vault.VaultKeyInvalid):
            return None

    # ------------------------------------------------------------------
    # RECOVERY
    # ------------------------------------------------------------------

    @api.model
    def _cron_ksef_recover(self):
        self.env["ksef.token"]._ksef_log_invalid_key("KSeF generation recovery")
        self._ksef_recover()

    @api.model
    def _ksef_recover(self, min_age=DEFAULT_MIN_AGE, keys=None):
        """Reconcile the open rows; returns ``{key: new state or None}`` (None: still open)."""
        results = {}
        for row in self._ksef_open_rows(min_age=min_age, keys=keys):
            try:
                results[row["key"]] = self._ksef_recover_row(row)
            except (
                KsefError,
                KsefRetryLater,
                KsefSecretUnreadable,
                secret_vault.VaultKeyMissing,
            ) as e:
                # one row that cannot be reconciled (KSeF, an undecryptable administrator
                # token) never blocks the others
                _logger.warning(
                    "KSeF generation journal %s: not reconciled yet (%s)",
                    row["key"],
                    type(e).__name__,
                )
                self._ksef_update(
                    row["key"], attempts=row["attempts"] + 1, last_error=type(e).__name__
                )
                results[row["key"]] = None
        return results

    def _ksef_recover_row(self, row):
        if row.get("kind") == "certificate":
            return self.env["ksef.certificate.enrolment"]._ksef_recover_row(row)
        Token = self.env["ksef.token"].sudo().with_context(active_test=False)
        if row["reference_number"] and Token.search_count(
            [
                ("reference_number", "=", row["reference_number"]),
                ("environment", "=", row["environment"]),
            ]
        ):
            self._ksef_update(row["key"], state="done")
            return "done"
        service = self.env["ksef.session.service"]
        if row["secret"]:
            # the token revokes itself (allowed without permissions since API 2.4.0)
            Token._ksef_check_environment_allowed(row["environment"])
            try:
                session = service._ksef_secret_session(row["environment"], row["secret"])
            except KsefAuthFailed as e:
                if not e.token_unusable:
                    raise
                session = None  # already revoked or failed: nothing is left to revoke
            if session:
                with session:
                    session.run(session.client.revoke_token, row["reference_number"])
            self._ksef_update(row["key"], state="revoked")
            _logger.info(
                "KSeF token %s of an unfinished generation revoked", row["reference_number"]
            )
            return "revoked"
        company = self.env["res.company"].sudo().browse(row["company_ref"]).exists()
        session = service._ksef_context_session(row["environment"], company) if company else None
        if not session:
            _logger.warning(
                "KSeF generation journal %s: no administrator token of %s to reconcile with",
                row["key"],
                row["context_value"],
            )
            self._ksef_update(row["key"], attempts=row["attempts"] + 1, last_error="no_session")
            return None
        with session:
            return self._ksef_revoke_by_marker(session, row)

    @api.model
    def _ksef_revoke_by_marker(self, session, row):
        """Find the row's token in KSeF (by reference, else by the description marker) and
        revoke it unless Odoo stores it; close the row. Returns the new state."""
        marker = marker_of(row["key"])
        references = [row["reference_number"]] if row["reference_number"] else []
        if not references:
            references = [
                info.reference_number
                for info in session.run(
                    lambda jwt: list(session.client.iter_tokens(jwt, description=marker))
                )
                if marker in (info.description or "")
            ]
        Token = self.env["ksef.token"].sudo().with_context(active_test=False)
        revoked = False
        for reference in references:
            if Token.search_count(
                [("reference_number", "=", reference), ("environment", "=", row["environment"])]
            ):
                continue
            session.run(session.client.revoke_token, reference)
            revoked = True
            _logger.info("KSeF token %s of an unfinished generation revoked", reference)
        if revoked:
            state = "revoked"
        elif references:
            state = "done"
        else:
            state = "failed"
        self._ksef_update(
            row["key"], state=state, reference_number=references[0] if references else False
        )
        return state
