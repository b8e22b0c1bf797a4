"""The one place that marks a credential KSeF refused, and tells the company's KSeF
responsible (in their language), so that a refused credential never silently stops the
business. Called by the session factory only."""

import logging

from odoo import api, models

from .ksef_token import KSEF_SOURCED_CONTEXT

_logger = logging.getLogger(__name__)


class KsefCredentialRefusal(models.AbstractModel):
    _name = "ksef.credential.refusal"
    _description = "KSeF Credential Refusal"

    @api.model
    def _ksef_mark_unusable(self, token, error):
        """The one place that marks a credential KSeF refused: mark it, tell its company's
        responsible; return the translated reason (for the refusal message). An imported
        token not verified yet is refused as an import instead (its secret is wiped)."""
        token_sudo = token.sudo()
        Messages = self.env["ksef.messages"]
        description = "; ".join(
            str(text).strip()
            for text in (getattr(error, "description", None), *error.details)
            if text and str(text).strip()
        )
        _logger.warning(
            "KSeF token %s refused at authentication status %s: %s",
            token_sudo.reference_number,
            getattr(error, "status_code", "?"),
            description or "-",
        )
        # stored and sent in the language of whoever reads it later (the company's KSeF
        # responsible); returned in the current user's language
        stored = Messages.with_context(lang=token_sudo.company_id._ksef_lang())._ksef_message(error)
        if token_sudo.state == "unverified":
            token_sudo._ksef_refuse_unverified(stored)
            return Messages._ksef_message(error)
        revoked = "unieważn" in description.lower() or "revoked" in description.lower()
        token_sudo.write({"state": "revoked" if revoked else "failed", "status_details": stored})
        self._ksef_notify_admins(token_sudo, stored)
        return Messages._ksef_message(error)

    @api.model
    def _ksef_mark_certificate_refused(self, certificate, error):
        """KSeF refused a stored certificate at sign-in (460: revoked, expired, blocked):
        mark it and tell the company's responsible; return the reason."""
        cert_sudo = certificate.sudo()
        Messages = self.env["ksef.messages"]
        stored = Messages.with_context(lang=cert_sudo.company_id._ksef_lang())._ksef_message(error)
        cert_sudo.write({"state": "revoked", "status_details": stored})
        cert_sudo._ksef_post(stored)
        _logger.warning(
            "KSeF certificate %s refused at sign-in (status %s)",
            cert_sudo.serial_number,
            getattr(error, "status_code", "?"),
        )
        return Messages._ksef_message(error)

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
        token_sudo.with_context(**{KSEF_SOURCED_CONTEXT: True}).write(
            {"permission_ids": [(6, 0, permissions.ids)], "status_details": stored}
        )
        self._ksef_notify_admins(token_sudo, stored)
        return reason(self.env)

    @api.model
    def _ksef_notify_admins(self, token_sudo, reason):
        """Post ``reason`` on the token and give the company's KSeF responsible one warning
        activity (in their language), so that a refused token never silently stops the
        business; the health job closes it once the token works again or is archived."""
        token_sudo._ksef_post(reason)
        self.env["ksef.health"]._ksef_warn_refused(token_sudo, reason)
