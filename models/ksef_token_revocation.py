"""Revoking tokens from Odoo.

With an administrator session of the token's context, else with the token's own session
(allowed without permissions since API 2.4.0); both from the session factory, so revoking
several tokens of one context shares one session. Revoking -> Revoked; the secret is wiped;
what was not done is reported per token.
"""

import logging

from odoo import api, models
from odoo.exceptions import UserError

from ..ksef.errors import KsefError
from .ksef_exceptions import KsefRetryLater

_logger = logging.getLogger(__name__)

#: how long a revocation waits for KSeF to report the token Revoked (s)
REVOCATION_WAIT = 10.0


class KsefTokenRevocation(models.AbstractModel):
    _name = "ksef.token.revocation"
    _description = "KSeF Token Revocation"

    @api.model
    def _ksef_revoke(self, tokens):
        """Revoke ``tokens`` in KSeF; returns ``{token: error message or False}``."""
        self.env["ksef.access"]._ksef_check_admin(tokens.company_id)
        results = {}
        sessions = {}
        try:
            for token in tokens.sudo():
                try:
                    with self.env.cr.savepoint():
                        self._ksef_revoke_one(token, sessions)
                    results[token] = False
                except (KsefError, KsefRetryLater, UserError) as e:
                    results[token] = self.env["ksef.messages"]._ksef_message(e)
        finally:
            for session in sessions.values():
                if session:
                    session.close()
        return results

    @api.model
    def _ksef_revoke_one(self, token, sessions):
        """Revoke one token; ``sessions`` caches the administrator session of each context."""
        if token.state in ("revoked", "failed"):
            if token.has_secret:
                token._ksef_wipe_secret()
            token.revoked_from_odoo = True
            return
        token._ksef_check_environment_allowed()
        service = self.env["ksef.session.service"]
        key = (token.environment, token.company_id.id)
        if key not in sessions:
            sessions[key] = service._ksef_context_session(token.environment, token.company_id)
        session = sessions[key]
        own = None
        if not session and token.has_secret:
            own = session = service._ksef_own_session(token)
        if not session:
            raise UserError(
                self.env._(
                    "Odoo holds neither this token's secret nor an administrator token of its "
                    "context: revoke it in the KSeF taxpayer application."
                )
            )
        try:
            session.run(session.client.revoke_token, token.reference_number)
            state = "revoking"
            try:
                session.client.wait_for_token_status(
                    session.access_token,
                    token.reference_number,
                    ("Revoked",),
                    poll_interval=1.0,
                    timeout=REVOCATION_WAIT,
                )
                state = "revoked"
            except KsefError:
                _logger.info(
                    "KSeF token %s still revoking; the sync follows it", token.reference_number
                )
        finally:
            if own:
                own.close()
        token.write({"state": state, "revoked_from_odoo": True})
        token._ksef_wipe_secret()
        token._ksef_post(self.env._("Token revoked in KSeF by %(user)s.", user=self.env.user.name))
