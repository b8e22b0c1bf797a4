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
    KsefNotFound,
    KsefRateLimited,
    KsefServerError,
    KsefTransportError,
    KsefUnauthorized,
)
from . import ksef_connection
from .ksef_pending_generation import description_with_marker
from .ksef_token import ksef_identity_checked

_logger = logging.getLogger(__name__)

#: KSeF's answer code for permissions the author of a token does not hold
MISSING_PERMISSIONS = 26001
#: KSeF's answer code for an invalid, expired or already used challenge
BAD_CHALLENGE = 21111
#: KSeF's validation error, what ``DELETE /tokens/{ref}`` answers for a token it does not know
UNKNOWN_TOKEN = 21405


def _is_token_revocation(exc):
    """Whether ``exc`` is KSeF's refusal of ``DELETE /tokens/{referenceNumber}``."""
    return getattr(exc, "method", None) == "DELETE" and str(
        getattr(exc, "path", "") or ""
    ).startswith("/tokens/")


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
        """The one translated sentence a person reads for a KSeF failure: what happened and what
        to do. KSeF's technical text (codes, paths, Polish details) goes to the log only; never
        a secret in either."""
        _logger.info("KSeF failure shown to a user: %s: %s", type(exc).__name__, exc)
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
            return self._ksef_auth_failed_message(exc)
        if isinstance(exc, KsefBadRequest) and BAD_CHALLENGE in exc.codes:
            return self.env._(
                "KSeF refused the signed request: its challenge expired (10 minutes), was "
                "already used or is unknown. Download a new auth.xml, sign it and upload it again."
            )
        if _is_token_revocation(exc) and (
            isinstance(exc, KsefNotFound)
            or (isinstance(exc, KsefBadRequest) and UNKNOWN_TOKEN in exc.codes)
        ):
            return self.env._(
                "KSeF does not know this token (it was never issued there, or in another "
                "environment), so there is nothing to revoke in KSeF. Archive the token in Odoo."
            )
        if isinstance(exc, KsefForbidden):
            return self._ksef_forbidden_message(exc)
        if isinstance(exc, KsefUnauthorized):
            return self.env._(
                "KSeF no longer accepts the session of this token (expired or ended). Try "
                "again; if it keeps failing, run Test connection on the token."
            )
        if isinstance(exc, KsefBadRequest) and MISSING_PERMISSIONS in exc.codes:
            return self.env._(
                "KSeF refused to give the token permissions its author does not hold. Choose "
                "fewer permissions, or have the author granted them in KSeF first."
            )
        if isinstance(exc, KsefAuthTimeout | KsefTokenFailed):
            return self.env._(
                "KSeF did not finish the operation in time. Try again in a few minutes; the "
                "next sync shows whether it was done."
            )
        if isinstance(exc, KsefApiError):
            return self.env._(
                "KSeF refused the request (HTTP %(status)s, code %(code)s). Check the data "
                "and try again; the server log has KSeF's details.",
                status=exc.http_status or "-",
                code=exc.code or "-",
            )
        if isinstance(exc, KsefServerError):
            return self.env._(
                "KSeF is not answering properly right now (HTTP %(status)s). Try again later.",
                status=exc.http_status or "-",
            )
        return self.env._(
            "The KSeF operation failed (%(error)s). Try again later; the server log has the "
            "details.",
            error=type(exc).__name__,
        )

    @api.model
    def _ksef_auth_failed_message(self, exc):
        """A sentence per authentication status (and per 450 detail) of KSeF."""
        texts = " ".join(str(t) for t in (exc.description, *(exc.details or ())) if t).lower()
        if exc.status_code == 450:
            if "kontekście" in texts or "context" in texts:
                return self.env._(
                    "KSeF refused the token: it was made in another context (another NIP or "
                    "branch) than the one it was used for. Import it under the company or "
                    "branch it was made for, or generate a token in this context."
                )
            if "kodowanie" in texts or "encoding" in texts:
                return self.env._(
                    "KSeF refused the token: it is not a KSeF 2.0 token (for example a token "
                    "from KSeF 1.0, which is no longer valid, or an incomplete copy). Generate a "
                    "new token in KSeF 2.0 (Aplikacja Podatnika / MCU) and import it."
                )
            if "szyfrowanie" in texts or "encryption" in texts:
                return self.env._(
                    "KSeF could not decrypt the token: it was encrypted with a key KSeF does not "
                    "use for tokens. Try again (Odoo downloads KSeF's keys again); if it keeps "
                    "failing, tell your administrator to update the KSeF addon."
                )
            if "czas" in texts or "time" in texts:
                return self.env._(
                    "KSeF refused the token's timestamp. Try again; if it keeps failing, check "
                    "the clock of the Odoo server."
                )
            if "wyzwanie" in texts or "challenge" in texts:
                return self.env._(
                    "KSeF refused the authentication challenge (expired or already used). Try "
                    "again."
                )
            if "unieważniony" in texts or "revoked" in texts:
                return self.env._(
                    "KSeF refused the token: it was revoked. Archive it and import or generate "
                    "a new token."
                )
            if "nieaktywny" in texts or "inactive" in texts:
                return self.env._(
                    "KSeF refused the token: it is not active (not yet activated, or its "
                    "creation failed). Wait a few minutes and try again, or generate a new token."
                )
            return self.env._(
                "KSeF does not recognise this token. Check that you pasted the whole token for "
                "the right environment; else generate a new one."
            )
        messages = {
            415: self.env._(
                "KSeF refused the authentication: the signer or token author holds no permission "
                "in this KSeF context. Have the permissions granted in KSeF first."
            ),
            425: self.env._("The KSeF authentication was revoked by the user. Authenticate again."),
            460: self.env._(
                "KSeF refused the certificate: it is invalid, expired, suspended or revoked. "
                "Use a valid certificate."
            ),
            470: self.env._(
                "KSeF refused the authentication: the authorisation means belong to a deceased "
                "person. Use another person's certificate or token."
            ),
            480: self.env._(
                "KSeF blocked the authentication (suspected security incident). Contact the "
                "Ministry of Finance's KSeF help desk."
            ),
            500: self.env._("KSeF failed with an unknown error. Try again later."),
            550: self.env._("KSeF cancelled the authentication. Try again."),
        }
        return messages.get(exc.status_code) or self.env._(
            "KSeF refused the authentication (status %(code)s). Try again later; the server "
            "log has KSeF's details.",
            code=exc.status_code,
        )

    @api.model
    def _ksef_forbidden_message(self, exc):
        """A sentence per ``reasonCode`` of a 403 (also without ``timestamp`` or reason)."""
        reason = exc.reason_code
        if reason == "missing-permissions":
            return self.env._(
                "KSeF refused the operation: the token lacks the permission %(permissions)s. "
                "Use a token with that permission, or generate one.",
                permissions=" / ".join(exc.missing_permissions) or "-",
            )
        messages = {
            "ip-not-allowed": self.env._(
                "KSeF refused the request: it came from an IP address the session does not "
                "allow. Run it from the allowed address, or authenticate again."
            ),
            "insufficient-resource-access": self.env._(
                "KSeF refused access to this object: it belongs to another context or user. "
                "Use a token of the context that owns it."
            ),
            "auth-method-not-allowed": self.env._(
                "KSeF does not allow this operation with this way of signing in (for example "
                "generating a token with a token session). Sign auth.xml or use a certificate."
            ),
            "security-service-blocked": self.env._(
                "KSeF's security service blocked the request. Try again later; if it persists, "
                "contact the KSeF help desk."
            ),
            "context-type-not-allowed": self.env._(
                "KSeF does not offer this operation in this type of context. Use a company "
                "(NIP) or branch (internal ID) context."
            ),
        }
        return messages.get(reason) or self.env._(
            "KSeF refused the operation (access denied). Check the token's permissions and "
            "context; the server log has KSeF's details."
        )

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
    @ksef_identity_checked
    def action_ksef_open_generate(self, *_selected_ids):
        """List header button (the web client passes the selected ids, if any: ignored) and
        menu: open the generation wizard."""
        return self.env["ksef.token.generate"].action_open()


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    @ksef_identity_checked
    def action_ksef_generate_token(self):
        return self.env["ksef.token.generate"].action_open(company=self.company_id)
