"""Revoking KSeF certificates from Odoo, with a reason (Unspecified, Superseded,
KeyCompromise). KSeF refuses this to a session authenticated with a token: the revocation
uses the company's own certificate session, or a XAdES session the caller brings."""

from odoo import api, models
from odoo.exceptions import UserError

from ..ksef.errors import KsefError
from .ksef_exceptions import KsefRetryLater


class KsefCertificateRevocation(models.AbstractModel):
    _name = "ksef.certificate.revocation"
    _description = "KSeF Certificate Revocation"

    @api.model
    def _ksef_revoke(self, certificates, reason="Unspecified", session=None):
        """Revoke ``certificates`` in KSeF; returns ``{certificate: error message or False}``."""
        self.env["ksef.access"]._ksef_check_admin(certificates.company_id)
        results = {}
        for certificate in certificates.sudo():
            try:
                with self.env.cr.savepoint():
                    self._ksef_revoke_one(certificate, reason, session)
                results[certificate] = False
            except (KsefError, KsefRetryLater, UserError) as e:
                results[certificate] = self.env["ksef.messages"]._ksef_message(e)
        return results

    @api.model
    def _ksef_revoke_one(self, certificate, reason, session):
        if certificate.state in ("revoked", "expired", "failed") or not certificate.serial_number:
            certificate.write({"revoked_from_odoo": True, "active": False})
            certificate._ksef_wipe_secret()
            return
        certificate._ksef_check_environment_allowed()
        own = None
        if session is None:
            own = session = self._ksef_revocation_session(certificate)
        try:
            session.run(session.client.revoke_certificate, certificate.serial_number, reason)
        finally:
            if own:
                own.close()
        certificate.write(
            {"state": "revoked", "revocation_reason": reason, "revoked_from_odoo": True}
        )
        certificate._ksef_wipe_secret()
        certificate._ksef_post(
            self.env._(
                "Certificate revoked in KSeF by %(user)s (reason: %(reason)s).",
                user=self.env.user.name,
                reason=dict(
                    certificate._fields["revocation_reason"]._description_selection(self.env)
                )[reason],
            )
        )

    @api.model
    def _ksef_revocation_session(self, certificate):
        """A certificate session of the certificate's company: the certificate itself when it
        can sign in, else another active Authentication certificate of the company."""
        service = self.env["ksef.session.service"]
        candidates = certificate | certificate.search(
            [
                ("company_id", "=", certificate.company_id.id),
                ("environment", "=", certificate.environment),
                ("certificate_type", "=", "Authentication"),
                ("state", "=", "active"),
                ("id", "!=", certificate.id),
            ]
        )
        for candidate in candidates.filtered(
            lambda c: c.certificate_type == "Authentication" and c.has_secret
        ):
            try:
                return service._ksef_certificate_session(candidate, certificate.company_id)
            except (KsefError, UserError):
                continue
        raise UserError(
            self.env._(
                "KSeF lets only a certificate login revoke certificates, and Odoo holds no "
                "working Authentication certificate of %(company)s: revoke %(certificate)s in "
                "the KSeF taxpayer application.",
                company=certificate.company_id.name,
                certificate=certificate.display_name,
            )
        )
