from odoo import api, fields, models

from ..models.ksef_certificate import REVOCATION_REASONS
from ..models.ksef_ui import dialog_action


class KsefCertificateRevoke(models.TransientModel):
    """Confirm the revocation of KSeF certificates, with KSeF's reason."""

    _name = "ksef.certificate.revoke"
    _description = "Revoke KSeF Certificates"

    certificate_ids = fields.Many2many("ksef.certificate", string="Certificates", readonly=True)
    reason = fields.Selection(REVOCATION_REASONS, required=True, default="Unspecified")
    result = fields.Text(readonly=True)
    done = fields.Boolean(readonly=True)

    @api.model
    def action_open(self, certificates):
        self.env["ksef.access"]._ksef_check_admin(certificates.company_id)
        wizard = self.create({"certificate_ids": [(6, 0, certificates.ids)]})
        return wizard._reopen(self.env._("Revoke KSeF Certificates"))

    def _reopen(self, name):
        return dialog_action(self, name)

    def action_revoke(self):
        self.ensure_one()
        results = self.env["ksef.certificate.revocation"]._ksef_revoke(
            self.certificate_ids, self.reason
        )
        lines = [
            self.env._("%(name)s: NOT revoked: %(error)s", name=c.display_name, error=error)
            if error
            else self.env._("%(name)s: revoked", name=c.display_name)
            for c, error in results.items()
        ]
        self.write({"result": "\n".join(lines), "done": True})
        return self._reopen(self.env._("Revocation Result"))
