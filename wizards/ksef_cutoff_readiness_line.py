from odoo import fields, models


class KsefCutoffReadinessLine(models.TransientModel):
    _name = "ksef.cutoff.readiness.line"
    _description = "Prepare for the KSeF Token Cut-off: one job scope"

    readiness_id = fields.Many2one("ksef.cutoff.readiness", required=True, ondelete="cascade")
    scope = fields.Selection(
        [
            ("send", "Send invoices (W)"),
            ("fetch", "Fetch invoices (P)"),
            ("administer", "Administer (A)"),
        ],
        string="Job",
        readonly=True,
    )
    certificate_id = fields.Many2one("ksef.certificate", string="Usable Certificate", readonly=True)
    tested = fields.Boolean(
        string="Sign-in Tested",
        readonly=True,
        help="A session with the certificate was opened and its identity holds the job's "
        "permission in the KSeF context.",
    )
    next_credential = fields.Char(string="Next Run Uses", readonly=True)
    next_kind = fields.Char(string="Credential Kind", readonly=True)
