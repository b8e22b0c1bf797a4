from odoo import fields, models


class MailActivity(models.Model):
    _inherit = "mail.activity"

    ksef_health_key = fields.Char(
        readonly=True,
        copy=False,
        help="The KSeF health reason this warning is about (one open warning per reason).",
    )
