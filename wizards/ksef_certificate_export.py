"""Download a KSeF certificate with its private key, once, as a password-protected PKCS#12.

The key is made in Odoo and never leaves it otherwise. A KSeF administrator of the
certificate's company may take it out once (for example to sign in to the taxpayer
application with it), after a clear warning and the password step. The passwords are wiped
as soon as the file is made; the file itself (protected by the chosen password) stays in this
wizard row, readable only by its creator, until Odoo's vacuum removes the row."""

import base64

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..models.ksef_ui import dialog_action, ksef_identity_checked


class KsefCertificateExport(models.TransientModel):
    _name = "ksef.certificate.export"
    _description = "Download a KSeF Certificate with its Private Key"

    certificate_id = fields.Many2one("ksef.certificate", required=True, readonly=True)
    password = fields.Char(help="At least 8 characters; it protects the downloaded file.")
    password_confirm = fields.Char(string="Repeat the Password")
    pkcs12_file = fields.Binary(string="PKCS#12 file", readonly=True, attachment=False)
    pkcs12_filename = fields.Char(readonly=True)
    done = fields.Boolean(readonly=True)

    @api.model
    @ksef_identity_checked
    def action_open(self, certificate):
        self.env["ksef.access"]._ksef_check_admin(certificate.company_id)
        wizard = self.create({"certificate_id": certificate.id})
        return dialog_action(wizard, self.env._("Download the Private Key"))

    def action_export(self):
        self.ensure_one()
        if (self.password or "") != (self.password_confirm or ""):
            self.write({"password": False, "password_confirm": False})
            raise UserError(self.env._("The two passwords differ. Type them again."))
        password = self.password
        data = self.env["ksef.certificate.enrolment"]._ksef_export_pkcs12(
            self.certificate_id, password
        )
        self.write(
            {
                "password": False,
                "password_confirm": False,
                "pkcs12_file": base64.b64encode(data),
                "pkcs12_filename": f"ksef-{self.certificate_id.serial_number}.p12",
                "done": True,
            }
        )
        return dialog_action(self, self.env._("Download the Private Key"))
