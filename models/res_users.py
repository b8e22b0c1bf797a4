from odoo import fields, models


class ResUsers(models.Model):
    _inherit = "res.users"

    ksef_token_ids = fields.Many2many(
        "ksef.token",
        "ksef_token_res_users_rel",
        "user_id",
        "token_id",
        string="KSeF Tokens",
        help="KSeF tokens assigned to this user.",
    )
    ksef_operator_token_ids = fields.One2many("ksef.token", "operator_id", string="Own KSeF Tokens")
