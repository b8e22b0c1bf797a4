"""KSeF calls of the token registry: sessions, generation, KSeF errors as user messages.

Every KSeF call of the lifecycle (generate, sync, revoke) goes through here, after the rights
of the Odoo user were checked. Secrets (KSeF tokens, JWTs) stay in local variables: they are
never logged, put in the chatter or in an exception message.
"""

import logging

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..ksef import permissions as ksef_perms
from ..ksef.client import KsefTokenFailed
from ..ksef.errors import (
    KsefApiError,
    KsefAuthFailed,
    KsefAuthTimeout,
    KsefBadRequest,
    KsefError,
    KsefForbidden,
    KsefRateLimited,
    KsefTransportError,
)
from . import ksef_connection
from .ksef_pending_generation import description_with_marker

_logger = logging.getLogger(__name__)

#: KSeF's answer code for permissions the author of a token does not hold
MISSING_PERMISSIONS = 26001
#: KSeF's answer code for an invalid, expired or already used challenge
BAD_CHALLENGE = 21111
#: how long a generation waits for the new token to become Active (seconds)
ACTIVATION_TIMEOUT = 30.0
AUTH_POLL = {"poll_interval": 0.5, "poll_timeout": 60.0}


class KsefToken(models.Model):
    _inherit = "ksef.token"

    # ------------------------------------------------------------------
    # RIGHTS
    # ------------------------------------------------------------------

    @api.model
    def _ksef_check_admin(self, companies):
        """Only KSeF administrators of the given companies administer tokens (checked here in
        the service, whatever the view shows)."""
        user = self.env.user
        if self.env.su and user._is_superuser():
            return True
        if not user.has_group("l10n_pl_ksef_token.group_ksef_admin"):
            raise AccessError(self.env._("Only KSeF administrators may administer KSeF tokens."))
        foreign = companies - user.company_ids
        if foreign:
            raise AccessError(
                self.env._(
                    "You have no access to the company %(company)s.",
                    company=", ".join(foreign.mapped("name")),
                )
            )
        return True

    # ------------------------------------------------------------------
    # MESSAGES
    # ------------------------------------------------------------------

    @api.model
    def _ksef_error_message(self, exc):
        """A translated message for a KSeF failure (never with a secret in it)."""
        if isinstance(exc, KsefRateLimited):
            return self.env._(
                "KSeF refuses more requests for now (rate limit). Try again in %(seconds)s "
                "seconds.",
                seconds=exc.retry_after or 60,
            )
        if isinstance(exc, KsefTransportError):
            return self.env._(
                "KSeF could not be reached (%(kind)s). Check the connection and try again later.",
                kind=exc.kind,
            )
        if isinstance(exc, KsefAuthFailed):
            reasons = {
                415: self.env._("the signer holds no permission in this KSeF context"),
                450: self.env._("the KSeF token is revoked, inactive or for another context"),
                460: self.env._("the certificate is invalid, expired or revoked"),
            }
            return self.env._(
                "KSeF refused the authentication (status %(code)s): %(reason)s.",
                code=exc.status_code,
                reason=reasons.get(exc.status_code) or exc.description or "-",
            )
        if isinstance(exc, KsefBadRequest) and BAD_CHALLENGE in exc.codes:
            return self.env._(
                "KSeF refused the signed request: its challenge expired (10 minutes), was "
                "already used or is unknown. Download a new auth.xml, sign it and upload it again."
            )
        if isinstance(exc, KsefForbidden):
            return self.env._(
                "KSeF refused the operation: missing permission %(permissions)s.",
                permissions=" / ".join(exc.missing_permissions) or "-",
            )
        if isinstance(exc, KsefAuthTimeout | KsefTokenFailed):
            return self.env._("KSeF did not finish in time: %(error)s", error=str(exc))
        if isinstance(exc, KsefApiError):
            return self.env._("KSeF refused the request: %(error)s", error=str(exc))
        return self.env._("KSeF failed: %(error)s", error=str(exc))

    # ------------------------------------------------------------------
    # SESSIONS
    # ------------------------------------------------------------------

    @api.model
    def _ksef_admin_candidates(self, environment, company):
        """Stored tokens of ``company``'s context that may administer tokens, usable by the
        current user (any, for the superuser: crons)."""
        tokens = self.sudo().search(
            [
                ("company_id", "=", company.id),
                ("environment", "=", environment),
                ("state", "=", "active"),
                ("has_secret", "=", True),
                ("permission_ids.name", "=", "CredentialsManage"),
            ]
        )
        if self.env.su:
            return tokens
        return tokens.filtered(lambda t: not t._ksef_usage_problems("administer", company=company))

    @api.model
    def _ksef_admin_session(self, environment, company):
        """``(client, access token)`` of an administrator-capable stored token of ``company``'s
        context, or ``None`` when Odoo holds none (or KSeF refuses them all)."""
        for token in self._ksef_admin_candidates(environment, company):
            try:
                return token._ksef_open_session()
            except KsefAuthFailed:
                _logger.warning("KSeF token %s no longer authenticates", token.reference_number)
        return None

    def _ksef_open_session(self):
        """``(client, access token)`` authenticated with this token's own secret."""
        self.ensure_one()
        token = self.sudo()
        client = ksef_connection.make_client(token.environment)
        tokens = client.authenticate_with_ksef_token(token._ksef_get_secret(), **AUTH_POLL)
        return client, tokens.access_token

    @api.model
    def _ksef_self_revoke(self, environment, secret, reference_number):
        """Revoke a token with a session of the token itself (no permission needed)."""
        self._ksef_check_environment_allowed(environment)
        client = ksef_connection.make_client(environment)
        try:
            session = client.authenticate_with_ksef_token(secret, **AUTH_POLL)
        except KsefAuthFailed as e:
            if e.token_unusable:  # already revoked or failed: nothing is left to revoke
                return False
            raise
        client.revoke_token(session.access_token, reference_number)
        return True

    # ------------------------------------------------------------------
    # GENERATION
    # ------------------------------------------------------------------

    @api.model
    def _ksef_held_permissions(self, client, access_token, context):
        """Token permissions the signer of ``access_token`` holds in ``context``."""
        return ksef_perms.type_a_permissions(
            client.query_personal_grants(access_token, context=context)
        )

    @api.model
    def _ksef_generate(self, client, access_token, context, values, permissions, description):
        """Create a token in KSeF, wait until it is Active and store it, without orphans.

        :param values: ``ksef.token`` values (company, scope, assignment, ...)
        :returns: the new ``ksef.token``
        :raises UserError: KSeF refused, or the token could not be stored (it is then revoked)
        """
        Journal = self.env["ksef.pending.generation"]
        environment = values["environment"]
        key = Journal._ksef_open(environment, context, values["company_id"], self.env.uid)
        try:
            generated = client.generate_token(
                access_token, list(permissions), description_with_marker(description, key)
            )
        except KsefApiError as e:
            if isinstance(e, KsefRateLimited) or e.http_status is None or e.http_status >= 500:
                raise self._ksef_after_lost_answer(client, access_token, key, e) from None
            Journal._ksef_update(key, state="failed")
            if isinstance(e, KsefBadRequest) and MISSING_PERMISSIONS in e.codes:
                held = self._ksef_held_permissions(client, access_token, context)
                missing = [p for p in permissions if p not in held]
                raise UserError(
                    self.env._(
                        "The signing person does not hold these permissions in the KSeF "
                        "context %(context)s, so a token cannot carry them: %(missing)s. Choose "
                        "other permissions, or have them granted in KSeF first.",
                        context=context.token_prefix,
                        missing=", ".join(missing) or "-",
                    )
                ) from None
            raise UserError(self._ksef_error_message(e)) from None
        except KsefError as e:
            raise self._ksef_after_lost_answer(client, access_token, key, e) from None

        reference = generated.reference_number
        Journal._ksef_update(
            key, state="created", reference_number=reference, secret=generated.token
        )
        try:
            with self.env.cr.savepoint():
                info = self._ksef_wait_active(client, access_token, reference)
                token = self.create(
                    dict(
                        values,
                        name=description.strip(),
                        reference_number=reference,
                        state=info and self._ksef_state_of(info.status) or "pending",
                        origin="generated",
                        date_created=info and self._ksef_naive(info.date_created),
                        author_identifier=info
                        and info.author_identifier
                        and info.author_identifier.value,
                        permission_ids=[
                            (6, 0, self.env["ksef.permission"]._by_names(permissions).ids)
                        ],
                    )
                )
                token.sudo()._ksef_store_secret(generated.token)
        except Exception as e:
            self._ksef_revoke_unstored(client, access_token, key, reference)
            if isinstance(e, UserError | AccessError):
                raise
            if isinstance(e, KsefError):
                raise UserError(
                    self.env._(
                        "The token was created in KSeF but could not be stored in Odoo, so it "
                        "was revoked. %(error)s",
                        error=self._ksef_error_message(e),
                    )
                ) from None
            raise
        Journal._ksef_close_after_commit(key)
        _logger.info("KSeF token %s generated by uid %s", reference, self.env.uid)
        return token

    @api.model
    def _ksef_wait_active(self, client, access_token, reference):
        """The token's TokenInfo once Active, or ``None`` if KSeF takes longer (the sync will
        see it become Active); raises KsefTokenFailed when it failed."""
        try:
            return client.wait_for_token_status(
                access_token, reference, ("Active",), poll_interval=1.0, timeout=ACTIVATION_TIMEOUT
            )
        except KsefAuthTimeout:
            return None

    @api.model
    def _ksef_revoke_unstored(self, client, access_token, key, reference):
        """The token exists in KSeF but Odoo could not store it: revoke it now; if even that
        fails, the journal row stays open for the recovery."""
        Journal = self.env["ksef.pending.generation"]
        try:
            client.revoke_token(access_token, reference)
        except KsefError as e:
            _logger.warning("KSeF token %s: revocation failed (%s)", reference, type(e).__name__)
            return False
        Journal._ksef_update(key, state="revoked")
        _logger.info("KSeF token %s could not be stored and was revoked", reference)
        return True

    @api.model
    def _ksef_after_lost_answer(self, client, access_token, key, exc):
        """KSeF may have created the token without us hearing the answer: look for it by its
        description marker and revoke it (its secret is unknown). Returns the UserError."""
        Journal = self.env["ksef.pending.generation"]
        rows = Journal._ksef_open_rows(min_age=None, keys=[key])
        try:
            state = Journal._ksef_revoke_by_marker(client, access_token, rows[0]) if rows else None
        except KsefError:
            state = None  # the recovery cron tries again
        if state == "revoked":
            detail = self.env._("KSeF had created it anyway; it was revoked.")
        elif state == "failed":
            detail = self.env._("No token was created.")
        else:
            detail = self.env._("If KSeF created it, Odoo will find and revoke it automatically.")
        return UserError(
            self.env._(
                "The token could not be generated: %(error)s %(detail)s",
                error=self._ksef_error_message(exc),
                detail=detail,
            )
        )

    # ------------------------------------------------------------------
    # HELPERS
    # ------------------------------------------------------------------

    @api.model
    def _ksef_state_of(self, status):
        from .ksef_token import KSEF_STATUS_TO_STATE

        return KSEF_STATUS_TO_STATE.get(status, "pending")

    @api.model
    def _ksef_naive(self, value):
        """A KSeF date-time as Odoo stores it (naive UTC)."""
        if not value:
            return False
        from datetime import timezone

        return fields.Datetime.to_datetime(value.astimezone(timezone.utc).replace(tzinfo=None))

    @api.model
    def action_ksef_open_generate(self):
        """List header button: open the generation wizard."""
        return self.env["ksef.token.generate"].action_open()


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    def action_ksef_generate_token(self):
        return self.env["ksef.token.generate"].action_open(company=self.company_id)
