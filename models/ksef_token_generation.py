"""Generating tokens in KSeF without orphans.

A session of the signer (XAdES: a file signed outside Odoo, or a certificate stored in Odoo)
comes from the session factory; the generation writes the orphan journal
(``ksef.pending.generation``) before asking KSeF, so that no token created in KSeF is ever
unknown to Odoo, whatever fails afterwards.
"""

import logging

from odoo import api, models
from odoo.exceptions import AccessError, UserError

from ..ksef import permissions as ksef_perms
from ..ksef.errors import (
    KsefApiError,
    KsefAuthTimeout,
    KsefBadRequest,
    KsefError,
    KsefRateLimited,
)
from .ksef_exceptions import KsefRetryLater
from .ksef_messages import MISSING_PERMISSIONS
from .ksef_pending_generation import description_with_marker

_logger = logging.getLogger(__name__)

#: how long a generation waits for the new token to become Active (seconds)
ACTIVATION_TIMEOUT = 30.0


class KsefTokenGeneration(models.AbstractModel):
    _name = "ksef.token.generation"
    _description = "KSeF Token Generation"

    @api.model
    def _ksef_held_permissions(self, session, context):
        """Token permissions the signer of ``access_token`` holds in ``context``."""
        return ksef_perms.type_a_permissions(
            session.run(session.client.query_personal_grants, context=context)
        )

    @api.model
    def _ksef_generate(self, session, context, values, permissions, description):
        """Create a token in KSeF, wait until it is Active and store it, without orphans.

        :param session: a session of the signer (XAdES), from the session factory
        :param values: ``ksef.token`` values (company, scope, assignment, ...)
        :returns: the new ``ksef.token``
        :raises UserError: KSeF refused, or the token could not be stored (it is then revoked)
        """
        Journal = self.env["ksef.pending.generation"]
        environment = values["environment"]
        key = Journal._ksef_open(environment, context, values["company_id"], self.env.uid)
        try:
            generated = session.client.generate_token(
                session.access_token,
                list(permissions),
                description_with_marker(description, key),
            )
        except KsefApiError as e:
            if isinstance(e, KsefRateLimited) or e.http_status is None or e.http_status >= 500:
                raise self._ksef_after_lost_answer(session, key, e) from None
            Journal._ksef_update(key, state="failed")
            if isinstance(e, KsefBadRequest) and MISSING_PERMISSIONS in e.codes:
                held = self._ksef_held_permissions(session, context)
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
            raise UserError(self.env["ksef.messages"]._ksef_message(e)) from None
        except KsefError as e:
            raise self._ksef_after_lost_answer(session, key, e) from None

        reference = generated.reference_number
        Journal._ksef_update(
            key, state="created", reference_number=reference, secret=generated.token
        )
        try:
            with self.env.cr.savepoint():
                info = self._ksef_wait_active(session, reference)
                Token = self.env["ksef.token"]
                known = Token._ksef_values_from_info(info, new=True) if info else {}
                token = Token.create(
                    dict(
                        values,
                        date_created=known.get("date_created"),
                        author_identifier=known.get("author_identifier"),
                        name=description.strip(),
                        reference_number=reference,
                        state=known.get("state", "pending"),
                        origin="generated",
                        permission_ids=[
                            (6, 0, self.env["ksef.permission"]._by_names(permissions).ids)
                        ],
                    )
                )
                token.sudo()._ksef_store_secret(generated.token)
        except Exception as e:
            self._ksef_revoke_unstored(session, key, reference)
            if isinstance(e, UserError | AccessError):
                raise
            if isinstance(e, KsefError):
                raise UserError(
                    self.env._(
                        "The token was created in KSeF but could not be stored in Odoo, so it "
                        "was revoked. %(error)s",
                        error=self.env["ksef.messages"]._ksef_message(e),
                    )
                ) from None
            raise
        Journal._ksef_close_after_commit(key)
        _logger.info("KSeF token %s generated by uid %s", reference, self.env.uid)
        return token

    @api.model
    def _ksef_wait_active(self, session, reference):
        """The token's TokenInfo once Active, or ``None`` if KSeF takes longer (the sync will
        see it become Active); raises KsefTokenFailed when it failed."""
        try:
            return session.client.wait_for_token_status(
                session.access_token,
                reference,
                ("Active",),
                poll_interval=1.0,
                timeout=ACTIVATION_TIMEOUT,
            )
        except KsefAuthTimeout:
            return None

    @api.model
    def _ksef_revoke_unstored(self, session, key, reference):
        """The token exists in KSeF but Odoo could not store it: revoke it now; if even that
        fails, the journal row stays open for the recovery."""
        Journal = self.env["ksef.pending.generation"]
        try:
            session.run(session.client.revoke_token, reference)
        except (KsefError, KsefRetryLater) as e:
            _logger.warning("KSeF token %s: revocation failed (%s)", reference, type(e).__name__)
            return False
        Journal._ksef_update(key, state="revoked")
        _logger.info("KSeF token %s could not be stored and was revoked", reference)
        return True

    @api.model
    def _ksef_after_lost_answer(self, session, key, exc):
        """KSeF may have created the token without us hearing the answer: look for it by its
        description marker and revoke it (its secret is unknown). Returns the UserError."""
        Journal = self.env["ksef.pending.generation"]
        rows = Journal._ksef_open_rows(min_age=None, keys=[key])
        try:
            state = Journal._ksef_revoke_by_marker(session, rows[0]) if rows else None
        except (KsefError, KsefRetryLater):
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
                error=self.env["ksef.messages"]._ksef_message(exc),
                detail=detail,
            )
        )
